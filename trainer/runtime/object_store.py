"""Object storage (s3://, gs://) for every process of this project: the S3 settings read
from the environment, what TensorFlow's S3 plugin and Beam need from them, and the exit
that tensorflow-io's S3 plugin forces on a process that used it.

Who reads what (one source, the environment, so a Secret + ConfigMap configure a pod):

- credentials: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (optionally
  `AWS_SESSION_TOKEN`), read by boto3 (Beam's S3 filesystem, the model sync) and by the
  AWS SDK inside tensorflow-io. They are never copied into Beam args, the compiled
  pipeline or a log line.
- endpoint (MinIO, SeaweedFS, Ceph, moto; unset for AWS): `S3_ENDPOINT` (a URL, or
  `host:port` with `S3_USE_HTTPS=0|1`), or boto3's own `AWS_ENDPOINT_URL_S3` /
  `AWS_ENDPOINT_URL`; region `AWS_REGION` (or `AWS_DEFAULT_REGION`); `S3_VERIFY_SSL=0`
  turns certificate checks off for TensorFlow (use `AWS_CA_BUNDLE` / `S3_CA_FILE` for a
  private CA instead where possible).

`enable_s3()` writes the normalised variables back (so Beam workers and child processes
see the same endpoint) and imports tensorflow_io, which registers TensorFlow's `s3://`
filesystem (S3 left TensorFlow core in 2.6). It must run in every process that touches
s3:// with TensorFlow: TFX's LocalDagRunner runs executors in-process, but on Kubeflow
each component is its own container (hence trainer/runtime/kfp_entrypoint.py).

It also gives TFX's fileio an s3:// filesystem whose makedirs leaves a folder marker (a
zero-byte "<folder>/" object, what TensorFlow's GCS filesystem and the S3 console
write). tensorflow-io's makedirs writes nothing, so an output folder a component leaves
empty (Transform's analyzer cache, for one) does not exist on S3; TFX only reuses a
cached execution whose outputs all exist (tfx/types/artifact_utils.verify_artifacts), so
without markers Transform and everything after it would never come from the cache.

tensorflow-io 0.37.1 (the last release for TF 2.16) aborts at interpreter exit once its
S3 client was used ("pure virtual method called", SIGABRT, exit 134; tensorflow/io
#1912, #2039; the fix is unreleased). `exit_process` therefore ends such a process with
`os._exit` after flushing stdio and logging, so success exits 0 and failure keeps its own
code. Nothing here imports TensorFlow until `enable_s3` runs.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import sys
from typing import Dict, List, MutableMapping, Optional, Tuple
from urllib.parse import urlsplit

S3_SCHEME = "s3://"
GCS_SCHEME = "gs://"
REMOTE_SCHEMES = (S3_SCHEME, GCS_SCHEME)
# Checked in this order; the first one set names the endpoint.
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "S3_ENDPOINT")
REGION_VARIABLES = ("AWS_REGION", "AWS_DEFAULT_REGION")

_active: Optional["S3Settings"] = None  # set once TensorFlow's S3 plugin is loaded here


def is_s3(uri: object) -> bool:
    return isinstance(uri, str) and uri.startswith(S3_SCHEME)


def is_remote(uri: object) -> bool:
    """True for object-store URIs (s3://, gs://); False for local paths."""
    return isinstance(uri, str) and uri.startswith(REMOTE_SCHEMES)


def split_s3(uri: str) -> Tuple[str, str]:
    """`s3://bucket/a/b` -> ("bucket", "a/b")."""
    if not is_s3(uri):
        raise ValueError(f"{uri}: not an s3:// URI")
    bucket, _, key = uri[len(S3_SCHEME):].partition("/")
    if not bucket:
        raise ValueError(f"{uri}: no bucket name after s3://")
    return bucket, key


def _flag(value: Optional[str], default: bool) -> bool:
    return default if value in (None, "") else value.strip().lower() not in ("0", "false", "no")


def _endpoint_url(value: str, source: str, use_https: bool) -> str:
    if "://" not in value:  # TensorFlow's classic host:port form
        value = f"{'https' if use_https else 'http'}://{value}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.path not in ("", "/") or parts.query:
        raise ValueError(f"S3 endpoint {value!r} (from {source}): expected "
                         "http(s)://host[:port], e.g. http://minio.kubeflow:9000")
    return f"{parts.scheme}://{parts.netloc}"


@dataclasses.dataclass(frozen=True)
class S3Settings:
    """Where s3:// lives. Credentials are not fields: they stay in the environment."""
    endpoint_url: Optional[str] = None  # None: AWS's own endpoints
    region: Optional[str] = None
    verify_ssl: bool = True

    @classmethod
    def from_env(cls, environ: Optional[MutableMapping[str, str]] = None,
                 endpoint_url: Optional[str] = None) -> "S3Settings":
        """The settings the environment describes; `endpoint_url` overrides it."""
        env = os.environ if environ is None else environ
        use_https = _flag(env.get("S3_USE_HTTPS"), True)
        endpoint = None
        if endpoint_url:
            endpoint = _endpoint_url(endpoint_url, "the endpoint option", use_https)
        else:
            for name in ENDPOINT_VARIABLES:
                if env.get(name):
                    endpoint = _endpoint_url(env[name], name, use_https)
                    break
        region = next((env[n] for n in REGION_VARIABLES if env.get(n)), None)
        return cls(endpoint_url=endpoint, region=region,
                   verify_ssl=_flag(env.get("S3_VERIFY_SSL"), True))

    def environment(self) -> Dict[str, str]:
        """The variables TensorFlow's S3 plugin (S3_*, AWS_REGION) and boto3
        (AWS_ENDPOINT_URL_S3) read, normalised; credentials are not among them."""
        env = {"S3_VERIFY_SSL": "1" if self.verify_ssl else "0"}
        if self.endpoint_url:
            env.update(S3_ENDPOINT=self.endpoint_url, AWS_ENDPOINT_URL_S3=self.endpoint_url,
                       S3_USE_HTTPS="1" if self.endpoint_url.startswith("https:") else "0")
        if self.region:
            env["AWS_REGION"] = self.region
        return env

    def beam_args(self) -> List[str]:
        """Beam's S3Options for its boto3 client (which takes the keys from the
        environment). Without an endpoint Beam talks to AWS and needs none of these."""
        args = []
        if self.endpoint_url:
            args.append(f"--s3_endpoint_url={self.endpoint_url}")
        if self.region:
            args.append(f"--s3_region_name={self.region}")
        return args

    def client(self, **config):
        """A boto3 S3 client for these settings (credentials from the environment);
        `config`: botocore Config options, e.g. connect_timeout."""
        import boto3  # pylint: disable=import-outside-toplevel
        from botocore.config import Config  # pylint: disable=import-outside-toplevel

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region,
                            verify=self.verify_ssl, config=Config(**config) if config else None)


def enable_s3(settings: Optional[S3Settings] = None) -> S3Settings:
    """Makes s3:// usable by TensorFlow (and so by TFX's fileio) in this process.

    Idempotent: the first call's settings stay in force. Marks the process as one that
    must end through `exit_process`.
    """
    global _active  # pylint: disable=global-statement
    if _active is not None:
        return _active
    settings = settings or S3Settings.from_env()
    os.environ.update(settings.environment())
    # Importing registers the plugin; TensorFlow's core has no s3:// since 2.6.
    import tensorflow_io  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import

    _register_fileio_folders(settings)
    _active = settings
    return settings


def _register_fileio_folders(settings: S3Settings) -> None:
    """Makes TFX's fileio write a folder marker on s3:// makedirs (see the docstring)."""
    # pylint: disable=import-outside-toplevel
    from tfx.dsl.io import filesystem_registry
    from tfx.dsl.io.plugins.tensorflow_gfile import TensorflowFilesystem

    client = []  # made on first use, in the process that uses it

    def put_marker(path: str) -> None:
        bucket, key = split_s3(path)
        if key.strip("/"):
            if not client:
                client.append(settings.client())
            client[0].put_object(Bucket=bucket, Key=key.rstrip("/") + "/", Body=b"")

    class S3Folders(TensorflowFilesystem):  # pylint: disable=too-few-public-methods
        """tensorflow-io's s3:// with folders that exist once made."""
        SUPPORTED_SCHEMES = [S3_SCHEME]

        @staticmethod
        def makedirs(path) -> None:
            TensorflowFilesystem.makedirs(path)
            put_marker(str(path))

        @staticmethod
        def mkdir(path) -> None:
            TensorflowFilesystem.mkdir(path)
            put_marker(str(path))

    # Preferred over the gfile plugin (priority 10) for s3:// only.
    filesystem_registry.DEFAULT_FILESYSTEM_REGISTRY.register(S3Folders, priority=5)


def s3_enabled() -> bool:
    return _active is not None


def check_bucket(uri: str, settings: Optional[S3Settings] = None) -> None:
    """Refuses an s3:// URI whose bucket cannot be reached, before anything runs."""
    import botocore.exceptions  # pylint: disable=import-outside-toplevel

    bucket, _ = split_s3(uri)
    settings = settings or _active or S3Settings.from_env()
    where = settings.endpoint_url or "AWS"
    try:
        # Short timeouts: an unreachable endpoint should be reported, not waited out.
        settings.client(connect_timeout=10, read_timeout=30,
                        retries={"max_attempts": 2}).head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        problem = ("does not exist" if code in ("404", "NoSuchBucket")
                   else f"is not accessible ({code or e})")
        raise FileNotFoundError(f"{uri}: bucket {bucket!r} {problem} at {where}") from None
    except (botocore.exceptions.BotoCoreError, ValueError) as e:
        raise FileNotFoundError(f"{uri}: cannot reach S3 at {where}: {e}") from None


def exit_process(code: int) -> int:
    """Returns `code`, or ends the process with it when TensorFlow's S3 plugin is loaded.

    tensorflow-io's S3 client aborts during interpreter shutdown (exit 134), which would
    turn a finished step into a failed one and hide a failed step's own code. So flush
    what Python would flush at exit (stdio, logging handlers) and leave with os._exit,
    skipping the C++ static destructors that crash.
    """
    if _active is None:
        return code
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing left to save
            pass
    os._exit(code)  # pylint: disable=protected-access


__all__ = ["S3Settings", "check_bucket", "enable_s3", "exit_process", "is_remote", "is_s3",
           "s3_enabled", "split_s3"]
