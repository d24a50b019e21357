"""An IR run under an s3:// pipeline root against moto's S3 server (tests/s3_standin.py):
the launcher's uploads of outputs from the pods' local paths and downloads of inputs to
them, the key layout, and the objectstore rules read from KFP's backend."""
import json
import os
import re

import pytest

from pipelines import cli
from pipelines.runners.ir import objectstore
from pipelines.runners.ir import run as ir_run
from tests.pipelines.runners.ir import tiny_pipeline
from tests.s3_standin import s3_server

ROOT = "s3://runs/kfp/v2"


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        server.bucket("runs")
        yield server


@pytest.fixture
def s3_env(s3, monkeypatch):
    """This shell's S3 variables, which the local launcher's bucket reads."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3.env.items():
        monkeypatch.setenv(name, value)
    return s3


@pytest.fixture(scope="module")
def paths_ir(tmp_path_factory):
    return tiny_pipeline.compile_to(str(tmp_path_factory.mktemp("ir")),
                                    tiny_pipeline.tiny_paths)


def test_outputs_are_uploaded_and_inputs_downloaded_to_the_pods_paths(s3_env, paths_ir,
                                                                      tmp_path):
    mounts = tmp_path / "mounts"
    result = ir_run.run_ir(paths_ir, pipeline_root=ROOT, run_id="r1", echo=lambda _: None,
                           local_mounts=str(mounts))
    data_uri = result.produced["produce"].artifacts["data"].uri
    assert re.fullmatch(r"s3://runs/kfp/v2/tiny-paths/r1/produce/[0-9a-f-]{36}/data",
                        data_uri)
    # The producer wrote its pod's /s3/<bucket>/<key> path; the launcher uploaded it.
    body = s3_env.client.get_object(Bucket="runs", Key=data_uri[len("s3://runs/"):])
    assert body["Body"].read() == b"abab"
    # The consumer's pod got it downloaded to the same kind of path in its own /s3.
    report_uri = result.produced["consume-path"].artifacts["report"].uri
    report = json.loads(s3_env.client.get_object(
        Bucket="runs", Key=report_uri[len("s3://runs/"):])["Body"].read())
    local = str(mounts / "consume-path" / "s3" / data_uri[len("s3://"):])
    assert report["argv"][:2] == [local, data_uri] and report["data"] == "abab"
    # Every task's executor-logs went up too; parameters and output files stayed local.
    keys = s3_env.keys("s3://runs/kfp/v2/tiny-paths/r1/")
    assert len([k for k in keys if k.endswith("/executor-logs")]) == 2
    assert not [k for k in keys if "output_metadata" in k or "/parameters/" in k]


def test_a_temporary_mounts_folder_goes_after_a_run_that_succeeded(s3_env, paths_ir):
    lines = []
    ir_run.run_ir(paths_ir, pipeline_root=ROOT, echo=lines.append)
    (shown,) = [line for line in lines if "the pods' /s3 folders" in line]
    assert not os.path.exists(shown.split(": ", 1)[1].split("/<task>")[0])


def test_the_run_id_is_checked_against_the_bucket(s3_env, paths_ir, capsys):
    s3_env.put(f"{ROOT}/tiny-paths/taken/x/y", b"")
    rc = cli.main(["run-ir", paths_ir, "--pipeline-root", ROOT, "--run-id", "taken"])
    assert rc == 2
    assert "run taken: s3://runs/kfp/v2/tiny-paths/taken exists already" in \
        capsys.readouterr().err


def test_a_missing_bucket_is_refused_before_anything_runs(s3_env, paths_ir, capsys):
    rc = cli.main(["run-ir", paths_ir, "--pipeline-root", "s3://nowhere/root"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err == [f"error: s3://nowhere/root: bucket 'nowhere' does not exist at "
                   f"{s3_env.endpoint}"]


@pytest.mark.parametrize("root,problem", [
    ("gs://bucket/root", "only s3:// object stores (or a local folder) are run here"),
    ("hdfs://bucket/root", "unsupported Cloud bucket"),
    ("s3://", "unrecognized pipeline root format"),
])
def test_roots_without_a_bucket_here_are_refused(paths_ir, capsys, root, problem):
    rc = cli.main(["run-ir", paths_ir, "--pipeline-root", root])
    assert rc == 2
    assert f"error: pipeline root {root}: " in capsys.readouterr().err
    with pytest.raises(ValueError, match=re.escape(problem)):
        ir_run.check_pipeline_root(root)


def test_bucket_config_and_keys_as_the_backend_parses_them():
    config = objectstore.parse_bucket_config("s3://runs/kfp/v2")
    assert (config.bucket_name, config.prefix) == ("runs", "kfp/v2/")
    assert config.prefixed_bucket() == "s3://runs/kfp/v2"
    assert config.key_from_uri("s3://runs/kfp/v2/p/r/t/u/out") == "p/r/t/u/out"
    with pytest.raises(objectstore.ObjectStoreError, match="does not have expected bucket"):
        config.key_from_uri("s3://other/kfp/v2/x")
    with pytest.raises(objectstore.ObjectStoreError, match="empty key"):
        config.key_from_uri("s3://runs/kfp/v2/")
    assert objectstore.parse_bucket_config_for_artifact_uri("s3://b/x/y").prefix == ""
    with pytest.raises(objectstore.ObjectStoreError, match="path traversal"):
        objectstore.sanitize_download_path("/tmp/x", "a", "a/../../etc")
    assert objectstore.is_blob_key_under_prefix("a/b/c", "a/b")
    assert not objectstore.is_blob_key_under_prefix("a/bc", "a/b")


def test_a_folder_marker_under_an_input_breaks_the_download_as_it_does_there(s3_env,
                                                                             tmp_path):
    """DownloadBlob lists every key under the artifact, and downloadFile creates a file
    for each: a zero-byte "<folder>/" object (what S3 consoles and TensorFlow's GCS
    filesystem write for folders) becomes a file where that folder's objects must go."""
    bucket = objectstore.open_bucket(objectstore.parse_bucket_config(ROOT))
    s3_env.put(f"{ROOT}/art/plain/a.txt", b"a")
    s3_env.put(f"{ROOT}/art/plain/sub/b.txt", b"b")
    objectstore.download_blob(bucket, str(tmp_path / "plain"), "art/plain")
    assert (tmp_path / "plain" / "sub" / "b.txt").read_text() == "b"
    s3_env.put(f"{ROOT}/art/marked/", b"")
    s3_env.put(f"{ROOT}/art/marked/sub/b.txt", b"b")
    with pytest.raises(objectstore.ObjectStoreError, match="unable to complete copying"):
        objectstore.download_blob(bucket, str(tmp_path / "marked"), "art/marked")
    assert (tmp_path / "marked").is_file()
