"""pipelines/console.py: library chatter to the log file, errors to the terminal."""
import logging
import os
import subprocess
import sys
import warnings

from pipelines import console
from tests.paths import REPO


def test_quiet_sends_chatter_to_the_log_and_errors_to_the_terminal(tmp_path, capsys):
    root_before = list(logging.getLogger().handlers)
    tf_logger = logging.getLogger("tensorflow")
    tf_before = (list(tf_logger.handlers), tf_logger.propagate)
    log = tmp_path / "run.log"
    with console.Quiet():
        # Before the log file is known (imports): held, then written first.
        logging.getLogger("tensorflow").warning("SavedModel saved prior to TF 2.5 detected")
        warnings.warn("tf_record_iterator is deprecated", UserWarning)
        console.log_to(str(log))
        logging.getLogger("apache_beam.io").warning("Couldn't find python-snappy")
        logging.getLogger("apache_beam.runners").info("Running pipeline with DirectRunner.")
        logging.getLogger("tensorflow_model_analysis").error("a real problem")
        assert console.terminal_level() == logging.ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip() == "ERROR: a real problem"
    text = log.read_text()
    for line in ("SavedModel saved prior", "tf_record_iterator is deprecated",
                 "python-snappy", "Running pipeline with DirectRunner", "a real problem"):
        assert line in text, line
    assert text.index("SavedModel saved prior") < text.index("python-snappy")
    # Everything is as it was afterwards.
    assert logging.getLogger().handlers == root_before
    assert (tf_logger.handlers, tf_logger.propagate) == tf_before
    assert console.terminal_level() == logging.ERROR


def test_verbose_diverts_nothing(tmp_path):
    handlers = list(logging.getLogger().handlers)
    showwarning = warnings.showwarning
    with console.Quiet(verbose=True):
        console.log_to(str(tmp_path / "run.log"))
        assert logging.getLogger().handlers == handlers
        assert warnings.showwarning is showwarning
        assert console.terminal_level() == logging.INFO
    assert not (tmp_path / "run.log").exists()


def test_cpp_log_level(monkeypatch):
    # A fresh process, as a user's shell starts it: tf_env's default is FATAL only.
    env = {k: v for k, v in os.environ.items() if k != console.CPP_LOG_LEVEL}
    out = subprocess.run([sys.executable, "-c", "import trainer, os; "
                          "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "3"
    monkeypatch.setenv(console.CPP_LOG_LEVEL, "3")
    console.prepare(verbose=False)
    assert os.environ[console.CPP_LOG_LEVEL] == "3"
    console.prepare(verbose=True)
    assert os.environ[console.CPP_LOG_LEVEL] == "0"


_DIVERTED = r'''
import logging, os, subprocess, sys, threading
from pipelines import console
with console.Quiet():
    print("imported, before the log file is known", file=sys.stderr)
    console.log_to(sys.argv[1])
    print("sys.stderr", file=sys.stderr)
    os.write(2, b"fd 2\n")
    thread = threading.Thread(target=lambda: print("a worker thread", file=sys.stderr))
    thread.start()
    thread.join()
    subprocess.run([sys.executable, "-c", "import sys; print('a worker process', "
                    "file=sys.stderr)"], check=True)
    logging.getLogger("apache_beam").error("a real problem")
    print("progress", flush=True)
    console.error("the run failed")
print("after", file=sys.stderr)
os.write(2, b"fd 2 after\n")
'''


def test_once_the_log_file_is_known_stderr_goes_there_and_errors_to_the_terminal(tmp_path):
    # A real process: its stderr is the terminal, whatever writes to fd 2 or sys.stderr.
    log = tmp_path / "run.log"
    proc = subprocess.run([sys.executable, "-c", _DIVERTED, str(log)],
                          env=dict(os.environ, PYTHONPATH=REPO),
                          capture_output=True, text=True, timeout=120, check=True)
    assert proc.stderr.splitlines() == [
        "imported, before the log file is known", "ERROR: a real problem",
        "error: the run failed", "after", "fd 2 after"], proc.stderr
    assert proc.stdout == "progress\n"
    text = log.read_text()
    for line in ("sys.stderr", "fd 2", "a worker thread", "a worker process"):
        assert f"{line}\n" in text, line
    assert "the run failed" not in text


def test_the_terminal_is_the_stderr_the_command_started_with(tmp_path, capsys):
    with console.Quiet():
        console.log_to(str(tmp_path / "run.log"))
        print("library chatter", file=sys.stderr)
        console.error("the run failed")
        assert console.terminal() is not sys.stderr
    assert console.terminal() is sys.stderr
    assert capsys.readouterr().err == "error: the run failed\n"
    assert "library chatter" in (tmp_path / "run.log").read_text()
