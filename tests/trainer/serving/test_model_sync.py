"""trainer/serving/model_sync.py against an S3 server on 127.0.0.1 (moto's server, see
tests/s3_standin.py): complete versions appear whole, uploads in progress wait,
deletions propagate, leftovers go, a failed listing touches nothing, and what it syncs
loads and answers like TF Serving would (tests/serving_standins.py)."""
import json
import os
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from tests.model_fixtures import affine_saved_model
from tests.s3_standin import s3_server
from tests.serving_standins import RestServer
from trainer.serving import model_sync as ms

REPO = "s3://models/serving"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A SavedModel with variables and a serving_default signature: y = x @ w + b."""
    return affine_saved_model(str(tmp_path_factory.mktemp("export") / "model"))


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        server.bucket("models")
        yield server


@pytest.fixture
def repo(s3):
    yield REPO
    s3.delete_prefix(REPO + "/")


def _files(folder):
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            out[os.path.relpath(path, folder).replace(os.sep, "/")] = path
    return out


def push(s3, saved_model, model, version, skip=()):
    """Uploads a version the way TFX's Pusher copies one: every file, saved_model.pb last
    (`skip` leaves files out: an upload still in progress)."""
    files = _files(saved_model)
    order = sorted(f for f in files if f != "saved_model.pb") + ["saved_model.pb"]
    for rel in order:
        if rel not in skip:
            s3.client.upload_file(files[rel], "models", f"serving/{model}/{version}/{rel}")


def sync(s3, dest):
    return ms.sync_once(s3.client, REPO, str(dest))


def test_index_announces_its_shards(saved_model):
    with open(os.path.join(saved_model, "variables", "variables.index"), "rb") as f:
        assert ms.index_num_shards(f.read()) == 1  # what TensorFlow itself wrote
    assert ms.index_num_shards(b"\x00\x00\x02\x08\x02") == 2
    assert ms.index_num_shards(b"\x00\x00\x04\x1a\x00\x08\x03") == 3  # field order
    for garbage in (b"", b"\x00", b"\x00\x03\x02key", b"\x00\x00\x09\x08\x01"):
        assert ms.index_num_shards(garbage) is None


def test_missing_files_reads_the_shard_names():
    complete = {"saved_model.pb": 1, "variables/variables.index": 1,
                "variables/variables.data-00000-of-00002": 1,
                "variables/variables.data-00001-of-00002": 1}
    assert ms.missing_files(complete) == []
    partial = dict(complete)
    del partial["variables/variables.data-00001-of-00002"]
    assert ms.missing_files(partial) == ["variables/variables.data-00001-of-00002"]
    assert ms.missing_files({"saved_model.pb": 1}) == ["variables/variables.index"]
    assert ms.missing_files({"variables/variables.index": 1}) == ["saved_model.pb"]
    # No shard uploaded yet: only the index can tell.
    bare = {"saved_model.pb": 1, "variables/variables.index": 1}
    assert ms.missing_files(bare) == []
    assert ms.missing_files(bare, num_shards=1) == ["variables/variables.data-00000-of-00001"]


def test_new_version_appears_complete_and_is_served(s3, repo, saved_model, tmp_path):
    dest = tmp_path / "models"
    push(s3, saved_model, "mnist_softmax", 1700000000)
    result = sync(s3, dest)
    assert result.added == ["mnist_softmax/1700000000"] and not result.waiting
    version = dest / "mnist_softmax" / "1700000000"
    assert sorted(_files(str(version))) == sorted(_files(saved_model))
    assert os.listdir(dest / "mnist_softmax") == ["1700000000"]  # no temp folder left
    assert oct(os.stat(version).st_mode & 0o777) == "0o755"

    # Loaded by signature like TF Serving, through the REST stand-in.
    server = RestServer({"mnist_softmax": str(version)})
    try:
        request = urllib.request.Request(
            f"{server.url}/v1/models/mnist_softmax:predict",
            data=json.dumps({"instances": [[1.0, 1.0], [0.0, 2.0]]}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            predictions = json.loads(response.read())["predictions"]
    finally:
        server.close()
    # One output (`y`): TF Serving's rows are its values alone, not {"y": ...} objects.
    np.testing.assert_allclose(predictions, [[6.0], [7.0]])

    assert sync(s3, dest).lines() == []  # nothing new: nothing downloaded again


def test_upload_in_progress_is_not_synced(s3, repo, saved_model, tmp_path):
    dest = tmp_path / "models"
    # saved_model.pb there, variables not yet: a push still copying (or a broken one).
    files = _files(saved_model)
    s3.client.upload_file(files["saved_model.pb"], "models",
                          "serving/mnist_cnn/1700000100/saved_model.pb")
    result = sync(s3, dest)
    assert result.added == [] and result.waiting == [
        "mnist_cnn/1700000100 (missing variables/variables.index)"]
    assert not (dest / "mnist_cnn" / "1700000100").exists()

    shard = [f for f in files if ".data-" in f][0]
    push(s3, saved_model, "mnist_cnn", 1700000100, skip=[shard])
    assert sync(s3, dest).waiting == [f"mnist_cnn/1700000100 (missing {shard})"]
    assert not (dest / "mnist_cnn" / "1700000100").exists()

    push(s3, saved_model, "mnist_cnn", 1700000100)
    assert sync(s3, dest).added == ["mnist_cnn/1700000100"]
    tf.saved_model.load(str(dest / "mnist_cnn" / "1700000100"))


def test_deletions_propagate_and_leftovers_go(s3, repo, saved_model, tmp_path):
    dest = tmp_path / "models"
    push(s3, saved_model, "mnist_cnn", 1)
    push(s3, saved_model, "mnist_cnn", 2)
    assert sync(s3, dest).added == ["mnist_cnn/1", "mnist_cnn/2"]
    leftover = dest / "mnist_cnn" / ".sync-3-abc"  # an interrupted download
    (leftover / "variables").mkdir(parents=True)
    unrelated = dest / "mnist_cnn" / "notes"  # not a version: left alone

    unrelated.mkdir()
    s3.delete_prefix(f"{REPO}/mnist_cnn/1/")
    result = sync(s3, dest)
    assert result.removed == ["mnist_cnn/1"]
    assert sorted(os.listdir(dest / "mnist_cnn")) == ["2", "notes"]

    s3.delete_prefix(f"{REPO}/")
    assert sync(s3, dest).removed == ["mnist_cnn/2"]
    assert sorted(os.listdir(dest / "mnist_cnn")) == ["notes"]


def test_names_tf_serving_would_not_load_are_ignored(s3, repo, saved_model, tmp_path):
    push(s3, saved_model, "mnist_cnn", "latest")
    push(s3, saved_model, "bad name", 3)
    s3.put(f"{REPO}/mnist_cnn/README.md", b"not a version")
    s3.put(f"{REPO}/mnist_cnn/5/", b"")  # a directory marker
    assert ms.list_repository(s3.client, REPO) == {}
    assert sync(s3, tmp_path / "models").lines() == []


def test_failed_listing_changes_nothing(s3, repo, saved_model, tmp_path):
    dest = tmp_path / "models"
    push(s3, saved_model, "mnist_cnn", 7)
    sync(s3, dest)
    with pytest.raises(ms.SyncError, match="s3://no-such-bucket/serving: cannot list"):
        ms.sync_once(s3.client, "s3://no-such-bucket/serving", str(dest))
    assert os.listdir(dest / "mnist_cnn") == ["7"]
    lines = []
    assert ms.run(s3.client, "s3://no-such-bucket/serving", str(dest), 1, once=True,
                  log=lines.append) == 1
    assert lines[0].startswith("error: s3://no-such-bucket/serving: cannot list")


def test_run_loops_until_told(s3, repo, saved_model, tmp_path):
    sleeps, lines = [], []
    push(s3, saved_model, "mnist_cnn", 9)
    assert ms.run(s3.client, REPO, str(tmp_path / "m"), 5, log=lines.append,
                  sleep=sleeps.append, passes=3) == 0
    assert sleeps == [5, 5] and lines == ["synced mnist_cnn/9"]


def test_command_line(s3, repo, saved_model, tmp_path, monkeypatch, capsys):
    for key, value in s3.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    push(s3, saved_model, "mnist_softmax", 11)
    dest = tmp_path / "models"
    assert ms.main(["--source", REPO, "--dest", str(dest), "--once"]) == 0
    out = capsys.readouterr().out
    assert f"(endpoint {s3.endpoint})" in out and "synced mnist_softmax/11" in out
    assert (dest / "mnist_softmax" / "11" / "saved_model.pb").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--source", "gs://b/serving", "--dest", "/m"], "TF Serving reads gs:// itself"),
    (["--source", "/local/serving", "--dest", "/m"], "expected an s3:// URI"),
    (["--source", REPO, "--dest", "/m", "--interval", "0"], "must be positive"),
    (["--source", REPO, "--dest", "/m", "--endpoint-url", "ftp://x"], "expected http(s)"),
])
def test_command_line_refuses(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        ms.main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err
