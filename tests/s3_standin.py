"""An S3 API on 127.0.0.1 for the tests: moto's server (a stand-in for AWS S3, MinIO or
SeaweedFS; these machines have no object store), with the environment a pod would get
and helpers to upload and list."""
import contextlib
import os
import urllib.request
from typing import Dict, Iterator, List

from moto.server import ThreadedMotoServer

from trainer.runtime import object_store

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


class S3StandIn:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        # What trainer/runtime/object_store.py reads: TensorFlow's classic variables, as the
        # k8s overlays set them.
        self.env: Dict[str, str] = {**CREDENTIALS, "AWS_REGION": "us-east-1",
                                    "S3_ENDPOINT": endpoint, "S3_USE_HTTPS": "0",
                                    "S3_VERIFY_SSL": "0"}
        self.settings = object_store.S3Settings.from_env(self.env)
        self.client = self._client()

    def _client(self):
        import boto3  # pylint: disable=import-outside-toplevel
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"])

    def process_env(self) -> Dict[str, str]:
        """os.environ for a child process that talks to this server (and nothing else)."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE")}
        env.update(self.env)
        return env

    def bucket(self, name: str) -> str:
        self.client.create_bucket(Bucket=name)
        return f"s3://{name}"

    def upload_dir(self, folder: str, uri: str) -> List[str]:
        bucket, prefix = object_store.split_s3(uri)
        keys = []
        for root, _, files in os.walk(folder):
            for name in sorted(files):
                path = os.path.join(root, name)
                rel = os.path.relpath(path, folder).replace(os.sep, "/")
                key = f"{prefix.strip('/')}/{rel}" if prefix.strip("/") else rel
                self.client.upload_file(path, bucket, key)
                keys.append(key)
        return keys

    def put(self, uri: str, body: bytes) -> None:
        bucket, key = object_store.split_s3(uri)
        self.client.put_object(Bucket=bucket, Key=key, Body=body)

    def keys(self, uri: str) -> List[str]:
        bucket, prefix = object_store.split_s3(uri)
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", [])]
        return sorted(out)

    def delete_prefix(self, uri: str) -> None:
        bucket, _ = object_store.split_s3(uri)
        for key in self.keys(uri):
            self.client.delete_object(Bucket=bucket, Key=key)


def _reset(endpoint: str) -> None:
    """Empties moto's store. Its backends are global to the process, so without this a
    server sees the buckets of every earlier server on the same test worker."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass


@contextlib.contextmanager
def s3_server() -> Iterator[S3StandIn]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    try:
        _reset(endpoint)
        yield S3StandIn(endpoint)
    finally:
        try:
            _reset(endpoint)
        finally:
            server.stop()
