r"""Mirrors an s3:// model repository into a local folder TF Serving reads.

TF Serving 2.7 and later cannot read s3:// (its S3 filesystem was removed; only local
paths and gs:// remain), while the pipeline's Pusher writes `<repository>/<model>/
<version>/` to S3 on Kubeflow. This program runs next to TF Serving (a sidecar sharing
an emptyDir mounted at /models, see k8s/overlays/s3) and keeps that folder equal to the
repository's complete versions:

    python -m trainer.serving.model_sync --source s3://mlpipeline/serving \
        --dest /models --interval 30

- A version appears only complete. TFX's Pusher copies straight into the final version
  folder (every file, then `saved_model.pb` last), so completeness is read from the
  content: `saved_model.pb`, `variables/variables.index` and every
  `variables.data-NNNNN-of-MMMMM` shard the index announces. It is downloaded into
  a hidden folder beside its final place (`<model>/.sync-<version>-<random>`), the sizes
  checked, and renamed into place in one step: TF Serving, which ignores names that are
  not integers, never sees a partial version.
- A version deleted upstream disappears here: renamed to a hidden name, then removed.
- Hidden `.sync-*` / `.drop-*` folders left by an interrupted pass are removed.
- Versions are immutable (TF Serving's own assumption): one already here is not
  downloaded again.

Settings come from trainer/runtime/object_store.py (endpoint, region from the environment;
credentials read by boto3 from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). A failed pass
is logged and retried at the next interval; nothing local is deleted when the listing
fails. `--once` runs one pass and exits non-zero if it failed (an initContainer, a test).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from trainer.runtime import object_store
from trainer.serving.model_config import (SAVED_MODEL_FILE, ServingConfigError,
                                          validate_model_name)

VARIABLES_INDEX = "variables/variables.index"
_SHARD = re.compile(r"^variables/variables\.data-(\d+)-of-(\d+)$")
_VERSION = re.compile(r"^[0-9]+$")
_INT64_MAX = 2 ** 63 - 1
TEMP_PREFIX = ".sync-"
DROP_PREFIX = ".drop-"


class SyncError(RuntimeError):
    """A pass could not finish (listing or download failed); the local folder is intact."""


@dataclasses.dataclass(frozen=True)
class RemoteVersion:
    model: str
    version: int
    prefix: str  # key prefix of the version folder, ending in "/"
    files: Dict[str, int]  # path relative to the version folder -> size in bytes


def _varint(data: bytes, pos: int) -> Tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def index_num_shards(index: bytes) -> Optional[int]:
    """How many `variables.data-*` shards a checkpoint's `variables.index` announces.

    The index is a LevelDB-format table whose first entry (empty key, first block,
    stored uncompressed by TensorFlow's BundleWriter) is a BundleHeaderProto; field 1 is
    `num_shards`. None when the bytes do not look like that (then the shard names decide).
    """
    try:
        shared, pos = _varint(index, 0)
        key_len, pos = _varint(index, pos)
        value_len, pos = _varint(index, pos)
        if shared or key_len or pos + value_len > len(index):
            return None
        header, pos = index[pos:pos + value_len], 0
        while pos < len(header):
            tag, pos = _varint(header, pos)
            field, wire = tag >> 3, tag & 7
            if wire == 0:
                value, pos = _varint(header, pos)
                if field == 1:
                    return value
            elif wire == 2:
                length, pos = _varint(header, pos)
                pos += length
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            else:
                return None
    except ValueError:
        return None
    return None


def missing_files(files: Dict[str, int], num_shards: Optional[int] = None) -> List[str]:
    """What a SavedModel version still lacks (empty: complete). With `num_shards` (from
    its variables.index) every data shard is required; without, the shard names present
    announce how many there are."""
    missing = [f for f in (SAVED_MODEL_FILE, VARIABLES_INDEX) if f not in files]
    shards = [m for m in map(_SHARD.match, files) if m]
    totals = {num_shards} if num_shards else {int(m.group(2)) for m in shards}
    for total in sorted(totals):
        have = {int(m.group(1)) for m in shards if int(m.group(2)) == total}
        missing += [f"variables/variables.data-{i:05d}-of-{total:05d}"
                    for i in range(total) if i not in have]
    return missing


def list_repository(client, source: str) -> Dict[Tuple[str, int], RemoteVersion]:
    """Every `<model>/<int version>/` under `source` with its files (complete or not).
    Names TF Serving would not load (bad model names, non-integer versions) are skipped."""
    bucket, root = object_store.split_s3(source)
    root = root.strip("/")
    prefix = f"{root}/" if root else ""
    found: Dict[Tuple[str, int], Dict[str, int]] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                  Prefix=prefix):
        for obj in page.get("Contents", []):
            parts = obj["Key"][len(prefix):].split("/", 2)
            if len(parts) < 3 or not parts[2] or parts[2].endswith("/"):
                continue  # not a file inside a version folder (or a directory marker)
            model, version, rel = parts
            if not _VERSION.match(version) or int(version) > _INT64_MAX:
                continue
            try:
                validate_model_name(model)
            except ServingConfigError:
                continue
            found.setdefault((model, int(version)), {})[rel] = int(obj["Size"])
    return {key: RemoteVersion(key[0], key[1], f"{prefix}{key[0]}/{key[1]}/", files)
            for key, files in found.items()}


def local_versions(dest: str) -> Dict[Tuple[str, int], str]:
    """`(model, version) -> folder` of the versions in `dest` (hidden names skipped)."""
    out: Dict[Tuple[str, int], str] = {}
    if not os.path.isdir(dest):
        return out
    for model in os.listdir(dest):
        model_dir = os.path.join(dest, model)
        if model.startswith(".") or not os.path.isdir(model_dir):
            continue
        for version in os.listdir(model_dir):
            if _VERSION.match(version) and os.path.isdir(os.path.join(model_dir, version)):
                out[(model, int(version))] = os.path.join(model_dir, version)
    return out


def remove_leftovers(dest: str) -> List[str]:
    """Removes `.sync-*` / `.drop-*` folders an interrupted pass left behind."""
    removed = []
    if not os.path.isdir(dest):
        return removed
    for model in os.listdir(dest):
        model_dir = os.path.join(dest, model)
        if model.startswith(".") or not os.path.isdir(model_dir):
            continue
        for name in os.listdir(model_dir):
            if name.startswith((TEMP_PREFIX, DROP_PREFIX)):
                shutil.rmtree(os.path.join(model_dir, name), ignore_errors=True)
                removed.append(os.path.join(model_dir, name))
    return removed


def _download(client, bucket: str, remote: RemoteVersion, dest: str) -> str:
    """Downloads one version beside its final place, then renames it in; returns it."""
    model_dir = os.path.join(dest, remote.model)
    os.makedirs(model_dir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{remote.version}-", dir=model_dir)
    try:
        for rel, size in sorted(remote.files.items()):
            target = os.path.join(tmp, *rel.split("/"))
            if not os.path.realpath(target).startswith(os.path.realpath(tmp) + os.sep):
                raise SyncError(f"{remote.prefix}{rel}: object name escapes its folder")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            client.download_file(bucket, remote.prefix + rel, target)
            if os.path.getsize(target) != size:
                raise SyncError(f"s3://{bucket}/{remote.prefix}{rel}: downloaded "
                                f"{os.path.getsize(target)} bytes, listed {size}")
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; TF Serving may run as another user
        final = os.path.join(model_dir, str(remote.version))
        os.rename(tmp, final)
        return final
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _drop(folder: str) -> None:
    """Takes a version out of TF Serving's sight in one rename, then deletes it."""
    parent, name = os.path.split(folder)
    hidden = tempfile.mkdtemp(prefix=f"{DROP_PREFIX}{name}-", dir=parent)
    os.rename(folder, os.path.join(hidden, name))
    shutil.rmtree(hidden, ignore_errors=True)


@dataclasses.dataclass
class PassResult:
    added: List[str] = dataclasses.field(default_factory=list)
    removed: List[str] = dataclasses.field(default_factory=list)
    waiting: List[str] = dataclasses.field(default_factory=list)  # incomplete upstream

    def lines(self) -> List[str]:
        return ([f"synced {p}" for p in self.added] + [f"removed {p}" for p in self.removed]
                + [f"waiting for {p}" for p in self.waiting])


def sync_once(client, source: str, dest: str) -> PassResult:
    """One pass: download new complete versions, drop versions deleted upstream."""
    bucket, _ = object_store.split_s3(source)
    os.makedirs(dest, exist_ok=True)
    remove_leftovers(dest)
    try:
        remote = list_repository(client, source)
    except Exception as e:  # pylint: disable=broad-except  (botocore errors, no network)
        raise SyncError(f"{source}: cannot list the repository: {e}") from e
    here = local_versions(dest)
    result = PassResult()
    for key in sorted(remote):
        version = remote[key]
        if key in here:
            continue
        name = f"{key[0]}/{key[1]}"
        missing = missing_files(version.files)
        if not missing:  # the index says how many shards there must be
            try:
                index = client.get_object(Bucket=bucket, Key=version.prefix + VARIABLES_INDEX)
                missing = missing_files(version.files, index_num_shards(index["Body"].read()))
            except Exception as e:  # pylint: disable=broad-except  (botocore errors)
                raise SyncError(f"{source}/{name}: cannot read {VARIABLES_INDEX}: {e}") from e
        if missing:
            result.waiting.append(f"{name} (missing {', '.join(missing[:3])})")
            continue
        try:
            _download(client, bucket, version, dest)
        except SyncError:
            raise
        except Exception as e:  # pylint: disable=broad-except  (botocore, a full disk)
            raise SyncError(f"{source}/{name}: download failed: {e}") from e
        result.added.append(name)
    for key, folder in sorted(here.items()):
        if key not in remote:
            _drop(folder)
            result.removed.append(f"{key[0]}/{key[1]}")
    return result


def run(client, source: str, dest: str, interval: float, once: bool = False,
        log: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep,
        passes: Optional[int] = None) -> int:
    """Syncs every `interval` seconds (forever, or `passes` times); returns an exit code."""
    done = 0
    while True:
        try:
            for line in sync_once(client, source, dest).lines():
                log(line)
            ok = True
        except SyncError as e:
            log(f"error: {e}")
            ok = False
        done += 1
        if once:
            return 0 if ok else 1
        if passes is not None and done >= passes:
            return 0
        sleep(interval)


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m trainer.serving.model_sync",
                                description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--source", required=True,
                   help="the s3:// model repository the Pusher writes (<model>/<version>/)")
    p.add_argument("--dest", required=True, help="the local folder TF Serving reads")
    p.add_argument("--interval", type=_positive, default=30.0,
                   help="seconds between passes (default 30)")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--endpoint-url", help="S3 endpoint (default: from the environment, "
                                          "S3_ENDPOINT / AWS_ENDPOINT_URL_S3; none: AWS)")
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not object_store.is_s3(args.source):
        hint = (" TF Serving reads gs:// itself: point model_base_path at it "
                "(k8s/overlays/gcs)" if object_store.is_remote(args.source) else "")
        parser.error(f"--source {args.source!r}: expected an s3:// URI.{hint}")
    try:
        settings = object_store.S3Settings.from_env(endpoint_url=args.endpoint_url)
    except ValueError as e:
        parser.error(str(e))
    # Kubernetes stops a pod with SIGTERM: leave at once; a half download stays hidden
    # and is removed by the next start.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log = lambda line: print(line, flush=True)  # noqa: E731
    log(f"model sync: {args.source} -> {args.dest} every {args.interval:g} s "
        f"(endpoint {settings.endpoint_url or 'AWS'})")
    return run(settings.client(), args.source, args.dest, args.interval, once=args.once,
               log=log)


if __name__ == "__main__":
    sys.exit(main())
