"""The task table: what `classics run <corpus>` can run, and how.

Each task (image classification, word embeddings, ...) is one entry: the corpora it
reads, its config class, its pipeline factory, how its evaluation reads back and its
section of the HTML run report. The CLI, the local and Kubeflow runners and the reports
all go through this table; nothing else branches on a corpus or task name. Which task runs is decided by the models asked for
(their registry entries name the task), else by the corpus's default.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Type

from pipelines import (image_pipeline, image_report, lm_pipeline, lm_report, word2vec_pipeline,
                       word2vec_report)
from pipelines.config import (ImagePipelineConfig, LanguageModelPipelineConfig, PipelineConfig,
                              TextPipelineConfig)
from trainer import registry


@dataclasses.dataclass(frozen=True)
class Task:
    name: str  # a registry task
    corpora: Tuple[str, ...]  # `classics run` targets this task reads
    config_class: Type[PipelineConfig]
    create_pipeline: Callable  # (config, data_dir, metadata, beam_args, resources)
    read_metrics: Callable[[str], Dict[str, float]]  # evaluation artifact URI -> metrics
    describe_metrics: Callable[[Dict[str, float]], str]  # one line for the summary
    # (RunReport, ModelResult) -> report_kit.TaskSection: the model's gate checks, verdict
    # and task-specific HTML/figures in the run report (pipelines/report_page.py), read
    # from the model's artifacts (e.g. perplexity from a language model's evaluation).
    # None: the report shows `read_metrics`' figures as a table.
    report_section: Optional[Callable] = None

    @property
    def default_models(self) -> Tuple[str, ...]:
        return tuple(self.config_class().models)


TASKS: Dict[str, Task] = {t.name: t for t in (
    Task(name=registry.IMAGE, corpora=("mnist", "cifar10", "folder"),
         config_class=ImagePipelineConfig, create_pipeline=image_pipeline.create_pipeline,
         read_metrics=image_pipeline.read_metrics,
         describe_metrics=image_pipeline.describe_metrics,
         report_section=image_report.section),
    Task(name=registry.WORD2VEC, corpora=("text",),
         config_class=TextPipelineConfig, create_pipeline=word2vec_pipeline.create_pipeline,
         read_metrics=word2vec_pipeline.read_metrics,
         describe_metrics=word2vec_pipeline.describe_metrics,
         report_section=word2vec_report.section),
    Task(name=registry.LANGUAGE_MODEL, corpora=("text",),
         config_class=LanguageModelPipelineConfig, create_pipeline=lm_pipeline.create_pipeline,
         read_metrics=lm_pipeline.read_metrics, describe_metrics=lm_pipeline.describe_metrics,
         report_section=lm_report.section),
)}


def corpora() -> List[str]:
    """Every `classics run` target, in table order."""
    seen: List[str] = []
    for task in TASKS.values():
        seen += [c for c in task.corpora if c not in seen]
    return seen


def tasks_for_corpus(corpus: str) -> List[Task]:
    found = [t for t in TASKS.values() if corpus in t.corpora]
    if not found:
        raise KeyError(f"unknown corpus {corpus!r}; known: {', '.join(corpora())}")
    return found


def select(corpus: str, models: Optional[Sequence[str]] = None) -> Task:
    """The task that runs `models` on `corpus` (the corpus's first task when no models are
    named). Model names are checked here, once, against the registry."""
    candidates = tasks_for_corpus(corpus)
    if not models:
        return candidates[0]
    specs = registry.resolve(models, tasks=[t.name for t in candidates])
    return TASKS[specs[0].task]


def of_config(config: PipelineConfig) -> Task:
    return TASKS[config.task]


def make_config(corpus: str, models: Optional[Sequence[str]] = None,
                **settings) -> PipelineConfig:
    """A checked config for `classics run <corpus> --models ...`; `settings` are fields of
    the task's config class (unknown ones are an error)."""
    task = select(corpus, models)
    fields = {f.name for f in dataclasses.fields(task.config_class)}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise ValueError(f"{task.name} pipelines have no setting(s) {', '.join(unknown)}")
    config = task.config_class(corpus=corpus, **settings)
    if models:
        config.models = list(models)
    config.check()
    return config
