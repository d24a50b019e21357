"""Runs a pipeline on this machine: LocalDagRunner, SQLite ML Metadata, Beam DirectRunner."""
from __future__ import annotations

import os
import time
from typing import Callable, Optional

from tfx import v1 as tfx

from pipelines import report, tasks
from pipelines.config import PipelineConfig
from pipelines.progress import ComponentProgress


class PipelineRunError(RuntimeError):
    """A component failed; carries the component id and the root cause's message."""

    def __init__(self, component: Optional[str], cause: BaseException, log_path: str):
        self.component = component
        self.cause = cause
        self.log_path = log_path
        where = f"component {component}" if component else "pipeline"
        super().__init__(f"{where} failed: {type(cause).__name__}: {cause}")


def _root_cause(exc: BaseException) -> BaseException:
    seen = set()
    while (exc.__cause__ or exc.__context__) and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def run_pipeline(config: PipelineConfig, echo: Callable[[str], None] = print
                 ) -> report.RunReport:
    """Runs the pipeline of `config`'s task, printing one line per component, and returns
    what ML Metadata recorded about the run."""
    task = tasks.of_config(config)
    config.check()
    data_dir = config.resolve_data_dir()
    for d in (config.pipeline_root, os.path.dirname(config.metadata_path),
              config.serving_root, os.path.join(config.workspace, "logs")):
        os.makedirs(d, exist_ok=True)
    connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        config.metadata_path)
    pipeline = task.create_pipeline(config, data_dir, connection)
    log_path = os.path.join(config.workspace, "logs",
                            f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}.log")
    echo(f"pipeline {config.name}: data {data_dir}")
    echo(f"  models {', '.join(config.models)}; full log {log_path}")
    with ComponentProgress(log_path, echo) as progress:
        try:
            tfx.orchestration.LocalDagRunner().run(pipeline)
        except Exception as e:  # pylint: disable=broad-except
            raise PipelineRunError(progress.current, _root_cause(e), log_path) from e
    return report.latest_run(config.metadata_path, config.name, list(config.models),
                             task.read_metrics)


def format_summary(config: PipelineConfig, result: report.RunReport) -> str:
    return report.format_summary(result, tasks.of_config(config).describe_metrics)
