"""What a task package gives the task table (pipelines/tasks.py): its `TASK` row."""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Mapping, Optional, Tuple, Type

from pipelines.config import PipelineConfig
from trainer.registry import ModelSpec


@dataclasses.dataclass(frozen=True)
class Task:
    name: str  # the task of its models' registry entries (ModelSpec.task)
    corpora: Tuple[str, ...]  # `classics run` targets this task reads
    config_class: Type[PipelineConfig]
    models: Mapping[str, ModelSpec]  # the task's registry entries (trainer/<task>/specs.py)
    create_pipeline: Callable  # (config, data_dir, metadata, beam_args, resources)
    read_metrics: Callable[[str], Dict[str, float]]  # evaluation artifact URI -> metrics
    describe_metrics: Callable[[Dict[str, float]], str]  # one line for the summary
    # (RunReport, ModelResult) -> report.kit.TaskSection: the model's gate checks, verdict
    # and task-specific HTML/figures in the run report (pipelines/report/page.py), read
    # from the model's artifacts. None: the report shows `read_metrics`' figures as a table.
    report_section: Optional[Callable] = None

    @property
    def default_models(self) -> Tuple[str, ...]:
        return tuple(self.config_class().models)
