"""pipelines/progress.py: one console line per component, the Trainers' epoch lines, and
the terminal level."""
import logging

from pipelines.progress import ComponentProgress
from trainer.epoch_log import epoch_line


def test_component_and_epoch_lines(tmp_path):
    echoed = []
    with ComponentProgress(str(tmp_path / "run.log"), echoed.append):
        absl_logger = logging.getLogger("absl")
        # An epoch line outside a component is not shown (nothing to attribute it to).
        absl_logger.info(epoch_line(1, 2, {"loss": 1.0}))
        absl_logger.info("Component Trainer.softmax is running.")
        absl_logger.info(epoch_line(1, 2, {"loss": 0.5}, 1.0))
        absl_logger.info("Training stats: {...}")  # other INFO: log file only
        absl_logger.info("Component Trainer.softmax is finished.")
    assert len(echoed) == 3
    assert "Trainer.softmax" in echoed[0] and "running" in echoed[0]
    assert echoed[1].endswith("Trainer.softmax          epoch 1/2: loss 0.5000 (1.0s)")
    assert "done in" in echoed[2]
    assert "Training stats" in (tmp_path / "run.log").read_text()


def test_terminal_level(tmp_path, capsys):
    for level, shown in ((logging.ERROR, False), (logging.INFO, True)):
        with ComponentProgress(str(tmp_path / "run.log"), lambda _: None, level):
            logging.getLogger("absl").info("a library detail")
            logging.getLogger("absl").error("a real problem")
        err = capsys.readouterr().err
        assert "a real problem" in err
        assert ("a library detail" in err) == shown


def test_a_beam_traceback_goes_to_the_log_file_not_the_terminal(tmp_path, capfd):
    beam = logging.getLogger("apache_beam.runners.common")
    before = (logging.getLogger("apache_beam").handlers, logging.getLogger("apache_beam").propagate)
    with ComponentProgress(str(tmp_path / "run.log"), lambda _: None):
        try:
            raise ValueError("/data/a.txt: not UTF-8 text at line 2")
        except ValueError as e:
            beam.exception(e)  # what Beam does before it re-raises a DoFn's error
        logging.getLogger("absl").error("Execution 3 failed.")
        logging.getLogger("absl").error("a real problem")
    err = capfd.readouterr().err
    assert "Traceback" not in err and "not UTF-8" not in err
    assert "Execution 3 failed" not in err  # the runner reports the failure, with its cause
    assert "a real problem" in err
    log = (tmp_path / "run.log").read_text()
    assert "Traceback" in log and "/data/a.txt: not UTF-8 text at line 2" in log
    assert (logging.getLogger("apache_beam").handlers,
            logging.getLogger("apache_beam").propagate) == before
