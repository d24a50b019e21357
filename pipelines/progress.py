"""Per-component progress lines for LocalDagRunner runs, and a full log file.

LocalDagRunner reports each node through absl INFO logs ("Component X is running." /
"is finished."). We route absl's logger to a log file, turn those two messages into one
short line per component on the console, show the Trainers' epoch lines
(trainer/epoch_log.py) and the drift gates' verdicts (components/drift_gate.py), and keep ERROR and above on stderr (everything with --verbose).
Where the other libraries' logging goes is pipelines/console.py's business.
"""
from __future__ import annotations

import logging
import re
import time
from typing import Callable, List, Optional

from components.drift_gate import LINE_PREFIX as DRIFT_LINE_PREFIX
from pipelines import console
from trainer.epoch_log import EPOCH_LINE

_RUNNING = re.compile(r"^Component (\S+) is running\.$")
_FINISHED = re.compile(r"^Component (\S+) is finished\.$")
_CACHED = re.compile(r"^A cached execution \d+ is used\.$")
# TFX's launcher logs this bare line at ERROR when a component fails; the runner reports
# the same failure with its cause (pipelines/runners/local.py), so the terminal skips it.
_EXECUTION_FAILED = re.compile(r"^Execution \d+ failed\.$")


class _Handler(logging.Handler):
    def __init__(self, tracker: "ComponentProgress"):
        super().__init__(logging.INFO)
        self.tracker = tracker

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:  # pylint: disable=broad-except
            return
        self.tracker.on_message(msg, record.levelno)


class ComponentProgress:
    """Context manager that prints one line per component as the local run proceeds."""

    def __init__(self, log_path: str, echo: Callable[[str], None] = print,
                 terminal_level: int = logging.ERROR):
        self.log_path = log_path
        self.echo = echo
        self.terminal_level = terminal_level
        self.current: Optional[str] = None
        self.ran: List[str] = []  # components that ran to the end here (not from cache)
        self._start = 0.0
        self._cached = False
        self._logger = logging.getLogger("absl")

    def on_message(self, msg: str, level: int) -> None:
        m = _RUNNING.match(msg)
        if m:
            self.current, self._start, self._cached = m.group(1), time.perf_counter(), False
            self.echo(f"[{time.strftime('%H:%M:%S')}] {self.current:<24} running ...")
            return
        if _CACHED.match(msg):
            self._cached = True
            return
        if self.current and (EPOCH_LINE.match(msg) or msg.startswith(DRIFT_LINE_PREFIX)):
            self.echo(f"[{time.strftime('%H:%M:%S')}] {self.current:<24} {msg}")
            return
        m = _FINISHED.match(msg)
        if m:
            took = time.perf_counter() - self._start
            how = "cached" if self._cached else "done"
            if not self._cached:
                self.ran.append(m.group(1))
            self.echo(f"[{time.strftime('%H:%M:%S')}] {m.group(1):<24} {how} in {took:.1f}s")
            self.current = None

    def __enter__(self) -> "ComponentProgress":
        self._file = logging.FileHandler(self.log_path)
        self._file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        # The terminal the command started with: stderr itself goes to the log file
        # while a quiet console runs (pipelines/console.py).
        self._stderr = logging.StreamHandler(console.terminal())
        self._stderr.setLevel(self.terminal_level)
        self._stderr.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        self._stderr.addFilter(lambda r: not _EXECUTION_FAILED.match(r.getMessage()))
        self._saved = (self._logger.level, self._logger.propagate, list(self._logger.handlers))
        # Beam logs a failing DoFn's exception with its traceback at ERROR before re-raising
        # it (apache_beam/runners/common.py, _reraise_augmented); the runner reports that
        # error in one line, so the traceback goes to the log file only (unless verbose).
        self._beam = logging.getLogger("apache_beam")
        self._beam_saved = (self._beam.propagate, list(self._beam.handlers))
        if self.terminal_level >= logging.ERROR:
            self._beam.handlers, self._beam.propagate = [self._file], False
        self._handler = _Handler(self)
        self._logger.handlers = [self._handler, self._file, self._stderr]
        self._logger.setLevel(logging.INFO)
        self._logger.propagate = False
        # Components that parse absl flags reset absl's verbosity to WARNING mid-run, which
        # would silence the progress messages; pin the level while the run lasts.
        self._logger.setLevel = lambda level: None  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc) -> None:
        level, propagate, handlers = self._saved
        del self._logger.setLevel  # back to the class's method
        self._logger.handlers = handlers
        self._logger.setLevel(level)
        self._logger.propagate = propagate
        self._beam.propagate, self._beam.handlers = self._beam_saved
        self._file.close()
