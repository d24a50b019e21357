"""Runs a pipeline on this machine: LocalDagRunner, SQLite ML Metadata, Beam DirectRunner."""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import sys
import time
from typing import Callable, List, Optional, Sequence

from tfx import v1 as tfx
from tfx.orchestration.local.local_dag_runner import LocalDagRunner

from components import filesystem
from components.drift_gate import DriftRefused
from components.input_errors import InputFileError
from pipelines import console, nodes, tasks
from pipelines.report import production
from pipelines.report import runs as report
from pipelines.config import PipelineConfig, local_beam_args
from pipelines.progress import ComponentProgress
from pipelines.runners import scratch
from trainer.runtime import object_store


class DiskFullError(OSError):
    """A write failed for want of space (ENOSPC), wherever it surfaced: an OSError, or
    TensorFlow's own error text (SaveV2 raises ResourceExhaustedError "<file>; No space
    left on device"). `path` is the file or folder named, None when none was."""

    def __init__(self, path: Optional[str]):
        super().__init__(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        self.path = path

    def __reduce__(self):
        return (type(self), (self.path,))


_NO_SPACE = "No space left on device"
# Where the text names the file: TensorFlow puts it first ("<path>; No space left on
# device"), Python's OSError last ("[Errno 28] No space left on device: '<path>'"), also
# when Beam passes the error on from a worker as text.
_NO_SPACE_PATHS = (
    re.compile(r"(?P<path>(?:[a-z][a-z0-9+.-]*://|/)[^\s;{}'\"]+); " + _NO_SPACE),
    re.compile(_NO_SPACE + r": '(?P<path>[^']+)'"))


def _disk_full(chain: List[BaseException]) -> Optional[DiskFullError]:
    found = False
    for e in chain:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            found = True
            if e.filename:
                return DiskFullError(os.fsdecode(e.filename))
        text = str(e)
        if _NO_SPACE in text:
            found = True
            for pattern in _NO_SPACE_PATHS:
                m = pattern.search(text)
                if m:
                    return DiskFullError(m.group("path"))
    return DiskFullError(None) if found else None


def full_folder(path: str) -> str:
    """The folder a failed write of `path` was in, without TensorFlow's temporary
    parts (checkpoints and SavedModels are written to "<name>_temp/" first)."""
    parts = path.rstrip("/").split("/")
    for i, part in enumerate(parts):
        if i and part.endswith("_temp"):
            return "/".join(parts[:i]) or "/"
    if filesystem.is_local(path) and os.path.isdir(path):
        return path
    return "/".join(parts[:-1]) or "/"


class PipelineRunError(RuntimeError):
    """A component failed; carries the component id and the cause to report
    (`reported_cause`): a bad input file's message is "<path>: <problem>" as it is; a
    full disk's names the folder (else `pipeline_root`) and says whether anything was
    pushed (`ran`: the components that ran to the end before it)."""

    def __init__(self, component: Optional[str], cause: BaseException, log_path: str,
                 pipeline_root: Optional[str] = None, ran: Sequence[str] = (),
                 run_id: Optional[str] = None):
        self.component = component
        self.cause = cause
        self.log_path = log_path
        self.run_id = run_id  # None: the runner failed before it chose one
        if self.refused:  # a gate's verdict, not a failure to explain
            super().__init__(str(cause))
            return
        where = f"component {component}" if component else "pipeline"
        if isinstance(cause, DiskFullError):
            folder = full_folder(cause.path) if cause.path else pipeline_root
            pushers = [c for c in ran if c.startswith("Pusher")]
            what = (f"no space left on device under {folder or 'the workspace'}; " +
                    (f"nothing was pushed after {', '.join(pushers)} ran" if pushers
                     else "nothing was pushed") +
                    " (free space there, or give --workspace or --pipeline-root on "
                    "another disk, and run again)")
        elif isinstance(cause, InputFileError):
            what = str(cause)
        else:
            what = f"{type(cause).__name__}: {cause}"
        super().__init__(f"{where} failed: {what}")

    @property
    def refused(self) -> bool:
        """A gate refused the run's data (it ran as meant; its report is worth writing)."""
        return isinstance(self.cause, DriftRefused)


class Runner(LocalDagRunner):
    """LocalDagRunner that never serves `nodes.never_cached` nodes from the cache (TFX
    sets caching per pipeline only; the Kubeflow compile does the same in the IR), and
    keeps the id of the run it started (`run_id`): other runs may write to the same ML
    Metadata meanwhile, so "the latest run" there need not be this one."""

    run_id: Optional[str] = None

    def run_with_ir(self, pipeline, run_options=None):
        for node in pipeline.nodes:
            if nodes.never_cached(node.pipeline_node.node_info.id):
                node.pipeline_node.execution_options.caching_options.enable_cache = False
        try:
            return super().run_with_ir(pipeline, run_options=run_options)
        finally:
            # LocalDagRunner writes the run id into the IR it was given (the pipeline
            # run context's name in ML Metadata) before any node runs.
            self.run_id = _run_id_of(pipeline)


def _run_id_of(pipeline) -> Optional[str]:
    value = pipeline.runtime_spec.pipeline_run_id
    if value.WhichOneof("value") != "field_value":
        return None  # the runner failed before it chose one
    return value.field_value.string_value or None


def _chain(exc: BaseException) -> List[BaseException]:
    """`exc` and what it was raised from or while handling, outermost first."""
    out: List[BaseException] = []
    while exc is not None and all(exc is not e for e in out):
        out.append(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return out


# How Beam re-raises a DoFn's exception it cannot rebuild with a longer message (any
# InputFileError: it takes two arguments): RuntimeError("<module>.<Class>: <message>
# [while running '<step>']"); from a worker process only that text may arrive.
_BEAM_TEXT = re.compile(r"^(?P<module>[A-Za-z_][\w.]*)\.(?P<name>\w+): (?P<msg>.+?)"
                        r"(?: \[while running '[^']*'\])*$", re.M)


def _input_error_in_text(text: str) -> Optional[InputFileError]:
    for m in _BEAM_TEXT.finditer(text):
        # Only classes already imported here: the readers the pipeline itself uses.
        cls = getattr(sys.modules.get(m.group("module")), m.group("name"), None)
        if isinstance(cls, type) and issubclass(cls, InputFileError):
            # The message is "<path>: <problem>"; splitting at the first ": " gives back
            # the same text whatever the path holds.
            path, _, problem = m.group("msg").partition(": ")
            return cls(path, problem)
    return None


def reported_cause(exc: BaseException) -> BaseException:
    """What to tell the user about a failed run: a full disk (DiskFullError) wherever
    in the chain it shows, else the outermost InputFileError in the chain (its message
    names the file and the problem; the exceptions under it, e.g. a UnicodeDecodeError,
    do not), else one that Beam passed on as text, else the innermost cause."""
    chain = _chain(exc)
    full = _disk_full(chain)
    if full is not None:
        return full
    for e in chain:
        if isinstance(e, InputFileError):
            return e
    for e in chain:
        found = _input_error_in_text(str(e))
        if found is not None:
            return found
    return chain[-1]


def _with_object_store(config: PipelineConfig) -> PipelineConfig:
    """For s3:// locations: loads TensorFlow's S3 plugin in this process (the executors
    run here), refuses buckets that cannot be reached before anything runs, and adds
    the Beam args Beam's own S3 client needs (endpoint, region; keys stay in the
    environment). gs:// needs none of this: TensorFlow and Beam read it as they are."""
    s3_uris = [u for u in (config.pipeline_root, config.serving_root, config.data_dir)
               if object_store.is_s3(u)]
    if not s3_uris:
        return config
    settings = object_store.enable_s3()
    for uri in s3_uris:
        object_store.check_bucket(uri, settings)
    extra = [a for a in settings.beam_args() if a not in config.beam_args]
    return dataclasses.replace(config, beam_args=list(config.beam_args) + extra)


def run_pipeline(config: PipelineConfig, echo: Callable[[str], None] = print
                 ) -> report.RunReport:
    """Runs the pipeline of `config`'s task, printing one line per component, and returns
    what ML Metadata recorded about the run."""
    task = tasks.of_config(config)
    config.check()
    config = _with_object_store(config)
    data_dir = config.resolve_data_dir()
    for d in (config.pipeline_root, os.path.dirname(config.metadata_path),
              config.serving_root, os.path.join(config.workspace, "logs")):
        if filesystem.is_local(d):  # object stores have no folders to create
            os.makedirs(d, exist_ok=True)
    with (scratch.run_scratch(config.workspace) if filesystem.is_local(config.workspace)
          else contextlib.nullcontext()):
        return _run(task, config, data_dir, echo)


def _run(task: tasks.Task, config: PipelineConfig, data_dir: str,
         echo: Callable[[str], None]) -> report.RunReport:
    connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        config.metadata_path)
    pipeline = nodes.for_local_run(config, task.create_pipeline(
        config, data_dir, connection, beam_args=local_beam_args(config)))
    # The process id too: two runs on one workspace may start within the same second.
    log_path = os.path.join(
        config.workspace, "logs",
        f"{config.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log")
    echo(f"pipeline {config.name}: data {data_dir}")
    echo(f"  models {', '.join(config.models)}; full log {log_path}")
    console.log_to(log_path)  # library chatter, when a quiet console is active
    runner = Runner()
    with ComponentProgress(log_path, echo, console.terminal_level()) as progress:
        try:
            runner.run(pipeline)
        except Exception as e:  # pylint: disable=broad-except
            raise PipelineRunError(progress.current, reported_cause(e), log_path,
                                   config.pipeline_root, progress.ran, runner.run_id) from e
    if runner.run_id is None:
        raise RuntimeError("LocalDagRunner finished without setting the pipeline run id")
    return report.read_run(config.metadata_path, config.name, runner.run_id,
                           list(config.models), task.read_metrics)


def format_summary(config: PipelineConfig, result: report.RunReport) -> str:
    """The run's summary, then the production loop's lines (warm starts)."""
    return "\n".join([report.format_summary(result, tasks.of_config(config).describe_metrics),
                      *production.summary_lines(result)])
