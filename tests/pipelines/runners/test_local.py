"""pipelines/runners/local.py: which error a failed run reports (the CLI prints it)."""
import pytest

from components import text_corpora
from pipelines.runners import local as local_runner


def _raised_through_beam_and_tfx(text_only: bool = False) -> BaseException:
    """The chain a bad text file produces in a LocalDagRunner run: the reader's error
    (from a UnicodeDecodeError), Beam's RuntimeError re-raise carrying its text, then an
    unrelated error raised while TFX cleaned up."""
    try:
        try:
            try:
                try:
                    b"\xff".decode("utf-8")
                except UnicodeDecodeError as e:
                    raise text_corpora.TextCorpusError(
                        "/data/a.txt", "not UTF-8 text at line 2") from e
            except text_corpora.TextCorpusError as e:
                # What apache_beam.runners.common._reraise_augmented builds.
                beam = RuntimeError(f"components.text_corpora.TextCorpusError: {e} "
                                    f"[while running 'InputToRecord/Read']")
                if text_only:  # from a worker process: only the text survives
                    beam.__suppress_context__ = True
                    raise beam from None
                raise beam
        except RuntimeError:
            raise FileNotFoundError("examples/3: No such file or directory")
    except FileNotFoundError as outer:
        if text_only:
            outer.__context__.__context__ = None
        return outer


def test_the_outermost_input_error_is_reported_not_its_root_cause():
    cause = local_runner.reported_cause(_raised_through_beam_and_tfx())
    assert isinstance(cause, text_corpora.TextCorpusError)
    assert str(cause) == "/data/a.txt: not UTF-8 text at line 2"
    err = local_runner.PipelineRunError("TextExampleGen", cause, "/ws/logs/run.log")
    assert str(err) == ("component TextExampleGen failed: /data/a.txt: not UTF-8 text at "
                        "line 2")


def test_an_input_error_that_arrives_only_as_beam_text_is_rebuilt():
    exc = _raised_through_beam_and_tfx(text_only=True)
    assert not any(isinstance(e, text_corpora.TextCorpusError)
                   for e in local_runner._chain(exc))  # pylint: disable=protected-access
    cause = local_runner.reported_cause(exc)
    assert isinstance(cause, text_corpora.TextCorpusError)
    assert (cause.path, cause.problem) == ("/data/a.txt", "not UTF-8 text at line 2")


def test_other_failures_report_the_innermost_cause():
    try:
        try:
            raise MemoryError("out of memory in the Trainer")
        except MemoryError:
            raise RuntimeError("wrapped")
    except RuntimeError as e:
        cause = local_runner.reported_cause(e)
    assert isinstance(cause, MemoryError)
    assert str(local_runner.PipelineRunError("Trainer.cnn", cause, "x.log")) == (
        "component Trainer.cnn failed: MemoryError: out of memory in the Trainer")


@pytest.mark.parametrize("text", [
    "ValueError: /data/a.txt: something [while running 'Read']",  # not an input error
    "nosuch.module.SomeError: /data/a.txt: x",  # a module that is not loaded
])
def test_text_naming_other_classes_is_not_taken_for_an_input_error(text):
    assert local_runner.reported_cause(RuntimeError(text)).__class__ is RuntimeError
