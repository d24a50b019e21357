"""The MNIST pipeline (softmax and cnn) compiled by `classics compile` for a cluster (data,
pipeline root and TF Serving repository on s3://, the object store's endpoint and Secret)
and run from that very IR with `classics run-ir`, against moto's S3 server
(tests/s3_standin.py): every task's own command and arguments, the launcher's copies to
and from the bucket. Then the serving hand-off (trainer/serving/model_sync.py into a
folder the TF Serving stand-in serves), the same IR again judged against the served
versions, an IR whose gate no model can pass, and a broken compiled argument.
Small: 200 + 60 synthetic digits, 1 epoch, Beam in one process."""
import json
import re
import subprocess
import sys
import urllib.request

import numpy as np
import pytest
import yaml

from pipelines import cli
from pipelines.runners.ir import run as ir_run
from tests.mnist_fixtures import synthetic_digits, write_mnist
from tests.paths import REPO
from tests.pipelines.runners.ir.cluster_s3 import SECRET, cluster_s3
from tests.serving_standins import RestServer

pytestmark = pytest.mark.e2e
PIPELINE = "classics-mnist"
DATA = "s3://data/mnist"
ROOT = "s3://pipelines/v2/artifacts"
SERVING = "s3://models/serving"
MODELS = ("softmax", "cnn")
DATA_TASKS = ["MnistExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
              "Transform"]
MODEL_TASKS = ["ServingBaseline", "DriftBaseline", "DistributionValidator", "DriftGate",
               "Trainer", "Evaluator", "ServabilityCheck", "Pusher"]
TASKS = DATA_TASKS + [f"{t}.{m}" for m in MODELS for t in MODEL_TASKS]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 with the digits uploaded (tests/pipelines/runners/ir/cluster_s3.py)."""
    with cluster_s3(tmp_path_factory.mktemp("secrets")) as server:
        folder = str(tmp_path_factory.mktemp("idx"))
        write_mnist(folder, *synthetic_digits(200, seed=1), "train", gz=True)
        server.test_images, server.test_labels = synthetic_digits(60, seed=2)
        write_mnist(folder, server.test_images, server.test_labels, "t10k", gz=True)
        server.upload_dir(folder, DATA)
        yield server


def _compile(s3, output_dir, models, min_accuracy):
    """`classics compile` in a process of its own: it reads the s3:// data folder, which
    loads tensorflow-io (and its abort at exit) into the process."""
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "compile", "mnist", "--models",
         ",".join(models), "--gpus", "0", "--epochs", "1", "--min-accuracy",
         str(min_accuracy), "--output-dir", str(output_dir), "--data", DATA,
         "--pipeline-root", ROOT, "--serving-root", SERVING, "--object-store-endpoint",
         s3.endpoint, "--object-store-secret", SECRET,
         "--beam-arg=--direct_running_mode=in_memory", "--beam-arg=--direct_num_workers=1"],
        cwd=REPO, env=s3.process_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return str(output_dir / f"{PIPELINE}.yaml")


@pytest.fixture(scope="module")
def compiled(s3, tmp_path_factory):
    return _compile(s3, tmp_path_factory.mktemp("kfp"), MODELS, 0.5)


def _versions(s3, model):
    return sorted({int(k.split("/")[2]) for k in s3.keys(f"{SERVING}/mnist_{model}/")
                   if k.endswith("/saved_model.pb")})


def _run(s3, ir, run_id):
    lines = []
    try:
        result = ir_run.run_ir(ir, run_id=run_id, secrets_file=s3.secrets,
                               parallelism=2, echo=lines.append)
    except ir_run.IRRunError as e:
        pytest.fail(f"{e}\n{e.log_tail}")
    return result, {m: _versions(s3, m) for m in MODELS}


@pytest.fixture(scope="module")
def first(s3, compiled):
    return _run(s3, compiled, "first")


@pytest.fixture(scope="module")
def second(s3, compiled, first):
    return _run(s3, compiled, "second")


def _metadata(result, task, output):
    return result.produced[task].artifacts[output].metadata


def test_every_task_of_the_cluster_ir_exits_0_and_both_models_are_pushed(s3, first):
    result, versions = first
    assert sorted(t.name for t in result.tasks) == sorted(TASKS)
    assert all(t.exit_code == 0 for t in result.tasks)
    assert result.run_root == f"{ROOT}/{PIPELINE}/first"  # the IR's own root
    for model in MODELS:
        assert len(versions[model]) == 1, versions
        # The launcher's reading of the Pusher's executor output: where it pushed.
        meta = _metadata(result, f"Pusher.{model}", "pushed_model")
        assert meta["pushed"] == 1
        assert meta["pushed_destination"] == f"{SERVING}/mnist_{model}/{versions[model][0]}"
        assert _metadata(result, f"ServingBaseline.{model}", "model")["has_model"] == 0
    # Every task's outputs (and its executor-logs, uploaded by the launcher) under
    # <root>/<pipeline>/<run id>/<task>/<uuid>/ in the bucket; beside them only the
    # Trainers' checkpoint folders, which retries share (trainer/image/train.py
    # backup_dir: two levels above model_run).
    keys = s3.keys(f"{ROOT}/{PIPELINE}/first/")
    assert {k.split("/")[4] for k in keys} == set(TASKS)
    for task in TASKS:
        held = {k.split("/")[5] for k in keys if k.split("/")[4] == task} - {"backup"}
        assert len(held) == 1 and re.fullmatch(r"[0-9a-f-]{36}", held.pop()), task
        assert f"v2/artifacts/{PIPELINE}/first/{task}/" in " ".join(
            k for k in keys if k.endswith("/executor-logs"))
    # No folder markers are left in the outputs for the next launcher to download as
    # files (trainer/runtime/kfp_tfx_patches.py remove_directory_markers).
    assert not [k for k in keys if k.endswith("/") and "/backup/" not in k]
    # Independent tasks ran at the same time (--parallelism 2).
    spans = [(t.started, t.started + t.seconds) for t in result.tasks]
    assert any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans)
               for b in spans[i + 1:])


def test_pushed_versions_reach_a_tf_serving_folder_and_answer(s3, first, tmp_path):
    dest = tmp_path / "models"
    sync = subprocess.run(
        [sys.executable, "-m", "trainer.serving.model_sync", "--source", SERVING,
         "--dest", str(dest), "--once"],
        cwd=REPO, env=s3.process_env(), capture_output=True, text=True, timeout=300)
    assert sync.returncode == 0, sync.stderr[-3000:]
    _, versions = first
    served = {f"mnist_{m}": str(dest / f"mnist_{m}" / str(versions[m][-1])) for m in MODELS}
    server = RestServer(served)
    try:
        for name in served:
            body = {"signature_name": "serving_images",
                    "instances": s3.test_images[:20].tolist()}
            request = urllib.request.Request(
                f"{server.url}/v1/models/{name}:predict", data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=60) as response:
                predictions = json.loads(response.read())["predictions"]
            class_ids = np.array([p["class_ids"] for p in predictions]).reshape(-1)
            assert (class_ids == s3.test_labels[:20]).mean() > 0.5, name
    finally:
        server.close()


def test_the_same_ir_again_is_judged_against_the_served_versions(s3, first, second):
    _, before = first
    result, after = second
    for model in MODELS:
        baseline = _metadata(result, f"ServingBaseline.{model}", "model")
        assert baseline["has_model"] == 1
        assert baseline["served_version"] == before[model][0]
        # The Evaluator computed the baseline's metrics beside the candidate's.
        evaluation = result.produced[f"Evaluator.{model}"].artifacts["evaluation"].uri
        metrics = [k for k in s3.keys(evaluation + "/") if "/metrics" in k]
        body = b"".join(s3.client.get_object(Bucket="pipelines", Key=k)["Body"].read()
                        for k in metrics)
        assert b"baseline" in body and b"candidate" in body, model
        blessed = _metadata(result, f"Evaluator.{model}", "blessing")["blessed"]
        assert len(after[model]) == len(before[model]) + int(blessed), (model, after)


def test_an_ir_with_a_gate_out_of_reach_refuses_and_pushes_nothing(s3, tmp_path):
    gate = _compile(s3, tmp_path / "kfp", ("softmax",), 1.5)
    served = _versions(s3, "softmax")
    result, _ = _run(s3, gate, "gate")  # a refusal is a run that succeeded
    assert _metadata(result, "Evaluator.softmax", "blessing")["blessed"] == 0
    assert _metadata(result, "Pusher.softmax", "pushed_model")["pushed"] == 0
    assert _versions(s3, "softmax") == served


def test_a_broken_compiled_argument_fails_the_run_naming_its_task(s3, compiled, tmp_path,
                                                                  capsys):
    with open(compiled) as f:
        docs = list(yaml.safe_load_all(f))
    args = docs[0]["deploymentSpec"]["executors"]["MnistExampleGen_executor"]["container"][
        "args"]
    at = args.index("--executor_class_path") + 1
    args[at] = args[at] + "Typo"
    broken = tmp_path / "broken.yaml"
    with open(broken, "w") as f:
        yaml.safe_dump_all(docs, f)
    rc = cli.main(["run-ir", str(broken), "--secrets", s3.secrets, "--parallelism", "1",
                   "--local-mounts", str(tmp_path / "mounts")])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.strip().splitlines()[-1] == "error: task MnistExampleGen failed: exit status 1"
    assert "Typo" in err  # TFX's import error, in the log's tail
    assert "not run: " in err and "Transform" in err.split("not run: ")[1]
    # The failed task's log was uploaded all the same (executeV2 on failure).
    logs = [k for k in s3.keys(f"{ROOT}/{PIPELINE}/") if "/MnistExampleGen/" in k
            and k.endswith("/executor-logs")]
    assert any(b"Typo" in s3.client.get_object(Bucket="pipelines", Key=k)["Body"].read()
               for k in logs)
