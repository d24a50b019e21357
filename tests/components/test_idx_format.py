import gzip
import os
import struct

import numpy as np
import pytest

from components import idx_format
from components.idx_format import IdxFormatError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("gz", [False, True])
def test_round_trip(tmp_path, dtype, gz):
    arr = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    if dtype == np.uint8:
        arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = str(tmp_path / ("x.idx" + (".gz" if gz else "")))
    idx_format.write_idx(path, arr)
    back = idx_format.read_idx(path)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, arr)
    with open(path, "rb") as f:
        assert (f.read(2) == b"\x1f\x8b") == gz


def test_mnist_magic_numbers_are_the_published_ones(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    labels = np.array([1, 2, 3], np.uint8)
    idx_format.write_idx(str(tmp_path / "i"), images)
    idx_format.write_idx(str(tmp_path / "l"), labels)
    assert idx_format.read_header(str(tmp_path / "i")).magic == 2051
    assert idx_format.read_header(str(tmp_path / "l")).magic == 2049
    pair = idx_format.validate_mnist_pair(str(tmp_path / "i"), str(tmp_path / "l"))
    assert pair.count == 3
    assert idx_format.read_records(pair.labels, 1, 3).tolist() == [2, 3]
    assert idx_format.read_records(pair.images, 1, 3)[0].shape == (28, 28)


def test_read_records_ranges(tmp_path):
    arr = np.arange(10 * 4, dtype=np.uint8).reshape(10, 2, 2)
    for name in ("a", "a.gz"):
        path = str(tmp_path / name)
        idx_format.write_idx(path, arr)
        header = idx_format.validate(path)
        np.testing.assert_array_equal(idx_format.read_records(header, 3, 7), arr[3:7])
        np.testing.assert_array_equal(idx_format.read_records(header, 8, 100), arr[8:])


def _write(tmp_path, name, data: bytes, gz=False):
    path = str(tmp_path / name)
    with open(path, "wb") as f:
        f.write(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_file_names_the_file(tmp_path, gz):
    full = struct.pack(">HBB", 0, 8, 3) + struct.pack(">3I", 5, 28, 28) + bytes(5 * 784)
    path = _write(tmp_path, "train-images-idx3-ubyte", full[:-100], gz)
    with pytest.raises(IdxFormatError) as e:
        idx_format.validate(path, idx_format.MNIST_IMAGES_MAGIC)
    assert path in str(e.value) and "truncated" in str(e.value)


def test_truncated_header(tmp_path):
    path = _write(tmp_path, "short", b"\x00\x00\x08")
    with pytest.raises(IdxFormatError, match="truncated"):
        idx_format.read_header(path)


def test_trailing_bytes(tmp_path):
    data = struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", 3) + bytes(3) + b"xx"
    path = _write(tmp_path, "labels", data)
    with pytest.raises(IdxFormatError, match="2 unexpected trailing bytes"):
        idx_format.validate(path)


def test_wrong_magic(tmp_path):
    # A labels file where an images file is expected: valid IDX, wrong magic.
    path = _write(tmp_path, "train-images-idx3-ubyte",
                  struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", 2) + bytes(2))
    with pytest.raises(IdxFormatError, match=r"wrong magic number 0x00000801, expected 0x00000803"):
        idx_format.validate(path, idx_format.MNIST_IMAGES_MAGIC)


def test_not_idx_at_all(tmp_path):
    path = _write(tmp_path, "page.html", b"<html>404 not found</html>")
    with pytest.raises(IdxFormatError, match="not an IDX file") as e:
        idx_format.validate(path)
    assert e.value.path == path


def test_gzip_garbage(tmp_path):
    good = gzip.compress(struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", 4000) + bytes(4000))
    bad = good[:20] + bytes(b ^ 0xFF for b in good[20:40]) + good[40:]
    path = _write(tmp_path, "train-labels-idx1-ubyte.gz", bad)
    with pytest.raises(IdxFormatError, match="corrupt gzip data|truncated") as e:
        idx_format.validate(path)
    assert path in str(e.value)


def test_gzip_cut_short(tmp_path):
    good = gzip.compress(struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", 4000) + os.urandom(4000))
    path = _write(tmp_path, "t10k-labels-idx1-ubyte.gz", good[: len(good) // 2])
    with pytest.raises(IdxFormatError) as e:
        idx_format.validate(path)
    assert path in str(e.value)


def test_count_mismatch_names_both_files(tmp_path):
    images = str(tmp_path / "train-images-idx3-ubyte")
    labels = str(tmp_path / "train-labels-idx1-ubyte")
    idx_format.write_idx(images, np.zeros((4, 28, 28), np.uint8))
    idx_format.write_idx(labels, np.zeros((3,), np.uint8))
    with pytest.raises(IdxFormatError) as e:
        idx_format.validate_mnist_pair(images, labels)
    assert "3 labels" in str(e.value) and images in str(e.value) and e.value.path == labels


@pytest.mark.parametrize("gz", [False, True])
def test_a_label_outside_the_classes_names_the_file_and_record(tmp_path, gz):
    ext = ".gz" if gz else ""
    images = str(tmp_path / f"train-images-idx3-ubyte{ext}")
    labels = str(tmp_path / f"train-labels-idx1-ubyte{ext}")
    idx_format.write_idx(images, np.zeros((5, 28, 28), np.uint8))
    values = np.array([0, 9, 42, 3, 10], np.uint8)  # 42 and 10: no such digit
    idx_format.write_idx(labels, values)
    with pytest.raises(IdxFormatError) as e:
        idx_format.validate_mnist_pair(images, labels)
    assert e.value.path == labels
    assert "label 42 at record 2 is not a class id 0..9 (2 bad label(s))" in str(e.value)
    values[[2, 4]] = 9
    idx_format.write_idx(labels, values)
    assert idx_format.validate_mnist_pair(images, labels).count == 5


def test_images_with_wrong_rank(tmp_path):
    images = str(tmp_path / "imgs")
    labels = str(tmp_path / "lbls")
    # Magic 0x803 needs 3 dims; a 3-dim file with a zero dimension is still rejected.
    idx_format.write_idx(images, np.zeros((2, 0, 28), np.uint8))
    idx_format.write_idx(labels, np.zeros((2,), np.uint8))
    with pytest.raises(IdxFormatError, match="expected \\[N, rows, cols\\]"):
        idx_format.validate_mnist_pair(images, labels)


def test_missing_file(tmp_path):
    with pytest.raises(IdxFormatError, match="file not found"):
        idx_format.read_idx(str(tmp_path / "nope"))


def test_write_is_atomic(tmp_path):
    path = str(tmp_path / "x")
    idx_format.write_idx(path, np.zeros((2, 2), np.uint8))
    assert os.listdir(tmp_path) == ["x"]  # no temp file left behind
