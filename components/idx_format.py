"""Reader and writer for the IDX format of the MNIST files (http://yann.lecun.com/exdb/mnist/).

An IDX file is a big-endian header (two zero bytes, a type code, the number of
dimensions, then one uint32 per dimension) followed by the data in C order. Files may be
gzip-compressed; that is detected from the gzip magic bytes, not the file name.

Every check raises `IdxFormatError` naming the file, so a bad download is reported as
"which file, what is wrong" before anything is written downstream. Files are read
through components/filesystem.py: a path may be local, gs:// or s3:// (writing is local).
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import os
import struct
import zlib
from typing import BinaryIO, Tuple

import numpy as np

from components import filesystem as fs
from components.input_errors import InputFileError

GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> numpy dtype (big-endian where it matters).
_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {v.newbyteorder(">") if v.itemsize > 1 else v: k for k, v in _DTYPES.items()}

# The MNIST "magic numbers" are the first four header bytes read as one big-endian int.
MNIST_IMAGES_MAGIC = 0x00000803  # 2051: uint8, 3 dimensions
MNIST_LABELS_MAGIC = 0x00000801  # 2049: uint8, 1 dimension

_READ_CHUNK = 1 << 20


class IdxFormatError(InputFileError):
    """A file is not a well-formed IDX file, or does not fit the file it is paired with."""


@dataclasses.dataclass(frozen=True)
class IdxHeader:
    path: str
    magic: int
    dtype: np.dtype
    shape: Tuple[int, ...]
    data_offset: int
    compressed: bool

    @property
    def count(self) -> int:
        return self.shape[0]

    @property
    def record_shape(self) -> Tuple[int, ...]:
        return self.shape[1:]

    @property
    def record_bytes(self) -> int:
        return int(np.prod(self.record_shape, dtype=np.int64)) * self.dtype.itemsize


def _is_gzip(path: str) -> bool:
    with fs.open_binary(path) as f:
        return f.read(2) == GZIP_MAGIC


def open_idx(path: str) -> BinaryIO:
    """Opens an IDX file (local, gs:// or s3://) for binary reading, transparently
    un-gzipping it."""
    if not fs.isfile(path):
        raise IdxFormatError(path, "file not found")
    f = fs.open_binary(path)
    compressed = f.read(2) == GZIP_MAGIC
    f.seek(0)
    if compressed:
        return fs.OwningReader(gzip.GzipFile(fileobj=f, mode="rb"), f)  # type: ignore
    return f


def _read_exact(f: BinaryIO, n: int, path: str, what: str) -> bytes:
    try:
        data = f.read(n)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise IdxFormatError(path, f"corrupt gzip data while reading {what}: {e}") from e
    if len(data) != n:
        raise IdxFormatError(
            path, f"truncated: expected {n} bytes of {what}, found {len(data)}")
    return data


def read_header(path: str) -> IdxHeader:
    """Reads and checks the header only (cheap: no data is decompressed past it)."""
    with open_idx(path) as f:
        head = _read_exact(f, 4, path, "header")
        zero, code, ndim = struct.unpack(">HBB", head)
        magic = struct.unpack(">I", head)[0]
        if zero != 0 or code not in _DTYPES:
            raise IdxFormatError(
                path, f"not an IDX file: bad magic number 0x{magic:08x}")
        if ndim == 0:
            raise IdxFormatError(path, "IDX header declares 0 dimensions")
        dims = struct.unpack(f">{ndim}I", _read_exact(f, 4 * ndim, path, "dimensions"))
    return IdxHeader(path=path, magic=magic, dtype=_DTYPES[code], shape=tuple(dims),
                     data_offset=4 + 4 * ndim, compressed=_is_gzip(path))


def validate(path: str, expected_magic: int | None = None) -> IdxHeader:
    """Checks header, magic number and that the data length matches the header exactly.

    For gzip files the whole stream is decompressed (in chunks) to find truncation or
    corrupt data up front, before a pipeline writes anything.
    """
    header = read_header(path)
    if expected_magic is not None and header.magic != expected_magic:
        raise IdxFormatError(
            path, f"wrong magic number 0x{header.magic:08x}, expected "
                  f"0x{expected_magic:08x} ({expected_magic})")
    expected = header.count * header.record_bytes
    with open_idx(path) as f:
        _read_exact(f, header.data_offset, path, "header")
        found = 0
        try:
            while True:
                chunk = f.read(_READ_CHUNK)
                if not chunk:
                    break
                found += len(chunk)
        except (OSError, EOFError, zlib.error) as e:
            raise IdxFormatError(path, f"corrupt gzip data: {e}") from e
    if found < expected:
        raise IdxFormatError(
            path, f"truncated: header declares {header.count} records "
                  f"({expected} data bytes) but the file holds {found}")
    if found > expected:
        raise IdxFormatError(
            path, f"{found - expected} unexpected trailing bytes after "
                  f"{header.count} records")
    return header


def read_records(header: IdxHeader, start: int, stop: int) -> np.ndarray:
    """Reads records [start, stop) of a validated file as an array of header.record_shape."""
    start, stop = max(0, start), min(stop, header.count)
    n = max(0, stop - start)
    with open_idx(header.path) as f:
        f.seek(header.data_offset + start * header.record_bytes)
        data = _read_exact(f, n * header.record_bytes, header.path, "records")
    arr = np.frombuffer(data, dtype=header.dtype).reshape((n,) + header.record_shape)
    return arr.astype(header.dtype.newbyteorder("="), copy=False)


def read_idx(path: str, expected_magic: int | None = None) -> np.ndarray:
    """Reads a whole IDX file into a numpy array (native byte order)."""
    header = validate(path, expected_magic)
    return read_records(header, 0, header.count)


def write_idx(path: str, array: np.ndarray, compress: bool | None = None) -> None:
    """Writes `array` as IDX, atomically (a temp file renamed into place).

    `compress` defaults to gzip when the name ends in `.gz`.
    """
    array = np.asarray(array)
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if dtype not in _CODES:
        raise ValueError(f"{path}: dtype {array.dtype} has no IDX type code")
    if compress is None:
        compress = path.endswith(".gz")
    buf = io.BytesIO()
    buf.write(struct.pack(">HBB", 0, _CODES[dtype], array.ndim))
    buf.write(struct.pack(f">{array.ndim}I", *array.shape))
    buf.write(np.ascontiguousarray(array, dtype=dtype).tobytes())
    payload = buf.getvalue()
    if compress:
        payload = gzip.compress(payload, mtime=0)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(payload)
    os.replace(tmp, path)


@dataclasses.dataclass(frozen=True)
class MnistPair:
    images: IdxHeader
    labels: IdxHeader

    @property
    def count(self) -> int:
        return self.images.count


MNIST_NUM_CLASSES = 10


def validate_mnist_pair(images_path: str, labels_path: str,
                        num_classes: int = MNIST_NUM_CLASSES) -> MnistPair:
    """Validates an MNIST images/labels pair: magic numbers, dimensions, matching counts,
    and every label a class id 0..num_classes-1 (a label file is small: read whole)."""
    images = validate(images_path, MNIST_IMAGES_MAGIC)
    labels = validate(labels_path, MNIST_LABELS_MAGIC)
    if len(images.shape) != 3 or min(images.shape[1:]) == 0:
        raise IdxFormatError(images_path, f"expected [N, rows, cols] images, got {images.shape}")
    if images.count != labels.count:
        raise IdxFormatError(
            labels_path, f"holds {labels.count} labels but {images_path} holds "
                         f"{images.count} images")
    values = read_records(labels, 0, labels.count)
    bad = np.flatnonzero(values >= num_classes)
    if bad.size:
        i = int(bad[0])
        raise IdxFormatError(
            labels_path, f"label {int(values[i])} at record {i} is not a class id "
                         f"0..{num_classes - 1} ({bad.size} bad label(s))")
    return MnistPair(images=images, labels=labels)

