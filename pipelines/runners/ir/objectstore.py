"""The launcher's object store: which bucket and key an artifact URI names, and the copies
between a bucket and the pod's local paths.

Read from kubeflow/pipelines at tag 2.17.0, `backend/src/v2/objectstore/`:
- config.go ParseBucketPathToConfig (ParseBucketConfig without session info),
  ParseBucketConfigForArtifactURI, Config.PrefixedBucket and Config.KeyFromURI;
- object_store.go UploadBlob (a file, or a folder walked recursively; empty folders
  leave nothing) and DownloadBlob (every object listed under the key, each written by
  downloadFile after sanitizeDownloadPath and isBlobKeyUnderPrefix).

OpenBucket opens a gocloud bucket with the session the KFP install configures (the
kfp-launcher ConfigMap, or the mlpipeline-minio-artifact Secret). Here a boto3 client
made by trainer.runtime.object_store.S3Settings stands in for it: the endpoint, region
and keys this shell's environment gives every process of this project. Only s3:// is
opened; the backend's gs://, minio:// and mem:// buckets have no stand-in here.
"""
from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from typing import List, Optional

from trainer.runtime import object_store

# config.go bucketPattern
_BUCKET_PATTERN = re.compile(r"(^[a-z][a-z0-9]+:///?)([^/?]+)(/[^?]*)?(\?.+)?$")
BACKEND_SCHEMES = ("gs://", "s3://", "minio://", "mem://")
OPENED_SCHEMES = ("s3://",)


class ObjectStoreError(RuntimeError):
    """What the backend's objectstore package fails with."""


@dataclasses.dataclass(frozen=True)
class BucketConfig:
    """config.go Config (SessionInfo aside)."""
    scheme: str
    bucket_name: str
    prefix: str = ""
    query_string: str = ""

    def prefixed_bucket(self) -> str:
        """PrefixedBucket: scheme + path.Join(bucket, prefix) (Go's Join drops the
        trailing slash)."""
        return self.scheme + posixpath.normpath(posixpath.join(self.bucket_name,
                                                               self.prefix))

    def key_from_uri(self, uri: str) -> str:
        """KeyFromURI: the key under the prefixed bucket, leading slashes trimmed."""
        prefixed = self.prefixed_bucket()
        if not uri.startswith(prefixed):
            raise ObjectStoreError(f"URI {uri!r} does not have expected bucket prefix "
                                   f"{prefixed!r}")
        key = uri[len(prefixed):].lstrip("/")
        if not key:
            raise ObjectStoreError(f"URI {uri!r} has empty key given prefixed bucket "
                                   f"{prefixed!r}")
        return key

    def s3_key(self, key: str) -> str:
        """The object's key in the bucket itself (blob.PrefixedBucket prepends the
        prefix)."""
        return self.prefix + key


def _match(path: str, what: str):
    found = _BUCKET_PATTERN.match(path)
    if not found:
        raise ObjectStoreError(f"parse bucket config failed: unrecognized {what} format: "
                               f"{path!r}")
    if found.group(1) not in BACKEND_SCHEMES:
        raise ObjectStoreError(f"parse bucket config failed: unsupported Cloud bucket: "
                               f"{path!r}")
    return found


def parse_bucket_config(path: str) -> BucketConfig:
    """ParseBucketPathToConfig: the pipeline root's bucket, its prefix ending in "/"."""
    found = _match(path, "pipeline root")
    prefix = found.group(3) or ""
    prefix = prefix[1:] if prefix.startswith("/") else prefix  # strings.TrimPrefix
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return BucketConfig(found.group(1), found.group(2), prefix, found.group(4) or "")


def parse_bucket_config_for_artifact_uri(uri: str) -> BucketConfig:
    """ParseBucketConfigForArtifactURI: the bucket alone, no prefix."""
    found = _match(uri, "uri")
    return BucketConfig(found.group(1), found.group(2))


class Bucket:
    """An opened bucket under a config's prefix (blob.PrefixedBucket), through boto3."""

    def __init__(self, config: BucketConfig, client):
        if config.scheme not in OPENED_SCHEMES:
            raise ObjectStoreError(f"{config.scheme}{config.bucket_name}: only s3:// "
                                   "buckets are opened here")
        self.config = config
        self.client = client

    def list(self, prefix: str) -> List[str]:
        """Keys (relative to the config's prefix) that start with `prefix`, in the
        store's order (S3 lists keys sorted)."""
        keys = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.config.bucket_name,
                                       Prefix=self.config.s3_key(prefix)):
            keys += [o["Key"][len(self.config.prefix):] for o in page.get("Contents", [])]
        return keys

    def upload_file(self, local_path: str, key: str) -> None:
        self.client.upload_file(local_path, self.config.bucket_name, self.config.s3_key(key))

    def download_fileobj(self, key: str, file) -> None:
        self.client.download_fileobj(self.config.bucket_name, self.config.s3_key(key), file)


def open_bucket(config: BucketConfig, settings: Optional[object_store.S3Settings] = None
                ) -> Bucket:
    """OpenBucket, with the S3 settings of this shell's environment as the session."""
    settings = settings or object_store.S3Settings.from_env()
    return Bucket(config, settings.client())


def upload_blob(bucket: Bucket, local_path: str, blob_path: str) -> None:
    """UploadBlob. A missing local path raises FileNotFoundError (the launcher lets a
    component leave an output unwritten)."""
    if not os.path.isdir(local_path):
        if not os.path.exists(local_path):
            raise FileNotFoundError(f"unable to stat local filepath {local_path!r}")
        _upload_file(bucket, local_path, blob_path)
        return
    for name in sorted(os.listdir(local_path)):
        path = os.path.join(local_path, name)
        if os.path.isdir(path):
            upload_blob(bucket, path, blob_path + "/" + name)
        else:
            _upload_file(bucket, path, posixpath.join(blob_path, name))


def _upload_file(bucket: Bucket, local_path: str, blob_path: str) -> None:
    try:
        bucket.upload_file(local_path, blob_path)
    except Exception as e:  # pylint: disable=broad-except  (botocore's and OS errors)
        raise ObjectStoreError(f"uploadFile(): unable to complete copying {local_path!r} "
                               f"to remote storage {blob_path!r}: {e}") from e


def is_blob_key_under_prefix(key: str, blob_dir: str) -> bool:
    """isBlobKeyUnderPrefix."""
    blob_dir = blob_dir.rstrip("/")
    return key == blob_dir or key.startswith(blob_dir + "/")


def sanitize_download_path(local_dir: str, blob_dir: str, key: str) -> str:
    """sanitizeDownloadPath: filepath.Join(localDir, filepath.Rel(blobDir, key)), refused
    when it leaves localDir. Go's Rel and Join clean the result, so a folder marker
    (a key ending in "/") names the folder itself."""
    if ".." in key.split("/"):
        raise ObjectStoreError(f"path traversal detected: blob key {key!r} contains '..' "
                               "component")
    relative = os.path.relpath(key, blob_dir)
    local_path = os.path.normpath(os.path.join(local_dir, relative))
    root = os.path.abspath(local_dir)
    if os.path.abspath(local_path) != root and \
            not os.path.abspath(local_path).startswith(root + os.sep):
        raise ObjectStoreError(f"path traversal detected: blob key {key!r} resolves to "
                               f"{local_path!r} which is outside target directory "
                               f"{local_dir!r}")
    return local_path


def download_blob(bucket: Bucket, local_dir: str, blob_dir: str) -> None:
    """DownloadBlob: each object listed under `blob_dir` to its path under `local_dir`.
    downloadFile makes the file's folder and creates the file (os.Create): a key ending
    in "/" becomes an empty file where a folder's objects then cannot go, as there."""
    try:
        keys = bucket.list(blob_dir)
    except Exception as e:  # pylint: disable=broad-except  (botocore's errors)
        raise ObjectStoreError(f"failed to list objects in remote storage {blob_dir!r}: "
                               f"{e}") from e
    for key in keys:
        if not is_blob_key_under_prefix(key, blob_dir):
            continue
        local_path = sanitize_download_path(local_dir, blob_dir, key)
        try:
            os.makedirs(os.path.dirname(local_path), exist_ok=True)
            with open(local_path, "wb") as f:
                bucket.download_fileobj(key, f)
        except Exception as e:  # pylint: disable=broad-except  (OS and botocore errors)
            raise ObjectStoreError(f"downloadFile(): unable to complete copying {key!r} to "
                                   f"local storage {local_path!r}: {e}") from e
