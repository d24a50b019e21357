"""MnistExampleGen's executor on small IDX fixtures written by the test."""
import glob
import json
import os

import numpy as np
import pytest

from tfx.dsl.components.base import base_beam_executor

from components import idx_format, mnist_example_gen
from pipelines.config import SHARD_WRITER_BEAM_ARGS, with_local_dependencies
from tests.example_gen_harness import read_examples, run_executor
from tests.mnist_fixtures import cut_off_during_the_job, synthetic_digits, write_mnist


def _run_executor(input_base, output_dir, beam_args=()):
    executor = lambda: mnist_example_gen.Executor(  # noqa: E731
        base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=with_local_dependencies(beam_args)))
    return run_executor(mnist_example_gen.create(input_base), executor, output_dir)


def _read_split(output_dir, split):
    out = []
    for ex in read_examples(output_dir, split):
        image = np.array(ex.features.feature["image"].int64_list.value, np.uint8)
        out.append((image.tobytes(), ex.features.feature["label"].int64_list.value[0]))
    return out


def test_t10k_files_become_the_eval_split(tmp_path):
    train_x, train_y = synthetic_digits(37, seed=1)
    test_x, test_y = synthetic_digits(11, seed=2)
    data = write_mnist(str(tmp_path / "data"), train_x, train_y, "train", gz=True)
    write_mnist(data, test_x, test_y, "t10k")
    out = str(tmp_path / "out")
    examples = _run_executor(data, out)
    assert sorted(eval(examples.split_names)) == ["eval", "train"]  # noqa: S307 (JSON list)
    train = _read_split(out, "train")
    evals = _read_split(out, "eval")
    # Every record arrives exactly once, pixels and labels intact.
    assert sorted(train) == sorted((x.reshape(-1).tobytes(), int(y)) for x, y in zip(train_x, train_y))
    assert sorted(evals) == sorted((x.reshape(-1).tobytes(), int(y)) for x, y in zip(test_x, test_y))


def test_without_t10k_a_deterministic_hash_split(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist_example_gen, "_SHARD_RECORDS", 7)  # several Beam work items
    x, y = synthetic_digits(60, seed=3)
    data = write_mnist(str(tmp_path / "data"), x, y, "train")
    first = _run_executor(data, str(tmp_path / "a"))
    _run_executor(data, str(tmp_path / "b"))
    a_train, a_eval = _read_split(first.uri, "train"), _read_split(first.uri, "eval")
    assert len(a_train) + len(a_eval) == 60 and a_eval and len(a_train) > len(a_eval)
    assert sorted(a_eval) == sorted(_read_split(str(tmp_path / "b"), "eval"))


def test_bad_file_fails_naming_it_before_the_job_runs(tmp_path):
    x, y = synthetic_digits(20)
    data = write_mnist(str(tmp_path / "data"), x, y, "train")
    write_mnist(data, x[:5], y[:4], "t10k")  # 5 images but 4 labels
    out = str(tmp_path / "out")
    with pytest.raises(idx_format.IdxFormatError) as e:
        _run_executor(data, out)
    assert "t10k-labels-idx1-ubyte" in str(e.value) and "4 labels" in str(e.value)


def test_a_label_that_is_no_digit_stops_ingestion_before_the_job_runs(tmp_path):
    x, y = synthetic_digits(20)
    y[13] = 42
    data = write_mnist(str(tmp_path / "data"), x, y, "train")
    out = str(tmp_path / "out")
    # Raised while the Beam graph is built (not re-raised by Beam from a running job).
    with pytest.raises(idx_format.IdxFormatError) as e:
        _run_executor(data, out)
    assert str(e.value) == (os.path.join(data, "train-labels-idx1-ubyte") +
                            ": label 42 at record 13 is not a class id 0..9 (1 bad label(s))")
    assert os.listdir(out) == []


@pytest.mark.parametrize("beam_args", [(), SHARD_WRITER_BEAM_ARGS],
                         ids=["in_memory", "threads_as_a_local_run"])
def test_a_failure_inside_the_beam_job_leaves_nothing_behind(tmp_path, monkeypatch,
                                                             beam_args):
    monkeypatch.setattr(mnist_example_gen, "_SHARD_RECORDS", 7)
    x, y = synthetic_digits(60, seed=3)
    data = write_mnist(str(tmp_path / "data"), x, y, "train")
    write_mnist(data, x[:21], y[:21], "t10k")
    victim = os.path.join(data, "t10k-images-idx3-ubyte")
    out, snapshot = str(tmp_path / "out"), str(tmp_path / "held.json")
    cut_off_during_the_job(monkeypatch, victim, 14, out, snapshot)
    with pytest.raises(Exception, match="t10k-images-idx3-ubyte: truncated"):
        _run_executor(data, out, beam_args)
    with open(snapshot) as f:
        held = json.load(f)
    # The job had started writing both splits when it failed ...
    assert any(p.startswith("Split-train") for p in held), held
    assert any(p.startswith("Split-eval") for p in held), held
    # ... and the executor removed all of it, leaving the (empty) folder TFX made.
    assert os.listdir(out) == []


def test_a_failure_after_the_splits_were_written_removes_them(tmp_path, monkeypatch):
    x, y = synthetic_digits(30, seed=4)
    data = write_mnist(str(tmp_path / "data"), x, y, "train")
    out = str(tmp_path / "out")
    written = []

    def finish(self, output_dict):  # e.g. recording extra files fails
        written.extend(glob.glob(os.path.join(out, "Split-*", "*.gz")))
        raise OSError("disk full")

    monkeypatch.setattr(mnist_example_gen.Executor, "finish", finish)
    with pytest.raises(OSError, match="disk full"):
        _run_executor(data, out)
    assert len(written) == 2  # data_tfrecord-*.gz of train and eval
    assert os.listdir(out) == []


def test_missing_labels_file(tmp_path):
    x, _ = synthetic_digits(5)
    data = str(tmp_path / "data")
    os.makedirs(data)
    idx_format.write_idx(os.path.join(data, "train-images-idx3-ubyte"), x)
    with pytest.raises(idx_format.IdxFormatError, match="exactly one images file and one labels"):
        _run_executor(data, str(tmp_path / "out"))
