"""The MNIST pipeline (softmax and cnn) compiled by `classics compile` for a cluster (data,
pipeline root and TF Serving repository on s3://, the object store's endpoint and Secret)
and run from that very IR with `classics run-ir`, against moto's S3 server
(tests/s3_standin.py): every task's own command and arguments, the launcher's copies to
and from the bucket. Then the production loop as a recurring run of that IR lives it, the
data folder growing span by span:

1. span 1: both models pushed (version 1); the serving hand-off (trainer/serving/
   model_sync.py into a folder the TF Serving stand-in serves) answers;
2. span 2, same distribution: the same IR again, judged against the served versions, the
   drift gate passes, the Trainers warm-start from version 1, version 2 pushed;
3. span 3, half the classes: the drift gate refuses before training, the run fails
   naming the gate, version 2 still served;
4. `classics rollback mnist_softmax`: version 1 served again;
the sidecar's mirror is read after each. Also an IR whose gate no model can pass (the same
IR but for its bar, so only its Evaluator and Pusher run, on span 1's outputs), and a
broken compiled argument. Small: 200 + 60 synthetic digits per span, 1 epoch, Beam in
one process."""
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from pipelines import cli
from pipelines.runners.ir import run as ir_run
from tests.mnist_fixtures import synthetic_digits, write_mnist
from tests.paths import REPO
from trainer.contract import STATS_FILE
from tests.pipelines.runners.ir.cluster_s3 import SECRET, cluster_s3
from tests.pipelines.runners.ir.on_outputs import run_on_outputs
from tests.serving_standins import RestServer, predict_class_ids

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


def _upload_span(server, span, seed, classes=10):
    """`<DATA>/span-<span>/`: 200 train and 60 t10k digits of `classes` classes."""
    folder = str(server.spans / f"span-{span}")
    images, labels = synthetic_digits(520, seed=seed)
    keep = labels < classes
    images, labels = images[keep][:260], labels[keep][:260]
    write_mnist(folder, images[:200], labels[:200], "train", gz=True)
    write_mnist(folder, images[200:], labels[200:], "t10k", gz=True)
    server.upload_dir(folder, f"{DATA}/span-{span}")
    return images[200:], labels[200:]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 with span 1 of the digits (tests/pipelines/runners/ir/cluster_s3.py)."""
    with cluster_s3(tmp_path_factory.mktemp("secrets")) as server:
        server.spans = tmp_path_factory.mktemp("spans")
        server.mirror = tmp_path_factory.mktemp("mirror") / "models"
        server.test_images, server.test_labels = _upload_span(server, 1, seed=1)
        yield server


def _compile(s3, output_dir, models, min_accuracy, *extra):
    """`classics compile` in a process of its own: it reads the s3:// data folder, which
    loads tensorflow-io (and its abort at exit) into the process."""
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "compile", "mnist", "--models",
         ",".join(models), "--gpus", "0", "--epochs", "1", "--min-accuracy",
         str(min_accuracy), "--output-dir", str(output_dir), "--data", DATA,
         "--pipeline-root", ROOT, "--serving-root", SERVING, "--object-store-endpoint",
         s3.endpoint, "--object-store-secret", SECRET,
         "--beam-arg=--direct_running_mode=in_memory", "--beam-arg=--direct_num_workers=1",
         *extra],
        cwd=REPO, env=s3.process_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return str(output_dir / f"{PIPELINE}.yaml")


@pytest.fixture(scope="module")
def compiled(s3, tmp_path_factory):
    return _compile(s3, tmp_path_factory.mktemp("kfp"), MODELS, 0.5, "--warm-start")


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


def _sync(s3):
    """One pass of the model-sync sidecar into the same folder each time (what TF Serving
    reads); the versions there per model. TF Serving serves the newest."""
    sync = subprocess.run(
        [sys.executable, "-m", "trainer.serving.model_sync", "--source", SERVING,
         "--dest", str(s3.mirror), "--once"],
        cwd=REPO, env=s3.process_env(), capture_output=True, text=True, timeout=300)
    assert sync.returncode == 0, sync.stderr[-3000:]
    return {m: sorted(int(v) for v in os.listdir(s3.mirror / f"mnist_{m}") if v.isdigit())
            for m in MODELS}


@pytest.fixture(scope="module")
def first(s3, compiled):
    result, versions = _run(s3, compiled, "first")
    return result, versions, _sync(s3)


@pytest.fixture(scope="module")
def second(s3, compiled, first):
    _upload_span(s3, 2, seed=3)
    result, versions = _run(s3, compiled, "second")
    return result, versions, _sync(s3)


@pytest.fixture(scope="module")
def third(s3, compiled, second):
    """Span 3 holds only the digits 0-4: the drift gate refuses it."""
    _upload_span(s3, 3, seed=4, classes=5)
    with pytest.raises(ir_run.IRRunError) as refused:
        ir_run.run_ir(compiled, run_id="third", secrets_file=s3.secrets, parallelism=2,
                      echo=lambda line: None)
    return refused.value, {m: _versions(s3, m) for m in MODELS}, _sync(s3)


@pytest.fixture(scope="module")
def rolled_back(s3, third):
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "rollback", "mnist_softmax",
         "--serving-root", SERVING],
        cwd=REPO, env=s3.process_env(), capture_output=True, text=True, timeout=300)
    return done, {m: _versions(s3, m) for m in MODELS}, _sync(s3)


def _metadata(result, task, output):
    return result.produced[task].artifacts[output].metadata


def test_every_task_of_the_cluster_ir_exits_0_and_both_models_are_pushed(s3, first):
    result, versions, _ = first
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


def _stats(s3, result, model):
    run_dir = result.produced[f"Trainer.{model}"].artifacts["model_run"].uri
    bucket, _, key = run_dir[len("s3://"):].partition("/")
    return json.loads(s3.client.get_object(Bucket=bucket, Key=f"{key}/{STATS_FILE}")[
        "Body"].read())


def test_pushed_versions_reach_a_tf_serving_folder_and_answer(s3, first):
    _, versions, mirrored = first
    assert mirrored == versions  # the sidecar's folder holds what was pushed
    served = {f"mnist_{m}": str(s3.mirror / f"mnist_{m}" / str(versions[m][-1]))
              for m in MODELS}
    server = RestServer(served)
    try:
        for name in served:
            class_ids = predict_class_ids(server.url, name, s3.test_images[:20])
            assert (class_ids == s3.test_labels[:20]).mean() > 0.5, name
    finally:
        server.close()


def test_span_2_is_judged_against_the_served_versions_warm_starts_and_is_pushed(
        s3, first, second):
    _, before, _ = first
    result, after, mirrored = second
    for model in MODELS:
        baseline = _metadata(result, f"ServingBaseline.{model}", "model")
        assert baseline["has_model"] == 1
        assert baseline["served_version"] == before[model][0]
        # The newest span was read: the same IR, a data folder that grew. (The span is a
        # custom property, as TFX's ExampleGen driver records it; TFX's entrypoint names
        # custom properties that share a declared property's name "custom:<name>".)
        assert _metadata(result, "MnistExampleGen", "examples")["custom:span"] == 2
        # The drift gate compared span 2 with the data version 1 was trained on.
        assert _metadata(result, f"DriftBaseline.{model}", "statistics")["has_statistics"] == 1
        # The Trainer started from version 1's weights.
        assert _stats(s3, result, model)["warm_start"]["restored"] is True, model
        # The Evaluator computed the baseline's metrics beside the candidate's.
        evaluation = result.produced[f"Evaluator.{model}"].artifacts["evaluation"].uri
        metrics = [k for k in s3.keys(evaluation + "/") if "/metrics" in k]
        body = b"".join(s3.client.get_object(Bucket="pipelines", Key=k)["Body"].read()
                        for k in metrics)
        assert b"baseline" in body and b"candidate" in body, model
        assert _metadata(result, f"Evaluator.{model}", "blessing")["blessed"] == 1, model
        assert len(after[model]) == 2 and after[model][0] == before[model][0], after
    assert mirrored == after


def test_span_3_with_half_the_classes_is_refused_and_version_2_stays_served(second, third):
    _, pushed, _ = second
    refused, after, mirrored = third
    assert refused.task.startswith("DriftGate."), refused
    assert "REFUSED before training" in refused.log_tail
    assert "label Jensen-Shannon divergence" in refused.log_tail
    ran = {t.name for t in refused.results}
    assert not [t for t in ran if t.startswith(("Trainer.", "Pusher."))], ran
    assert {f"Trainer.{m}" for m in MODELS} <= set(refused.not_run), refused.not_run
    assert after == pushed and mirrored == pushed


def test_a_rollback_serves_version_1_again_and_the_mirror_follows(second, rolled_back):
    _, pushed, _ = second
    done, after, mirrored = rolled_back
    assert done.returncode == 0, done.stdout + done.stderr
    assert after["softmax"] == pushed["softmax"][:1]  # version 2 moved aside
    assert after["cnn"] == pushed["cnn"]  # the other model untouched
    assert mirrored == after  # TF Serving, reading the mirror, serves version 1 again


def _without_bars(path):
    """The IR's documents with every Evaluator's eval_config cut out, and those configs."""
    with open(path) as f:
        docs = list(yaml.safe_load_all(f))
    bars = {}
    for name, task in docs[0]["root"]["dag"]["tasks"].items():
        if name.startswith("Evaluator."):
            bars[name] = task["inputs"]["parameters"].pop("eval_config")
    return docs, bars


def test_an_ir_with_a_gate_out_of_reach_refuses_and_pushes_nothing(s3, compiled, first,
                                                                   tmp_path):
    # The cluster IR but for its bar, which no model can reach: the same upstream tasks,
    # so the softmax Evaluator and Pusher run on span 1's outputs (on_outputs.py).
    gate = _compile(s3, tmp_path / "kfp", MODELS, 1.5, "--warm-start")
    gate_docs, gate_bars = _without_bars(gate)
    docs, bars = _without_bars(compiled)
    assert gate_docs == docs and set(gate_bars) == set(bars) == {
        f"Evaluator.{m}" for m in MODELS}
    assert "1.5" in json.dumps(gate_bars) and "1.5" not in json.dumps(bars)
    served = _versions(s3, "softmax")
    results, produced = run_on_outputs(
        gate, first[0], ["Evaluator.softmax", "Pusher.softmax"], "gate", s3.secrets,
        str(tmp_path / "mounts"))
    assert [t.exit_code for t in results] == [0, 0]  # a refusal is a run that succeeded
    assert produced["Evaluator.softmax"].artifacts["blessing"].metadata["blessed"] == 0
    assert produced["Pusher.softmax"].artifacts["pushed_model"].metadata["pushed"] == 0
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
