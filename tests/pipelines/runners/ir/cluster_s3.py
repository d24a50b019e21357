"""The object store a compiled pipeline's IR run uses here: moto's S3 server with the
pipeline's buckets, this shell's S3 variables pointing at it (what run-ir's launcher
reads), and a secrets file standing in for the cluster's object-store Secret."""
import contextlib

import pytest
import yaml

from tests.s3_standin import s3_server

SECRET = "mlpipeline-minio-artifact"
BUCKETS = ("data", "pipelines", "models")


@contextlib.contextmanager
def cluster_s3(secrets_folder):
    """Yields the server, with `.secrets` the secrets file written in `secrets_folder`."""
    with s3_server() as server, pytest.MonkeyPatch.context() as env:
        for bucket in BUCKETS:
            server.bucket(bucket)
        for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
            env.delenv(name, raising=False)
        for name, value in server.env.items():
            env.setenv(name, value)
        server.secrets = str(secrets_folder / "secrets.yaml")
        with open(server.secrets, "w") as f:
            yaml.safe_dump({SECRET: {"accesskey": server.env["AWS_ACCESS_KEY_ID"],
                                     "secretkey": server.env["AWS_SECRET_ACCESS_KEY"]}}, f)
        yield server
