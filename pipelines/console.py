"""What `classics` shows on the terminal, and what goes to the run's log file instead.

The terminal gets what the commands print (progress lines, epoch lines, the summary, the
report's path), every ERROR record and the final `error:` line. Library chatter goes to
the log file: Python logging below ERROR from every library (TensorFlow's deprecation
notices and "SavedModel saved prior to TF 2.5" warnings, TFMA, Beam, absl INFO), Python
warnings, and whatever is written straight to stderr once the log file is known (Beam's
worker threads print a failing bundle's traceback there, its worker processes inherit
the stderr file descriptor). Records logged before the log file is known (while
TensorFlow, TFX and Beam are imported) are held in memory and written first.

So the terminal is kept as it was when the command started: a duplicate of its stderr
file descriptor, taken before anything is redirected. `terminal()` is that stream; ERROR
records and `error()` lines are written to it, never to whatever stderr is at the time.

TensorFlow's C++ logging bypasses Python entirely: the CUDA plugin lines ("Unable to
register cuDNN factory") are printed while TensorFlow is imported, at ERROR severity, so
only TF_CPP_MIN_LOG_LEVEL=3 (FATAL only) silences them. trainer/tf_env.py sets that
default before any TensorFlow import; `prepare(verbose=True)` lowers it to 0 for
`--verbose`, which also leaves every Python logger and warning on the terminal.
"""
from __future__ import annotations

import io
import logging
import logging.handlers
import os
import sys
from typing import List, Optional, TextIO, Tuple

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


def _keep(stream: TextIO) -> Tuple[TextIO, bool]:
    """A stream that writes where `stream` writes now, whatever later replaces
    sys.stderr or file descriptor 2; and whether it is a duplicate to close."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # e.g. a test's in-memory capture
        return stream, False
    try:
        stream.flush()  # what it holds so far goes out before anything written to the copy
    except (OSError, ValueError):
        pass
    kept = os.fdopen(os.dup(fd), "w", buffering=1, closefd=True,
                     encoding=getattr(stream, "encoding", None) or "utf-8",
                     errors="backslashreplace")
    return kept, True


class Quiet:
    """Context manager for one command: library logging and Python warnings go to a log
    file (`log_to`), and from then on so does anything written to stderr (sys.stderr and
    file descriptor 2, which subprocesses inherit); ERROR records and `error()` lines go
    to the terminal, the stderr the command started with. With `verbose`, nothing is
    diverted."""

    def __init__(self, verbose: bool = False):
        self.verbose = verbose
        self.log_path: Optional[str] = None
        self.terminal: TextIO = sys.stderr
        self._own_terminal = False
        self._saved_stderr: Optional[Tuple[TextIO, Optional[int]]] = None
        self._buffer: Optional[logging.handlers.MemoryHandler] = None
        self._file: Optional[logging.Handler] = None
        self._saved_root: Optional[Tuple[int, List[logging.Handler]]] = None
        self._saved_loggers: List[Tuple[logging.Logger, List[logging.Handler], bool]] = []
        self._captured_warnings = False

    def __enter__(self) -> "Quiet":
        global _active
        _active = self
        self.terminal, self._own_terminal = _keep(sys.stderr)
        if self.verbose:
            return self
        root = logging.getLogger()
        self._saved_root = (root.level, list(root.handlers))
        # No target yet: records wait in memory until `log_to` names the file.
        self._buffer = logging.handlers.MemoryHandler(capacity=1 << 30,
                                                      flushLevel=logging.CRITICAL + 1)
        terminal = logging.StreamHandler(self.terminal)
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
        self._divert_stderr(path)
        logging.getLogger(__name__).info(
            "library logging below ERROR and Python warnings go to this file; TensorFlow's "
            "C++ logging is at %s=%s (classics --verbose shows everything)", CPP_LOG_LEVEL,
            os.environ.get(CPP_LOG_LEVEL, "0"))

    def _divert_stderr(self, path: str) -> None:
        """Points sys.stderr and file descriptor 2 at the log file, appending."""
        log = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved_fd: Optional[int] = os.dup(2)
        except OSError:  # no descriptor 2 (a daemon): sys.stderr alone is diverted
            saved_fd = None
        if saved_fd is not None:
            os.dup2(log, 2)
        self._saved_stderr = (sys.stderr, saved_fd)
        sys.stderr = io.TextIOWrapper(io.FileIO(log, "w", closefd=True), line_buffering=True,
                                      encoding="utf-8", errors="backslashreplace")

    def _restore_stderr(self) -> None:
        if self._saved_stderr is None:
            return
        saved, saved_fd = self._saved_stderr
        self._saved_stderr = None
        diverted, sys.stderr = sys.stderr, saved
        try:
            diverted.close()
        except (OSError, ValueError):
            pass
        if saved_fd is not None:
            os.dup2(saved_fd, 2)
            os.close(saved_fd)

    def terminal_level(self) -> int:
        """The lowest level of records the terminal should show."""
        return logging.INFO if self.verbose else logging.ERROR

    def __exit__(self, *exc) -> None:
        global _active
        _active = None
        self._restore_stderr()
        if self._saved_root is not None:
            self._restore_logging(*self._saved_root)
        # Last: the terminal handler just taken off the root logger writes to it.
        self._close_terminal()

    def _restore_logging(self, level: int, handlers: List[logging.Handler]) -> None:
        root = logging.getLogger()
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

    def _close_terminal(self) -> None:
        terminal, self.terminal = self.terminal, sys.stderr
        if self._own_terminal:
            self._own_terminal = False
            try:
                terminal.close()
            except (OSError, ValueError):  # a closed pipe: nothing more can reach it anyway
                pass


def log_to(path: str) -> None:
    """Sends the active `Quiet` console's library records to `path` (no console: no-op)."""
    if _active is not None:
        _active.log_to(path)


def terminal_level() -> int:
    """ERROR under a quiet console or none; INFO under a verbose one."""
    return _active.terminal_level() if _active is not None else logging.ERROR


def terminal() -> TextIO:
    """The terminal: the stderr the active console started with (none: sys.stderr)."""
    return _active.terminal if _active is not None else sys.stderr


def error(message: str) -> None:
    """Prints `error: <message>` on the terminal, after what the command printed so far
    (stdout first: on a shared terminal the error line stays the last one)."""
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    stream = terminal()
    print(f"error: {message}", file=stream)
    stream.flush()
