"""`classics rollback` on an s3:// repository (moto's S3 server, tests/s3_standin.py),
followed by the model-sync sidecar (trainer/serving/model_sync.py) and a TF Serving
stand-in that picks its version the way TF Serving's default policy does: after the next
sync pass it answers with the rolled-back-to model."""
import json
import os
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from tests.model_fixtures import affine_saved_model
from tests.s3_standin import s3_server
from tests.serving_standins import RestServer, latest_version_dir
from trainer.serving import model_sync as ms

REPO = "s3://models/serving"
OLD, NEW = 1700000000, 1700000100


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """mnist_cnn at OLD (bias 1) and NEW (bias 100), pushed as TFX's Pusher copies:
    saved_model.pb last."""
    export = tmp_path_factory.mktemp("export")
    with s3_server() as server:
        server.bucket("models")
        for version, bias in ((OLD, 1.0), (NEW, 100.0)):
            folder = affine_saved_model(str(export / str(version)), bias)
            files = sorted(
                os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder)
                for f in fs)
            for rel in sorted(files, key=lambda r: r == "saved_model.pb"):
                server.client.upload_file(os.path.join(folder, rel), "models",
                                          f"serving/mnist_cnn/{version}/{rel}")
        yield server


def _classics(s3, *argv):
    """`classics` in a child process: a process that used s3:// through TensorFlow ends
    through trainer.runtime.object_store.exit_process."""
    code = ("import sys; from pipelines import cli; "
            f"sys.exit(cli.main({list(argv)!r}))")
    return subprocess.run([sys.executable, "-c", code], env=s3.process_env(),
                          capture_output=True, text=True, timeout=300, check=False)


def _served(dest):
    """(version, answer for x = [1, 1]) of the TF Serving stand-in on the mirror."""
    folder = latest_version_dir(os.path.join(dest, "mnist_cnn"))
    server = RestServer({"mnist_cnn": folder})
    try:
        with urllib.request.urlopen(f"{server.url}/v1/models/mnist_cnn/metadata",
                                    timeout=30) as response:
            version = int(json.loads(response.read())["model_spec"]["version"])
        request = urllib.request.Request(
            f"{server.url}/v1/models/mnist_cnn:predict",
            data=json.dumps({"instances": [[1.0, 1.0]]}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())["predictions"]
    finally:
        server.close()
    return version, answer


def test_rollback_on_s3_reaches_the_mirror_and_the_server(s3, tmp_path):
    dest = str(tmp_path / "models")
    assert ms.sync_once(s3.client, REPO, dest).added == [f"mnist_cnn/{OLD}",
                                                          f"mnist_cnn/{NEW}"]
    version, answer = _served(dest)
    assert version == NEW
    np.testing.assert_allclose(answer, [[105.0]])

    before = s3.keys(REPO + "/")
    refused = _classics(s3, "rollback", "mnist_cnn", "--to", "1690000000",
                        "--serving-root", REPO)
    assert refused.returncode == 1, refused.stderr[-2000:]
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: mnist_cnn: no version 1690000000 in {REPO}/mnist_cnn; "
                      f"complete versions: {OLD}, {NEW}"]
    assert s3.keys(REPO + "/") == before  # nothing changed

    done = _classics(s3, "rollback", "mnist_cnn", "--serving-root", REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"mnist_cnn: now serving version {OLD} (was {NEW})" in done.stdout
    keys = s3.keys(REPO + "/")
    assert not [k for k in keys if k.startswith(f"serving/mnist_cnn/{NEW}")]  # markers too
    moved = sorted(k[len(f"serving/.rolled-back/mnist_cnn/{NEW}/"):] for k in keys
                   if k.startswith(f"serving/.rolled-back/mnist_cnn/{NEW}/")
                   and not k.endswith("/"))
    assert moved == sorted(k[len(f"serving/mnist_cnn/{NEW}/"):] for k in before
                           if k.startswith(f"serving/mnist_cnn/{NEW}/"))
    record = json.loads(s3.client.get_object(
        Bucket="models", Key="serving/mnist_cnn/rollback.json")["Body"].read())
    assert [(r["from_version"], r["to_version"]) for r in record["rollbacks"]] == [(NEW, OLD)]

    # The sidecar's next pass drops the version set aside; the server loads the target.
    result = ms.sync_once(s3.client, REPO, dest)
    assert result.removed == [f"mnist_cnn/{NEW}"] and not result.added
    assert sorted(os.listdir(os.path.join(dest, "mnist_cnn"))) == [str(OLD)]
    version, answer = _served(dest)
    assert version == OLD
    np.testing.assert_allclose(answer, [[6.0]])
