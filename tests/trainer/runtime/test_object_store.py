"""trainer/runtime/object_store.py: S3 settings from the environment, what TensorFlow, boto3 and
Beam get from them, the bucket check, and the exit that keeps tensorflow-io's abort at
interpreter exit from replacing a process's own exit code (checked in child processes
against moto's S3 server on 127.0.0.1, tests/s3_standin.py)."""
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.s3_standin import s3_server
from trainer.runtime import object_store as store


def test_uri_helpers():
    assert store.is_s3("s3://b/k") and not store.is_s3("gs://b/k")
    assert store.is_remote("gs://b") and store.is_remote("s3://b")
    assert not store.is_remote("/data/s3://x") and not store.is_remote(None)
    assert store.split_s3("s3://bucket/a/b") == ("bucket", "a/b")
    assert store.split_s3("s3://bucket") == ("bucket", "")
    for bad in ("s3://", "s3:///key", "gs://bucket/k"):
        with pytest.raises(ValueError):
            store.split_s3(bad)


@pytest.mark.parametrize("env, endpoint", [
    ({}, None),
    ({"S3_ENDPOINT": "http://minio.kubeflow:9000"}, "http://minio.kubeflow:9000"),
    ({"S3_ENDPOINT": "https://s3.example.com/"}, "https://s3.example.com"),
    # TensorFlow's classic host:port form, scheme from S3_USE_HTTPS.
    ({"S3_ENDPOINT": "minio:9000", "S3_USE_HTTPS": "0"}, "http://minio:9000"),
    ({"S3_ENDPOINT": "minio:9000"}, "https://minio:9000"),
    # boto3's own variables win over TensorFlow's.
    ({"AWS_ENDPOINT_URL_S3": "http://a:1", "AWS_ENDPOINT_URL": "http://b:2",
      "S3_ENDPOINT": "http://c:3"}, "http://a:1"),
    ({"AWS_ENDPOINT_URL": "http://b:2", "S3_ENDPOINT": "http://c:3"}, "http://b:2"),
])
def test_endpoint_from_the_environment(env, endpoint):
    assert store.S3Settings.from_env(env).endpoint_url == endpoint


@pytest.mark.parametrize("value", ["ftp://minio:9000", "http://minio:9000/bucket",
                                   "http://:9000", "http://minio:9000?x=1"])
def test_malformed_endpoint_is_refused(value):
    with pytest.raises(ValueError, match=r"expected http\(s\)://host\[:port\]"):
        store.S3Settings.from_env({"S3_ENDPOINT": value})
    with pytest.raises(ValueError, match="from the endpoint option"):
        store.S3Settings.from_env({}, endpoint_url=value)


def test_what_tensorflow_boto3_and_beam_get():
    env = {"S3_ENDPOINT": "minio:9000", "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0",
           "AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
           "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI"}
    settings = store.S3Settings.from_env(env)
    assert settings == store.S3Settings("http://minio:9000", "eu-west-1", verify_ssl=False)
    assert settings.environment() == {
        "S3_ENDPOINT": "http://minio:9000", "AWS_ENDPOINT_URL_S3": "http://minio:9000",
        "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0", "AWS_REGION": "eu-west-1"}
    assert settings.beam_args() == ["--s3_endpoint_url=http://minio:9000",
                                    "--s3_region_name=eu-west-1"]
    # Keys never leave the environment: not in Beam args, not in the settings' repr.
    for text in (" ".join(settings.beam_args()), repr(settings),
                 repr(settings.environment())):
        assert "AKIDEXAMPLE" not in text and "wJalrXUtnFEMI" not in text
    aws = store.S3Settings.from_env({"AWS_REGION": "us-east-2"})
    assert aws.beam_args() == ["--s3_region_name=us-east-2"]
    assert aws.environment() == {"S3_VERIFY_SSL": "1", "AWS_REGION": "us-east-2"}


def test_exit_process_returns_the_code_when_s3_was_not_used():
    assert not store.s3_enabled()  # no test imports tensorflow-io into pytest itself
    assert store.exit_process(3) == 3


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        server.bucket("present")
        yield server


def test_check_bucket(s3, monkeypatch):
    for key, value in s3.process_env().items():
        if key.startswith(("AWS_", "S3_")):
            monkeypatch.setenv(key, value)
    store.check_bucket("s3://present/models", s3.settings)
    with pytest.raises(FileNotFoundError) as e:
        store.check_bucket("s3://absent/models", s3.settings)
    assert str(e.value) == (f"s3://absent/models: bucket 'absent' does not exist at "
                            f"{s3.endpoint}")
    down = store.S3Settings("http://127.0.0.1:9", "us-east-1")  # nothing listens there
    with pytest.raises(FileNotFoundError, match=r"^s3://present/m: cannot reach S3 at "
                                                r"http://127\.0\.0\.1:9: "):
        store.check_bucket("s3://present/m", down)


# A child that uses s3:// through TensorFlow, then ends the way `how` says.
_CHILD = textwrap.dedent("""
    import sys
    from trainer.runtime import object_store
    object_store.enable_s3()
    import tensorflow as tf
    with tf.io.gfile.GFile("s3://present/probe.txt", "wb") as f:
        f.write(b"written through tensorflow-io")
    assert tf.io.gfile.exists("s3://present/probe.txt")
    # An output folder a component leaves empty must exist for TFX's cache check.
    from tfx.dsl.io import fileio
    from tfx.types import artifact_utils, standard_artifacts
    cache = standard_artifacts.TransformCache()
    cache.uri = "s3://present/run/Transform/updated_analyzer_cache/3"
    fileio.makedirs(cache.uri)
    artifact_utils.verify_artifacts([cache])
    print("wrote", flush=True)
    how = sys.argv[1]
    if how == "plain-exit":
        sys.exit(0)
    sys.exit(object_store.exit_process(int(how)))
""")


def _child(s3, how):
    return subprocess.run([sys.executable, "-c", _CHILD, how], env=s3.process_env(),
                          capture_output=True, text=True, timeout=300)


def test_tensorflow_io_aborts_at_exit_without_the_workaround(s3):
    """Why exit_process exists: a clean sys.exit(0) after S3 use ends in SIGABRT (a shell
    or Kubernetes reports 134). If a tensorflow-io release fixes this, this test fails
    and the workaround can go."""
    result = _child(s3, "plain-exit")
    assert "wrote" in result.stdout
    assert result.returncode == -signal.SIGABRT
    assert "pure virtual method called" in result.stderr


@pytest.mark.parametrize("code", [0, 3])
def test_exit_process_keeps_the_code(s3, code):
    result = _child(s3, str(code))
    assert result.returncode == code, result.stderr[-2000:]
    assert "wrote" in result.stdout and "pure virtual" not in result.stderr
    assert s3.client.get_object(Bucket="present", Key="probe.txt")["Body"].read() == \
        b"written through tensorflow-io"
    assert "run/Transform/updated_analyzer_cache/3/" in s3.keys("s3://present/run/")
