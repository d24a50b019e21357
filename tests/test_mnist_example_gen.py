"""MnistExampleGen's executor on small IDX fixtures written by the test."""
import glob
import os

import numpy as np
import pytest

from components import idx_format, mnist_example_gen
from tests.example_gen_harness import read_examples, run_executor
from tests.mnist_fixtures import synthetic_digits, write_mnist


def _run_executor(input_base, output_dir):
    return run_executor(mnist_example_gen.create(input_base), mnist_example_gen.Executor,
                        output_dir)


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


def test_bad_file_fails_naming_it_and_leaves_no_output(tmp_path):
    x, y = synthetic_digits(20)
    data = write_mnist(str(tmp_path / "data"), x, y, "train")
    write_mnist(data, x[:5], y[:4], "t10k")  # 5 images but 4 labels
    out = str(tmp_path / "out")
    with pytest.raises(idx_format.IdxFormatError) as e:
        _run_executor(data, out)
    assert "t10k-labels-idx1-ubyte" in str(e.value) and "4 labels" in str(e.value)
    assert not os.path.exists(out) or not glob.glob(os.path.join(out, "**", "*.gz"),
                                                     recursive=True)


def test_missing_labels_file(tmp_path):
    x, _ = synthetic_digits(5)
    data = str(tmp_path / "data")
    os.makedirs(data)
    idx_format.write_idx(os.path.join(data, "train-images-idx3-ubyte"), x)
    with pytest.raises(idx_format.IdxFormatError, match="exactly one images file and one labels"):
        _run_executor(data, str(tmp_path / "out"))
