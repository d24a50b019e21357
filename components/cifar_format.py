"""Reader and writer for the CIFAR-10 binary format (https://www.cs.toronto.edu/~kriz/cifar.html).

`cifar-10-binary.tar.gz` unpacks to `cifar-10-batches-bin/` holding `data_batch_1.bin` ..
`data_batch_5.bin` (10,000 records each) and `test_batch.bin` (10,000). A batch file is a
plain concatenation of fixed-size records, no header:

    1 label byte (0..9) + 3072 pixel bytes = 3073 bytes

The 3072 pixel bytes are three 32x32 colour planes, red then green then blue, each in
row-major order. This module hands images out as uint8 [32, 32, 3] in HWC order (the
order of the `image` feature shared with the Transform and the Trainer).

Every check raises `CifarFormatError` naming the file (empty file, length not a multiple
of the record size, label byte out of range), so a bad download is reported as "which
file, what is wrong" before anything is written downstream. Batches are read through
components/filesystem.py (local, gs:// or s3://). `extract_archive` unpacks the official
tar.gz safely (no absolute paths, no `..`, no links or devices), locally.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tarfile
import tempfile
from typing import List, Sequence, Tuple

import numpy as np

from components import filesystem as fs
from components.input_errors import InputFileError

HEIGHT, WIDTH, CHANNELS = 32, 32, 3
IMAGE_SHAPE = (HEIGHT, WIDTH, CHANNELS)
NUM_CLASSES = 10
LABEL_BYTES = 1
PIXEL_BYTES = HEIGHT * WIDTH * CHANNELS  # 3072
RECORD_BYTES = LABEL_BYTES + PIXEL_BYTES  # 3073
# The class names in label order, as listed in the archive's batches.meta.txt.
LABEL_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck")

BATCHES_DIR = "cifar-10-batches-bin"
ARCHIVE_NAME = "cifar-10-binary.tar.gz"
TRAIN_PATTERN = "data_batch_*.bin"
TEST_PATTERN = "test_batch.bin"

_LABEL_SCAN_RECORDS = 4096  # records per chunk when checking label bytes


class CifarFormatError(InputFileError):
    """A file is not a well-formed CIFAR-10 binary batch."""


@dataclasses.dataclass(frozen=True)
class CifarBatch:
    """A validated batch file: `count` records of RECORD_BYTES each."""
    path: str
    count: int


def validate(path: str) -> CifarBatch:
    """Checks that `path` is a non-empty whole number of records with labels 0..9.

    Reads the file once, in blocks of records (local, gs:// or s3:// alike), and looks
    only at each record's label byte: one pass over the corpus, no decode.
    """
    if not fs.isfile(path):
        raise CifarFormatError(path, "file not found")
    size = fs.size(path)
    if size == 0:
        raise CifarFormatError(path, "empty file: no records")
    if size % RECORD_BYTES:
        raise CifarFormatError(
            path, f"wrong-length record: the file holds {size} bytes, which is not a "
                  f"multiple of the {RECORD_BYTES}-byte record ({LABEL_BYTES} label byte + "
                  f"{PIXEL_BYTES} pixel bytes); {size // RECORD_BYTES} whole records and "
                  f"{size % RECORD_BYTES} trailing bytes (truncated or not a CIFAR-10 "
                  f"binary batch)")
    count = size // RECORD_BYTES
    with fs.open_binary(path) as f:
        for start in range(0, count, _LABEL_SCAN_RECORDS):
            n = min(_LABEL_SCAN_RECORDS, count - start)
            block = f.read(n * RECORD_BYTES)
            if len(block) != n * RECORD_BYTES:  # the file shrank while it was read
                ended = start + len(block) // RECORD_BYTES
                raise CifarFormatError(path, f"truncated: expected {count} records, the "
                                             f"file ended in record {ended}")
            labels = np.frombuffer(block, dtype=np.uint8).reshape(n, RECORD_BYTES)[:, 0]
            bad = np.flatnonzero(labels >= NUM_CLASSES)
            if bad.size:
                i = int(bad[0])
                raise CifarFormatError(
                    path, f"record {start + i} (byte offset {(start + i) * RECORD_BYTES}) has "
                          f"label byte {int(labels[i])}, expected 0..{NUM_CLASSES - 1} "
                          f"({bad.size} bad labels in records {start}.."
                          f"{start + len(labels) - 1}; not a CIFAR-10 batch? CIFAR-100 "
                          f"records have 2 label bytes)")
    return CifarBatch(path=path, count=count)


def planes_to_hwc(pixels: np.ndarray) -> np.ndarray:
    """[n, 3072] bytes as stored (R plane, G plane, B plane) -> uint8 [n, 32, 32, 3]."""
    n = pixels.shape[0]
    return pixels.reshape(n, CHANNELS, HEIGHT, WIDTH).transpose(0, 2, 3, 1)


def hwc_to_planes(images: np.ndarray) -> np.ndarray:
    """uint8 [n, 32, 32, 3] -> [n, 3072] in the stored plane order."""
    n = images.shape[0]
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).reshape(n, PIXEL_BYTES)


def read_records(batch: CifarBatch, start: int, stop: int) -> Tuple[np.ndarray, np.ndarray]:
    """Records [start, stop) of a validated batch: (uint8 [n, 32, 32, 3], uint8 [n])."""
    start, stop = max(0, start), min(stop, batch.count)
    n = max(0, stop - start)
    with fs.open_binary(batch.path) as f:
        f.seek(start * RECORD_BYTES)
        data = f.read(n * RECORD_BYTES)
    if len(data) != n * RECORD_BYTES:  # the file changed since it was validated
        raise CifarFormatError(
            batch.path, f"truncated: expected {n} records from record {start}, "
                        f"read {len(data)} bytes")
    records = np.frombuffer(data, dtype=np.uint8).reshape(n, RECORD_BYTES)
    labels = records[:, 0]
    if n and labels.max() >= NUM_CLASSES:  # the file changed since it was validated
        i = int(np.argmax(labels >= NUM_CLASSES))
        raise CifarFormatError(
            batch.path, f"record {start + i} has label byte {int(labels[i])}, "
                        f"expected 0..{NUM_CLASSES - 1}")
    return planes_to_hwc(records[:, LABEL_BYTES:]), labels.copy()


def read_batch(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """A whole validated batch file: (uint8 [n, 32, 32, 3], uint8 [n])."""
    batch = validate(path)
    return read_records(batch, 0, batch.count)


def write_batch(path: str, images: np.ndarray, labels: Sequence[int]) -> None:
    """Writes HWC uint8 images + labels as a CIFAR-10 binary batch, atomically."""
    images = np.asarray(images, dtype=np.uint8)
    labels = np.asarray(labels)
    if images.shape[1:] != IMAGE_SHAPE or len(images) != len(labels):
        raise ValueError(f"{path}: expected [n, 32, 32, 3] images and n labels, got "
                         f"{images.shape} and {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(f"{path}: labels must be 0..{NUM_CLASSES - 1}")
    records = np.empty((len(labels), RECORD_BYTES), dtype=np.uint8)
    records[:, 0] = labels
    records[:, LABEL_BYTES:] = hwc_to_planes(images)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(records.tobytes())
    os.replace(tmp, path)


# ------------------------------------------------------------------------------ layout
def batches_dir(input_base: str) -> str:
    """The folder holding the .bin batches: `input_base` itself or its `cifar-10-batches-bin/`.

    So both `--data .../cifar-10-batches-bin` and `--data <fetch dest>` work.
    """
    if _glob(input_base, TRAIN_PATTERN) or _glob(input_base, TEST_PATTERN):
        return input_base
    nested = fs.join(input_base, BATCHES_DIR)
    if fs.isdir(nested):
        return nested
    problem = (f"no CIFAR-10 binary batches ({TRAIN_PATTERN}, {TEST_PATTERN}) here or in "
               f"{BATCHES_DIR}/")
    if fs.isfile(fs.join(input_base, ARCHIVE_NAME)):
        problem += (f"; found the unextracted {ARCHIVE_NAME}: `classics data fetch cifar10 "
                    f"--dest {input_base}` checks and extracts it")
    raise CifarFormatError(input_base, problem)


def _glob(folder: str, pattern: str) -> List[str]:
    return fs.glob_files(folder, pattern)


def find_batches(folder: str, pattern: str) -> List[str]:
    """The batch files matching `pattern` in `folder` (at least one, else an error)."""
    files = _glob(folder, pattern)
    if not files:
        raise CifarFormatError(fs.join(folder, pattern), "no file matches")
    return files


# ----------------------------------------------------------------------------- archive
class UnsafeArchiveError(CifarFormatError):
    """The archive holds a member that would land outside the target folder."""


def _check_member(archive: str, member: tarfile.TarInfo) -> None:
    name = member.name
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(
            archive, f"member {name!r} has an absolute path; refusing to extract")
    if ".." in parts:
        raise UnsafeArchiveError(archive, f"member {name!r} contains '..'; refusing to extract")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchiveError(
            archive, f"member {name!r} is a link or special file; refusing to extract")


def extract_archive(archive: str, dest: str) -> str:
    """Extracts `cifar-10-binary.tar.gz` into `dest`, returning `dest/cifar-10-batches-bin`.

    Every member is checked before anything is written (regular files and folders only,
    relative paths without `..`); the archive is unpacked into a temporary folder inside
    `dest` and its `cifar-10-batches-bin/` renamed into place, so an interrupted
    extraction never leaves a half-filled batches folder. An existing batches folder is
    replaced. The extracted batches are validated.
    """
    out = os.path.join(dest, BATCHES_DIR)
    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError) as e:
        raise CifarFormatError(archive, f"not a readable tar.gz archive: {e}") from e
    tmp = tempfile.mkdtemp(prefix=".cifar-extract.", dir=dest)
    try:
        with tar:
            try:
                members = tar.getmembers()
            except (tarfile.TarError, OSError, EOFError) as e:
                raise CifarFormatError(archive, f"corrupt tar.gz archive: {e}") from e
            for member in members:
                _check_member(archive, member)
            if not any(m.name.split("/")[0] == BATCHES_DIR for m in members):
                raise CifarFormatError(archive, f"holds no {BATCHES_DIR}/ folder")
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            try:
                tar.extractall(tmp, members=members, **kwargs)  # noqa: S202 (checked above)
            except (tarfile.TarError, OSError, EOFError) as e:
                raise CifarFormatError(archive, f"corrupt tar.gz archive: {e}") from e
        extracted = os.path.join(tmp, BATCHES_DIR)
        for path in _glob(extracted, TRAIN_PATTERN) + _glob(extracted, TEST_PATTERN):
            try:
                validate(path)
            except CifarFormatError as e:
                member = os.path.relpath(path, tmp)
                raise CifarFormatError(archive, f"member {member}: {e.problem}") from e
        if not _glob(extracted, TRAIN_PATTERN):
            raise CifarFormatError(archive, f"{BATCHES_DIR}/ holds no {TRAIN_PATTERN} file")
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(extracted, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
