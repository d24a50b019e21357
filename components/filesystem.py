"""File access for the input readers and the ExampleGens' shard writer: local paths,
gs:// and s3:// alike.

Every reader (IDX, CIFAR-10, image folders, text corpora) lists, tests and opens its
files through these helpers, and components/shard_writer.py writes records with them.
They go through TFX's own `tfx.dsl.io.fileio` and TensorFlow's record writer (gfile
underneath: local files, GCS, and S3 once tensorflow-io is loaded). The first s3:// path
a process touches loads the S3 plugin (trainer.runtime.object_store.enable_s3), so a Beam worker
reading or writing s3:// needs nothing else.

The helpers keep the semantics the readers had with os/glob on local files: `glob_files`
skips hidden names as Python's glob does and returns files only, sorted; `listdir` drops
the trailing "/" object stores put on folders.
"""
from __future__ import annotations

import io
import os
import posixpath
from typing import BinaryIO, List

import tensorflow as tf
from tfx.dsl.io import fileio

from trainer.runtime import object_store

# What listing or reading a file can raise: OSError (local files, TFX's NotFoundError)
# or a TensorFlow OpError (gfile on an object store: permission denied, unavailable...).
ERRORS = (OSError, tf.errors.OpError)


def _prepare(path: str) -> str:
    if object_store.is_s3(path):
        object_store.enable_s3()
    return path


def makedirs(folder: str) -> None:
    fileio.makedirs(_prepare(folder))


def gzip_record_writer(path: str) -> tf.io.TFRecordWriter:
    """A TFRecord writer with gzip compression, as TFX's ExampleGens write their splits."""
    return tf.io.TFRecordWriter(_prepare(path), options="GZIP")


def is_local(path: str) -> bool:
    return not object_store.is_remote(path)


def join(folder: str, *parts: str) -> str:
    """os.path.join for local paths, "/"-joined for URIs (without doubling a "/")."""
    if is_local(folder):
        return os.path.join(folder, *parts)
    return posixpath.join(folder.rstrip("/") + "/", *parts)


def basename(path: str) -> str:
    return os.path.basename(path) if is_local(path) else posixpath.basename(path.rstrip("/"))


def exists(path: str) -> bool:
    return fileio.exists(_prepare(path))


def isdir(path: str) -> bool:
    return fileio.isdir(_prepare(path))


def isfile(path: str) -> bool:
    return exists(path) and not isdir(path)


def size(path: str) -> int:
    """Size in bytes of an existing file."""
    return int(fileio.stat(_prepare(path)).length)


def listdir(folder: str) -> List[str]:
    """Entry names of `folder` (hidden ones included), unsorted as the store returns them."""
    return [name.rstrip("/") for name in fileio.listdir(_prepare(folder))]


def _visible(pattern: str, path: str) -> bool:
    """Python's glob never lets a wildcard match a leading "." of a name; gfile's does.
    (gfile patterns have no "**", so pattern parts map onto the path's last parts.)"""
    pat_parts = pattern.strip("/").split("/")
    names = path.rstrip("/").split("/")[-len(pat_parts):]
    return all(not name.startswith(".") or pat.startswith(".")
               for name, pat in zip(names, pat_parts))


def glob_files(folder: str, pattern: str) -> List[str]:
    """Sorted files (not folders) matching `pattern` relative to `folder`; no hidden names
    unless the pattern spells the dot."""
    found = fileio.glob(_prepare(join(folder, pattern)))
    return sorted(p for p in found if _visible(pattern, p) and not fileio.isdir(p))


def open_binary(path: str) -> BinaryIO:
    """A file opened for binary reading (seekable, sized)."""
    return fileio.open(_prepare(path), "rb")


class OwningReader:
    """A reader built on another file object (gzip/bz2 streams, a zip member) that closes
    those objects too: Python's decompressors leave a file object they were given open."""

    def __init__(self, reader, *owned):
        self._reader = reader
        self._owned = owned

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def __iter__(self):
        return iter(self._reader)

    def close(self) -> None:
        try:
            self._reader.close()
        finally:
            for obj in reversed(self._owned):
                obj.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class NamedBytesIO(io.BytesIO):
    """The whole content of a file, in memory, that still names its file: `repr` is the
    path's repr, as libraries print for a path argument (e.g. Pillow's "cannot identify
    image file '<path>'")."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name = name

    def __repr__(self) -> str:
        return repr(self.name)


def read_bytes(path: str) -> NamedBytesIO:
    with open_binary(path) as f:
        return NamedBytesIO(f.read(), path)


__all__ = ["ERRORS", "NamedBytesIO", "OwningReader", "basename", "exists", "glob_files",
           "is_local", "isdir", "isfile", "join", "listdir", "open_binary", "read_bytes",
           "size"]
