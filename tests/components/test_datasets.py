"""Downloads with checksum checks against a local http.server, and the embedded data."""
import hashlib
import os

import numpy as np
import pytest

from components import datasets, idx_format




@pytest.fixture
def tiny_dataset(monkeypatch, http_root):
    root, url = http_root
    files = {}
    for name, payload in {"a.bin": b"alpha" * 100, "b.bin": os.urandom(3000)}.items():
        (root / name).write_bytes(payload)
        files[name] = (hashlib.sha256(payload).hexdigest(), len(payload))
    spec = datasets.DatasetFiles(name="tiny", base_url="https://example.invalid/", files=files)
    monkeypatch.setitem(datasets.DATASETS, "tiny", spec)
    return root, url


def test_fetch_downloads_and_verifies(tiny_dataset, tmp_path):
    root, url = tiny_dataset
    dest = str(tmp_path / "dest")
    datasets.fetch("tiny", dest, base_url=url, log=lambda m: None)
    assert sorted(os.listdir(dest)) == ["a.bin", "b.bin"]
    assert (tmp_path / "dest" / "a.bin").read_bytes() == (root / "a.bin").read_bytes()
    # Second fetch: files present and valid, nothing downloaded (the server copy can vanish).
    (root / "a.bin").unlink()
    logs = []
    datasets.fetch("tiny", dest, base_url=url, log=logs.append)
    assert all("present, checksum ok" in m for m in logs)


def test_url_from_environment(tiny_dataset, tmp_path, monkeypatch):
    _, url = tiny_dataset
    monkeypatch.setenv("CLASSICS_TINY_URL", url)
    datasets.fetch("tiny", str(tmp_path / "d"), log=lambda m: None)
    assert len(os.listdir(tmp_path / "d")) == 2


def test_checksum_mismatch_keeps_nothing(tiny_dataset, tmp_path):
    root, url = tiny_dataset
    (root / "b.bin").write_bytes(b"tampered")
    dest = tmp_path / "dest"
    with pytest.raises(datasets.FetchError, match="b.bin: checksum mismatch"):
        datasets.fetch("tiny", str(dest), base_url=url, log=lambda m: None)
    assert sorted(os.listdir(dest)) == ["a.bin"]  # no partial or bad b.bin, no temp file


def test_missing_file_on_server(tiny_dataset, tmp_path):
    root, url = tiny_dataset
    (root / "a.bin").unlink()
    with pytest.raises(datasets.FetchError, match="a.bin: download failed: HTTP Error 404"):
        datasets.fetch("tiny", str(tmp_path / "d"), base_url=url, log=lambda m: None)
    assert os.listdir(tmp_path / "d") == []


def test_unknown_dataset(tmp_path):
    with pytest.raises(datasets.FetchError, match="unknown dataset 'nope'"):
        datasets.fetch("nope", str(tmp_path))


def test_mnist_entry_is_the_official_four_files():
    spec = datasets.DATASETS["mnist"]
    assert sorted(spec.files) == sorted(
        f"{p}-{k}-ubyte.gz" for p in ("train", "t10k") for k in ("images-idx3", "labels-idx1"))
    assert all(len(sha) == 64 for sha, _ in spec.files.values())


def test_embedded_mnist_is_written_once_as_idx(tmp_path):
    out = datasets.embedded_mnist(str(tmp_path))
    train = idx_format.validate_mnist_pair(os.path.join(out, "train-images-idx3-ubyte"),
                                           os.path.join(out, "train-labels-idx1-ubyte"))
    test = idx_format.validate_mnist_pair(os.path.join(out, "t10k-images-idx3-ubyte"),
                                          os.path.join(out, "t10k-labels-idx1-ubyte"))
    assert (train.count, test.count) == (4000, 1000)
    labels = idx_format.read_idx(os.path.join(out, "t10k-labels-idx1-ubyte"))
    assert set(np.unique(labels)) == set(range(10))  # shuffled, not sorted by class
    mtime = os.path.getmtime(os.path.join(out, "COMPLETE"))
    assert datasets.embedded_mnist(str(tmp_path)) == out
    assert os.path.getmtime(os.path.join(out, "COMPLETE")) == mtime
    assert [n for n in os.listdir(tmp_path) if n.startswith(".")] == []
