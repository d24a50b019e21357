"""What `classics` shows on the terminal, and what goes to the run's log file instead.

The terminal gets what the commands print (progress lines, epoch lines, the summary, the
report's path) and every ERROR record. Library chatter goes to the log file: Python
logging below ERROR from every library (TensorFlow's deprecation notices and "SavedModel
saved prior to TF 2.5" warnings, TFMA, Beam, absl INFO) and Python warnings. Records
logged before the log file is known (while TensorFlow, TFX and Beam are imported) are
held in memory and written first.

TensorFlow's C++ logging bypasses Python entirely: the CUDA plugin lines ("Unable to
register cuDNN factory") are printed while TensorFlow is imported, at ERROR severity, so
only TF_CPP_MIN_LOG_LEVEL=3 (FATAL only) silences them. trainer/tf_env.py sets that
default before any TensorFlow import; `prepare(verbose=True)` lowers it to 0 for
`--verbose`, which also leaves every Python logger and warning on the terminal.
"""
from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from typing import List, Optional, Tuple

CPP_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
# Loggers that TensorFlow gives their own stderr handler (tf_logging.get_logger does when
# the root logger has none at first use); their records must reach the root instead.
_OWN_HANDLER_LOGGERS = ("tensorflow",)
TERMINAL_HANDLER_NAME = "classics-terminal"

_active: Optional["Quiet"] = None


def prepare(verbose: bool) -> None:
    """Fixes TensorFlow's C++ log level; call before TensorFlow is imported (the CLI does,
    right after parsing its arguments)."""
    if verbose:
        os.environ[CPP_LOG_LEVEL] = "0"


class Quiet:
    """Context manager for one command: library logging and Python warnings go to a log
    file (`log_to`), ERROR records and above still go to stderr. With `verbose`,
    nothing is diverted."""

    def __init__(self, verbose: bool = False):
        self.verbose = verbose
        self.log_path: Optional[str] = None
        self._buffer: Optional[logging.handlers.MemoryHandler] = None
        self._file: Optional[logging.Handler] = None
        self._saved_root: Optional[Tuple[int, List[logging.Handler]]] = None
        self._saved_loggers: List[Tuple[logging.Logger, List[logging.Handler], bool]] = []
        self._captured_warnings = False

    def __enter__(self) -> "Quiet":
        global _active
        _active = self
        if self.verbose:
            return self
        root = logging.getLogger()
        self._saved_root = (root.level, list(root.handlers))
        # No target yet: records wait in memory until `log_to` names the file.
        self._buffer = logging.handlers.MemoryHandler(capacity=1 << 30,
                                                      flushLevel=logging.CRITICAL + 1)
        terminal = logging.StreamHandler(sys.stderr)
        terminal.set_name(TERMINAL_HANDLER_NAME)
        terminal.setLevel(logging.ERROR)
        terminal.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        root.handlers = [self._buffer, terminal]
        root.setLevel(logging.INFO)
        for name in _OWN_HANDLER_LOGGERS:
            logger = logging.getLogger(name)
            self._saved_loggers.append((logger, list(logger.handlers), logger.propagate))
            logger.handlers = []
            logger.propagate = True
        # Python warnings become records of the `py.warnings` logger, so they follow.
        # (logging keeps the replaced showwarning while it captures: already on or not.)
        self._captured_warnings = (
            logging._warnings_showwarning is not None)  # pylint: disable=protected-access
        logging.captureWarnings(True)
        return self

    def log_to(self, path: str) -> None:
        """From now on (and for everything held so far) library records go to `path`."""
        self.log_path = path
        if self.verbose or self._buffer is None or self._file is not None:
            return
        self._file = logging.FileHandler(path)
        self._file.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._buffer.setTarget(self._file)
        self._buffer.flush()
        root = logging.getLogger()
        root.handlers = [self._file if h is self._buffer else h for h in root.handlers]
        logging.getLogger(__name__).info(
            "library logging below ERROR and Python warnings go to this file; TensorFlow's "
            "C++ logging is at %s=%s (classics --verbose shows everything)", CPP_LOG_LEVEL,
            os.environ.get(CPP_LOG_LEVEL, "0"))

    def terminal_level(self) -> int:
        """The lowest level of records the terminal should show."""
        return logging.INFO if self.verbose else logging.ERROR

    def __exit__(self, *exc) -> None:
        global _active
        _active = None
        if self._saved_root is None:
            return
        root = logging.getLogger()
        level, handlers = self._saved_root
        root.handlers = handlers
        root.setLevel(level)
        for logger, saved, propagate in self._saved_loggers:
            logger.handlers = saved
            logger.propagate = propagate
        if not self._captured_warnings:
            logging.captureWarnings(False)
        for handler in (self._buffer, self._file):
            if handler is not None:
                handler.close()


def log_to(path: str) -> None:
    """Sends the active `Quiet` console's library records to `path` (no console: no-op)."""
    if _active is not None:
        _active.log_to(path)


def terminal_level() -> int:
    """ERROR under a quiet console or none; INFO under a verbose one."""
    return _active.terminal_level() if _active is not None else logging.ERROR
