"""End to end on object storage: the MNIST pipeline (softmax) under LocalDagRunner with its
input IDX files, its pipeline root and its TF Serving repository all on s3://, against
moto's S3 server on 127.0.0.1 (a stand-in for AWS S3 / MinIO / SeaweedFS), run twice as
`classics run` in a child process (tensorflow-io aborts at exit; the CLI must still exit
with the run's own code). Then the serving hand-off: trainer/serving/model_sync.py mirrors
the pushed versions into a local folder, which the TF Serving stand-in serves. Bad input
on s3:// fails with one message naming the file, and a missing bucket is refused before
anything runs."""
import os
import re
import subprocess
import sys

import pytest

from tests.mnist_fixtures import synthetic_digits, write_mnist
from tests.s3_standin import s3_server
from tests.serving_standins import RestServer, predict_class_ids

pytestmark = pytest.mark.e2e

from tests.paths import REPO as REPO_ROOT
DATA = "s3://data/mnist"
PIPELINES = "s3://pipelines/runs"
SERVING = "s3://models/serving"
PIPELINE = "classics-mnist"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server() as server:
        for bucket in ("data", "pipelines", "models"):
            server.bucket(bucket)
        folder = str(tmp_path_factory.mktemp("idx"))
        images, labels = synthetic_digits(300, seed=1)
        write_mnist(folder, images, labels, "train", gz=True)
        test_images, test_labels = synthetic_digits(100, seed=2)
        write_mnist(folder, test_images, test_labels, "t10k", gz=True)
        server.upload_dir(folder, DATA)
        server.test_images = test_images
        server.test_labels = test_labels
        yield server


def classics(s3, workspace, *args, timeout=900):
    cmd = [sys.executable, "-m", "pipelines.cli", "run", "mnist", "--models", "softmax",
           "--epochs", "2", "--min-accuracy", "0.5", "--workspace", str(workspace), *args]
    return subprocess.run(cmd, cwd=REPO_ROOT, env=s3.process_env(), capture_output=True,
                          text=True, timeout=timeout)


def _tail(result):
    return f"exit {result.returncode}\nstdout:\n{result.stdout[-3000:]}\n" \
           f"stderr:\n{result.stderr[-3000:]}"


def _versions(s3):
    return sorted({int(k.split("/")[2]) for k in s3.keys(SERVING + "/mnist_softmax/")
                   if k.endswith("/saved_model.pb")})


@pytest.fixture(scope="module")
def two_runs(s3, tmp_path_factory):
    workspace = tmp_path_factory.mktemp("ws")
    args = ("--data", DATA, "--pipeline-root", PIPELINES, "--serving-root", SERVING)
    first = classics(s3, workspace, *args)
    assert first.returncode == 0, _tail(first)
    versions_after_first = _versions(s3)
    second = classics(s3, workspace, *args)
    assert second.returncode == 0, _tail(second)
    return workspace, first, second, versions_after_first


def test_runs_exit_zero_and_push_versions_to_s3(s3, two_runs):
    workspace, first, second, after_first = two_runs
    assert len(after_first) == 1
    versions = _versions(s3)
    assert len(versions) == 2 and versions[0] == after_first[0]
    for version in versions:
        keys = s3.keys(f"{SERVING}/mnist_softmax/{version}/")
        assert f"serving/mnist_softmax/{version}/variables/variables.index" in keys
    # Every artifact went to the bucket; only ML Metadata and the logs stayed local.
    artifacts = s3.keys(f"{PIPELINES}/{PIPELINE}/")
    for node in ("MnistExampleGen", "Transform", "Trainer.softmax", "Evaluator.softmax",
                 "Pusher.softmax"):
        assert any(k.startswith(f"runs/{PIPELINE}/{node}/") for k in artifacts), node
    assert not os.path.exists(os.path.join(workspace, "pipelines"))
    assert not os.path.exists(os.path.join(workspace, "serving"))
    assert os.path.isfile(os.path.join(workspace, "metadata", f"{PIPELINE}.sqlite"))
    assert f"-> {SERVING}/mnist_softmax/{after_first[0]}" in first.stdout


def test_second_run_is_cached_and_judged_against_the_served_version(two_runs):
    _, first, second, after_first = two_runs
    assert "no model in service" in first.stdout
    assert f"vs served version {after_first[0]}" in second.stdout
    assert "blessed" in second.stdout and "NOT blessed" not in second.stdout
    # The data half and the Trainer came from the cache (read back from s3://).
    for node in ("MnistExampleGen", "Transform", "Trainer.softmax"):
        assert re.search(rf"\] {re.escape(node)}\s+cached in ", second.stdout), node


def test_pushed_version_reaches_a_tf_serving_folder(s3, two_runs, tmp_path):
    dest = tmp_path / "models"
    sync = subprocess.run(
        [sys.executable, "-m", "trainer.serving.model_sync", "--source", SERVING,
         "--dest", str(dest), "--once"],
        cwd=REPO_ROOT, env=s3.process_env(), capture_output=True, text=True, timeout=300)
    assert sync.returncode == 0, _tail(sync)
    latest = _versions(s3)[-1]
    assert sorted(os.listdir(dest / "mnist_softmax")) == [str(v) for v in _versions(s3)]
    server = RestServer({"mnist_softmax": str(dest / "mnist_softmax" / str(latest))})
    try:
        class_ids = predict_class_ids(server.url, "mnist_softmax", s3.test_images[:20])
    finally:
        server.close()
    assert (class_ids == s3.test_labels[:20]).mean() > 0.5


def test_bad_file_on_s3_names_it_and_exits_nonzero(s3, tmp_path):
    good = s3.client.get_object(Bucket="data", Key="mnist/train-labels-idx1-ubyte.gz")
    data = good["Body"].read()
    bad_dir = "s3://data/bad"
    for key in s3.keys(DATA + "/"):
        if "labels" not in key:
            s3.client.copy_object(Bucket="data", Key=key.replace("mnist/", "bad/"),
                                  CopySource={"Bucket": "data", "Key": key})
    # The labels file loses its last bytes: an interrupted upload.
    s3.put(f"{bad_dir}/train-labels-idx1-ubyte", _gunzip(data)[:-7])
    s3.put(f"{bad_dir}/t10k-labels-idx1-ubyte.gz",
           s3.client.get_object(Bucket="data", Key="mnist/t10k-labels-idx1-ubyte.gz")
           ["Body"].read())
    result = classics(s3, tmp_path / "ws", "--data", bad_dir, "--pipeline-root",
                      "s3://pipelines/bad", "--serving-root", SERVING, "--no-cache")
    assert result.returncode == 1, _tail(result)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: component MnistExampleGen failed: "
                           f"{bad_dir}/train-labels-idx1-ubyte: truncated"), _tail(result)
    examples = [k for k in s3.keys("s3://pipelines/bad/") if "/MnistExampleGen/" in k
                and "/examples/" in k and not k.endswith("/")]
    assert examples == [], examples  # nothing half-written


def _gunzip(data):
    import gzip
    return gzip.decompress(data)


def test_unreachable_bucket_is_refused_before_anything_runs(s3, tmp_path):
    result = classics(s3, tmp_path / "ws", "--data", DATA, "--serving-root",
                      "s3://no-such-bucket/serving", timeout=300)
    assert result.returncode == 2, _tail(result)
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: s3://no-such-bucket/serving: bucket 'no-such-bucket' does not exist at "
        f"{s3.endpoint}")
    assert not os.path.exists(tmp_path / "ws" / "metadata")
