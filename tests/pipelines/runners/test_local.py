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


def _raised_by_tfx(inner: BaseException) -> BaseException:
    """`inner` as the LocalDagRunner passes a component's failure on."""
    try:
        try:
            raise inner
        except BaseException as e:  # pylint: disable=broad-except
            raise RuntimeError("Execution 7 failed.") from e
    except RuntimeError as outer:
        return outer


# TensorFlow's text when SaveV2 cannot write a checkpoint (as measured on a full tmpfs).
_SAVE_V2 = ("{{function_node __wrapped__SaveV2_dtypes_31_device_/job:localhost/replica:0/"
            "task:0/device:CPU:0}} /ws/pipelines/classics-mnist/Trainer.softmax/model_run/7/"
            "checkpoints/ckpt-1_temp/part-00000-of-00001.data-00000-of-00001.tempstate1061; "
            "No space left on device [Op:SaveV2]")


@pytest.mark.parametrize("inner, folder", [
    # TensorFlow's op error: the folder it was writing, without its temporary part.
    (lambda tf: tf.errors.ResourceExhaustedError(None, None, _SAVE_V2),
     "/ws/pipelines/classics-mnist/Trainer.softmax/model_run/7/checkpoints"),
    (lambda tf: tf.errors.UnknownError(None, None, "/ws/p/Transform/x.gz; No space left "
                                                   "on device"), "/ws/p/Transform"),
    # Python's OSError: its file name, else the pipeline root.
    (lambda tf: OSError(28, "No space left on device", "/ws/p/ExampleGen/Split-train/d.gz"),
     "/ws/p/ExampleGen/Split-train"),
    (lambda tf: OSError(28, "No space left on device"), "/ws/pipelines/classics-mnist"),
    # From a Beam worker process only the text arrives.
    (lambda tf: RuntimeError("OSError: [Errno 28] No space left on device: '/ws/p/E/t.gz' "
                             "[while running 'WriteSplit']"), "/ws/p/E"),
])
def test_a_full_disk_names_the_folder_and_says_nothing_was_pushed(inner, folder):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    cause = local_runner.reported_cause(_raised_by_tfx(inner(tf)))
    assert isinstance(cause, local_runner.DiskFullError)
    err = local_runner.PipelineRunError("Trainer.softmax", cause, "x.log",
                                        "/ws/pipelines/classics-mnist",
                                        ran=["MnistExampleGen", "Transform"])
    assert str(err).startswith(f"component Trainer.softmax failed: no space left on device "
                               f"under {folder}; nothing was pushed (")
    assert "function_node" not in str(err) and "SaveV2" not in str(err)


def test_a_full_disk_after_a_push_says_which_pushers_ran():
    cause = local_runner.reported_cause(_raised_by_tfx(OSError(28, "No space left")))
    err = local_runner.PipelineRunError("Trainer.skipgram", cause, "x.log", "/ws/p",
                                        ran=["TextExampleGen", "Trainer.cbow", "Pusher.cbow"])
    assert "under /ws/p; nothing was pushed after Pusher.cbow ran" in str(err)


def test_a_real_full_disk(tmp_path):
    """A Trainer's checkpoint written by TensorFlow onto a file system that is full (a
    256 KiB tmpfs): the error TensorFlow really raises is reported by folder."""
    import subprocess  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    full = tmp_path / "full"
    full.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(full)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        checkpoints = full / "Trainer.softmax" / "checkpoints"
        with pytest.raises(tf.errors.OpError) as raised:
            tf.train.Checkpoint(v=tf.Variable(tf.zeros([256, 1024]))).save(
                str(checkpoints / "ckpt"))
        cause = local_runner.reported_cause(_raised_by_tfx(raised.value))
        err = local_runner.PipelineRunError("Trainer.softmax", cause, "x.log", str(full))
    finally:
        subprocess.run(["umount", str(full)], check=True)
    assert str(err).startswith(f"component Trainer.softmax failed: no space left on device "
                               f"under {checkpoints}; nothing was pushed")
