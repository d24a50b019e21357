"""CIFAR-10 binary batches: plane-to-HWC conversion, validation errors, safe extraction,
and `datasets.fetch("cifar10")` (download, checksum, extract) against a local http.server."""
import dataclasses
import hashlib
import io
import os
import tarfile

import numpy as np
import pytest

from components import cifar_format, datasets

R = cifar_format.RECORD_BYTES


def synthetic_cifar(n: int, seed: int = 0):
    rng = np.random.RandomState(seed)
    images = rng.randint(0, 256, size=(n, 32, 32, 3)).astype(np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


def test_planes_become_hwc_pixels(tmp_path):
    # One record written byte by byte as the format describes: label, then 1024 R bytes,
    # 1024 G bytes, 1024 B bytes, each plane row-major.
    red = np.arange(1024, dtype=np.uint32).reshape(32, 32) % 256
    green = (red * 7 + 3) % 256
    blue = (red * 13 + 5) % 256
    raw = bytes([7]) + bytes(red.astype(np.uint8).ravel()) + \
        bytes(green.astype(np.uint8).ravel()) + bytes(blue.astype(np.uint8).ravel())
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(raw)
    images, labels = cifar_format.read_batch(str(path))
    assert images.shape == (1, 32, 32, 3) and labels.tolist() == [7]
    for (r, c) in [(0, 0), (0, 31), (5, 9), (31, 0), (31, 31)]:
        assert images[0, r, c].tolist() == [red[r, c], green[r, c], blue[r, c]]
    # The HWC flattening is what the `image` feature carries: pixel (r, c) channel k.
    flat = images[0].reshape(-1)
    assert flat[(5 * 32 + 9) * 3 + 2] == blue[5, 9]


def test_write_then_read_round_trips_and_ranges(tmp_path):
    images, labels = synthetic_cifar(23, seed=1)
    path = str(tmp_path / "b.bin")
    cifar_format.write_batch(path, images, labels)
    assert os.path.getsize(path) == 23 * R
    batch = cifar_format.validate(path)
    assert batch.count == 23
    got_x, got_y = cifar_format.read_records(batch, 5, 12)
    np.testing.assert_array_equal(got_x, images[5:12])
    np.testing.assert_array_equal(got_y, labels[5:12])
    _, clipped = cifar_format.read_records(batch, 20, 99)  # clipped to the file
    assert clipped.tolist() == labels[20:].tolist()


def test_wrong_length_names_the_file(tmp_path):
    images, labels = synthetic_cifar(3)
    path = str(tmp_path / "data_batch_2.bin")
    cifar_format.write_batch(path, images, labels)
    with open(path, "ab") as f:
        f.write(b"\0" * 10)
    with pytest.raises(cifar_format.CifarFormatError) as e:
        cifar_format.validate(path)
    assert str(e.value).startswith(path + ": wrong-length record")
    assert "3 whole records and 10 trailing bytes" in str(e.value)


def test_truncated_last_record(tmp_path):
    images, labels = synthetic_cifar(2)
    path = str(tmp_path / "test_batch.bin")
    cifar_format.write_batch(path, images, labels)
    with open(path, "r+b") as f:
        f.truncate(2 * R - 1)
    with pytest.raises(cifar_format.CifarFormatError, match="test_batch.bin: wrong-length record"):
        cifar_format.validate(path)


def test_label_out_of_range_names_file_and_record(tmp_path):
    images, labels = synthetic_cifar(5000)
    path = str(tmp_path / "data_batch_3.bin")
    cifar_format.write_batch(path, images, labels)
    with open(path, "r+b") as f:  # the label byte of record 4100 (in the second chunk)
        f.seek(4100 * R)
        f.write(bytes([10]))
    with pytest.raises(cifar_format.CifarFormatError) as e:
        cifar_format.validate(path)
    assert path in str(e.value)
    assert "record 4100" in str(e.value) and "label byte 10, expected 0..9" in str(e.value)


def test_empty_and_missing_files(tmp_path):
    empty = tmp_path / "data_batch_4.bin"
    empty.write_bytes(b"")
    with pytest.raises(cifar_format.CifarFormatError, match="data_batch_4.bin: empty file"):
        cifar_format.validate(str(empty))
    with pytest.raises(cifar_format.CifarFormatError, match="nope.bin: file not found"):
        cifar_format.validate(str(tmp_path / "nope.bin"))


def test_batches_dir_accepts_folder_or_parent_and_explains_archive(tmp_path):
    inner = tmp_path / cifar_format.BATCHES_DIR
    inner.mkdir()
    images, labels = synthetic_cifar(2)
    cifar_format.write_batch(str(inner / "data_batch_1.bin"), images, labels)
    assert cifar_format.batches_dir(str(tmp_path)) == str(inner)
    assert cifar_format.batches_dir(str(inner)) == str(inner)
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / cifar_format.ARCHIVE_NAME).write_bytes(b"x")
    with pytest.raises(cifar_format.CifarFormatError, match="unextracted cifar-10-binary"):
        cifar_format.batches_dir(str(bare))


# ------------------------------------------------------------------------------ archive
def _tar_gz(members):
    """members: list of (TarInfo-ish kwargs, payload bytes or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, payload, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = payload
                tar.addfile(info)
            else:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def _batch_bytes(n, seed):
    images, labels = synthetic_cifar(n, seed)
    records = np.empty((n, R), np.uint8)
    records[:, 0] = labels
    records[:, 1:] = cifar_format.hwc_to_planes(images)
    return records.tobytes()


def tiny_cifar_archive(train_batches=2, records=3):
    members = [("cifar-10-batches-bin", None, "dir")]
    for i in range(1, train_batches + 1):
        members.append((f"cifar-10-batches-bin/data_batch_{i}.bin", _batch_bytes(records, i), "f"))
    members.append(("cifar-10-batches-bin/test_batch.bin", _batch_bytes(records, 99), "f"))
    members.append(("cifar-10-batches-bin/batches.meta.txt",
                    "\n".join(cifar_format.LABEL_NAMES).encode(), "f"))
    return _tar_gz(members)


@pytest.mark.parametrize("name,payload,kind,problem", [
    ("/etc/evil.bin", b"x", "f", "absolute path"),
    ("cifar-10-batches-bin/../../evil.bin", b"x", "f", "contains '..'"),
    ("cifar-10-batches-bin/link", "/etc/passwd", "symlink", "link or special file"),
])
def test_extract_rejects_unsafe_members(tmp_path, name, payload, kind, problem):
    archive = tmp_path / cifar_format.ARCHIVE_NAME
    archive.write_bytes(_tar_gz([
        ("cifar-10-batches-bin/data_batch_1.bin", _batch_bytes(2, 0), "f"),
        (name, payload, kind)]))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(cifar_format.UnsafeArchiveError, match=problem):
        cifar_format.extract_archive(str(archive), str(dest))
    assert os.listdir(dest) == []  # nothing extracted, temp folder gone
    assert not (tmp_path / "evil.bin").exists()


def test_extract_validates_the_batches(tmp_path):
    archive = tmp_path / cifar_format.ARCHIVE_NAME
    archive.write_bytes(_tar_gz([
        ("cifar-10-batches-bin/data_batch_1.bin", _batch_bytes(2, 0)[:-1], "f")]))
    with pytest.raises(cifar_format.CifarFormatError) as e:
        cifar_format.extract_archive(str(archive), str(tmp_path))
    assert str(archive) in str(e.value) and "data_batch_1.bin: wrong-length record" in str(e.value)
    assert not (tmp_path / cifar_format.BATCHES_DIR).exists()


# ---------------------------------------------------------------- fetch over local http


@pytest.fixture
def tiny_cifar10(monkeypatch, http_root):
    root, url = http_root
    payload = tiny_cifar_archive()
    (root / cifar_format.ARCHIVE_NAME).write_bytes(payload)
    spec = datasets.DATASETS["cifar10"]
    monkeypatch.setitem(datasets.DATASETS, "cifar10", dataclasses.replace(
        spec, files={cifar_format.ARCHIVE_NAME: (hashlib.sha256(payload).hexdigest(),
                                                 len(payload))}))
    return root, url


def test_cifar10_entry_is_the_official_archive():
    spec = datasets.DATASETS["cifar10"]
    assert spec.base_url + cifar_format.ARCHIVE_NAME == \
        "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    assert spec.files == {cifar_format.ARCHIVE_NAME: (
        "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171)}
    assert spec.post_fetch is datasets.extract_cifar10


def test_fetch_cifar10_downloads_verifies_and_extracts(tiny_cifar10, tmp_path):
    _, url = tiny_cifar10
    dest = tmp_path / "dest"
    logs = []
    datasets.fetch("cifar10", str(dest), base_url=url, log=logs.append)
    out = dest / cifar_format.BATCHES_DIR
    assert sorted(os.listdir(out)) == [".extracted-from-sha256", "batches.meta.txt",
                                       "data_batch_1.bin", "data_batch_2.bin", "test_batch.bin"]
    images, labels = cifar_format.read_batch(str(out / "data_batch_2.bin"))
    want_x, want_y = synthetic_cifar(3, 2)
    np.testing.assert_array_equal(images, want_x)
    np.testing.assert_array_equal(labels, want_y)
    assert any("extracting" in m for m in logs)
    assert [n for n in os.listdir(dest) if n.startswith(".")] == []
    # Second fetch: archive present and valid, batches already extracted from it.
    logs.clear()
    datasets.fetch("cifar10", str(dest), base_url=url, log=logs.append)
    assert any("already extracted" in m for m in logs)
    assert not any("extracting" in m for m in logs)


def test_fetch_cifar10_tampered_archive_is_neither_kept_nor_extracted(tiny_cifar10, tmp_path):
    root, url = tiny_cifar10
    (root / cifar_format.ARCHIVE_NAME).write_bytes(tiny_cifar_archive(records=4))
    dest = tmp_path / "dest"
    with pytest.raises(datasets.FetchError, match="cifar-10-binary.tar.gz: checksum mismatch"):
        datasets.fetch("cifar10", str(dest), base_url=url, log=lambda m: None)
    assert os.listdir(dest) == []
