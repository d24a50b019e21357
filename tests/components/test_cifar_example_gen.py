"""CifarExampleGen's executor on small CIFAR-10 binary batches written by the test."""
import os

import numpy as np
import pytest

from components import cifar_example_gen, cifar_format
from pipelines.image import corpora as config
from tests.example_gen_harness import read_examples, run_executor


def synthetic_cifar(n: int, seed: int = 0):
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, size=(n, 32, 32, 3)).astype(np.uint8)
    labels = rng.randint(0, 10, size=n).astype(np.uint8)
    return images, labels


def write_batches(folder, batches, test=None):
    os.makedirs(folder, exist_ok=True)
    for i, (x, y) in enumerate(batches, start=1):
        cifar_format.write_batch(os.path.join(folder, f"data_batch_{i}.bin"), x, y)
    if test is not None:
        cifar_format.write_batch(os.path.join(folder, "test_batch.bin"), *test)
    return folder


def _run_executor(input_base, output_dir):
    return run_executor(cifar_example_gen.create(input_base), cifar_example_gen.Executor,
                        output_dir)


def _read_split(output_dir, split):
    out = []
    for ex in read_examples(output_dir, split):
        assert sorted(ex.features.feature) == ["image", "label"]
        image = np.array(ex.features.feature["image"].int64_list.value)
        assert image.shape == (3072,) and image.min() >= 0 and image.max() <= 255
        label = ex.features.feature["label"].int64_list.value[0]
        out.append((image.astype(np.uint8).tobytes(), label))
    return out


def _expected(x, y):
    return sorted((img.reshape(-1).tobytes(), int(lab)) for img, lab in zip(x, y))


def test_test_batch_becomes_eval_and_pixels_are_hwc(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar_example_gen, "_SHARD_RECORDS", 4)  # several ranges per file
    b1, b2, test = synthetic_cifar(9, 1), synthetic_cifar(6, 2), synthetic_cifar(5, 3)
    data = write_batches(str(tmp_path / "data"), [b1, b2], test)
    out = str(tmp_path / "out")
    examples = _run_executor(data, out)
    assert sorted(eval(examples.split_names)) == ["eval", "train"]  # noqa: S307 (JSON list)
    train = _read_split(out, "train")
    assert sorted(train) == _expected(np.concatenate([b1[0], b2[0]]),
                                      np.concatenate([b1[1], b2[1]]))
    assert sorted(_read_split(out, "eval")) == _expected(*test)


def test_parent_folder_with_batches_subfolder_and_hash_split(tmp_path):
    x, y = synthetic_cifar(50, 4)
    data = tmp_path / "fetched"
    write_batches(str(data / cifar_format.BATCHES_DIR), [(x[:25], y[:25]), (x[25:], y[25:])])
    (data / cifar_format.ARCHIVE_NAME).write_bytes(b"the archive sits next to the folder")
    assert cifar_example_gen.split_patterns(str(data)) == {
        "single": "cifar-10-batches-bin/data_batch_*.bin"}
    a = _run_executor(str(data), str(tmp_path / "a"))
    _run_executor(str(data), str(tmp_path / "b"))
    a_train, a_eval = _read_split(a.uri, "train"), _read_split(a.uri, "eval")
    assert sorted(a_train + a_eval) == _expected(x, y)
    assert a_eval and len(a_train) > len(a_eval)
    # Deterministic: a second run splits identically.
    assert sorted(a_eval) == sorted(_read_split(str(tmp_path / "b"), "eval"))


def test_bad_batch_fails_naming_it_and_leaves_no_output(tmp_path):
    data = write_batches(str(tmp_path / "data"), [synthetic_cifar(4, 1), synthetic_cifar(4, 2)],
                         synthetic_cifar(3, 3))
    bad = os.path.join(data, "data_batch_2.bin")
    with open(bad, "ab") as f:
        f.write(b"\x01\x02")
    out = str(tmp_path / "out")
    os.makedirs(out)  # the launcher creates the artifact folder before the executor runs
    with pytest.raises(cifar_format.CifarFormatError) as e:
        _run_executor(data, out)
    assert str(e.value).startswith(bad + ": wrong-length record")
    assert os.listdir(out) == []  # the folder the launcher made is left, empty


def test_bad_label_in_test_batch(tmp_path):
    data = write_batches(str(tmp_path / "data"), [synthetic_cifar(4, 1)], synthetic_cifar(3, 3))
    with open(os.path.join(data, "test_batch.bin"), "r+b") as f:
        f.seek(2 * cifar_format.RECORD_BYTES)
        f.write(bytes([255]))
    with pytest.raises(cifar_format.CifarFormatError,
                       match=r"test_batch.bin: record 2 .* label byte 255, expected 0..9"):
        _run_executor(data, str(tmp_path / "out"))


def test_create_fails_at_construction_without_train_batches(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    cifar_format.write_batch(str(data / "test_batch.bin"), *synthetic_cifar(2))
    with pytest.raises(cifar_format.CifarFormatError, match=r"data_batch_\*\.bin: no file matches"):
        cifar_example_gen.create(str(data))
    (tmp_path / "empty").mkdir()
    with pytest.raises(cifar_format.CifarFormatError, match="no CIFAR-10 binary batches"):
        cifar_example_gen.create(str(tmp_path / "empty"))


def test_folder_not_visible_here_assumes_the_fetched_layout(tmp_path):
    # Compiling for Kubeflow: the data lives on a cluster volume this machine cannot see.
    patterns = cifar_example_gen.split_patterns(str(tmp_path / "on-the-cluster"))
    assert patterns == {"train": "cifar-10-batches-bin/data_batch_*.bin",
                        "eval": "cifar-10-batches-bin/test_batch.bin"}


def test_cifar10_corpus_registered():
    corpus = config.IMAGE_CORPORA["cifar10"]
    assert (corpus.image_shape, corpus.num_classes, corpus.embedded_data) == ((32, 32, 3), 10, None)
    assert corpus.make_example_gen is cifar_example_gen.create
    assert corpus.for_data("/anywhere") is corpus
    assert config.IMAGE_CORPORA["mnist"].for_data("/anywhere").num_classes == 10
