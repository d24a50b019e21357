"""CIFAR-10 compiled by `classics compile --workers 2` and run from that very IR with
`classics run-ir --kubeconfig`: the Trainer task's own command (components/tfjob_trainer.py's
executor) submits its job to the stand-in Kubernetes API (tests/k8s_standin.py, which also
plays the Training Operator, or Trainer, JobSet and the Job controller), two worker
processes train with only their pod's environment, and the chief's export is the
Trainer's Model, which the Pusher pushes. Data, pipeline root and serving repository are
on moto's S3 server: on a cluster the workers run on other machines, so the Trainer
refuses local folders.

The IR compiled with `--trainer-backend tfjob` runs whole. The one compiled with
`--trainer-backend trainjob` differs from it only in its Trainer's settings (checked), so
only its Trainer task runs, by run-ir's own driver and launcher, on the first run's
upstream outputs (on_outputs.py): a second whole run would cost twelve more task
processes for the same tasks. Small: 120 + 40 synthetic CIFAR-10 images, softmax, 1 epoch, Beam in one process."""
import copy
import json
import subprocess
import sys

import pytest
import yaml

from components import tfjob_trainer
from pipelines.runners.ir import run as ir_run
from tests import k8s_standin
from tests.image_fixtures import write_cifar
from tests.paths import REPO
from tests.pipelines.runners.ir.cluster_s3 import SECRET, cluster_s3
from tests.pipelines.runners.ir.on_outputs import run_on_outputs
from tests.tfjob_fixtures import shipped_runtime

pytestmark = pytest.mark.e2e
PIPELINE = "classics-cifar10"
DATA = "s3://data/cifar10"
ROOT = "s3://pipelines/v2/artifacts"
SERVING = "s3://models/serving"
NAMESPACE = "pipelines"  # the kubeconfig context's: the Trainer step's own namespace
TRAINER = "Trainer.softmax"
TASKS = ["CifarExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform"] \
    + [f"{t}.softmax" for t in ("ServingBaseline", "DriftBaseline", "DistributionValidator",
                                "DriftGate", "Trainer", "Evaluator", "ServabilityCheck",
                                "Pusher")]
# What ends the job in the Trainer's log, and worker 0's pod (a prefix).
DONE = {"tfjob": ("TFJob", "Succeeded", "{name}-worker-0"),
        "trainjob": ("TrainJob", "Complete", "{name}-node-0-0-")}


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 (tests/pipelines/runners/ir/cluster_s3.py) with the images uploaded."""
    with cluster_s3(tmp_path_factory.mktemp("secrets")) as server:
        server.upload_dir(write_cifar(str(tmp_path_factory.mktemp("cifar")), 120, 40), DATA)
        yield server


def _compile(s3, backend, output_dir):
    """`classics compile` in a process of its own: it reads the s3:// data folder, which
    loads tensorflow-io (and its abort at exit) into the process."""
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "compile", "cifar10", "--models", "softmax",
         "--workers", "2", "--trainer-backend", backend, "--gpus", "0", "--epochs", "1",
         "--batch-size", "20", "--min-accuracy", "0", "--output-dir", str(output_dir),
         "--data", DATA, "--pipeline-root", ROOT, "--serving-root", SERVING,
         "--object-store-endpoint", s3.endpoint, "--object-store-secret", SECRET,
         "--beam-arg=--direct_running_mode=in_memory", "--beam-arg=--direct_num_workers=1"],
        cwd=REPO, env=s3.process_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return str(output_dir / f"{PIPELINE}.yaml")


def _api(s3, folder):
    """The stand-in API operating jobs; its workers' pods have the image's environment
    and what their container spec gives them (the store's address from the step, its
    keys from the Secret)."""
    with open(s3.secrets) as f:
        secrets = yaml.safe_load(f)
    api = k8s_standin.StandIn(operate=True, secrets=secrets,
                              base_env=ir_run.image_environment(), workdir=str(folder),
                              runtimes=[shipped_runtime(NAMESPACE)])
    api.kubeconfig_path = api.kubeconfig(str(folder / "kubeconfig"), namespace=NAMESPACE)
    return api


@pytest.fixture(scope="module")
def tfjob_run(s3, tmp_path_factory):
    """(run-ir's result, the stand-in API) of the whole TFJob IR."""
    ir = _compile(s3, "tfjob", tmp_path_factory.mktemp("kfp-tfjob"))
    pods = tmp_path_factory.mktemp("pods-tfjob")
    api = _api(s3, pods)
    try:
        try:
            result = ir_run.run_ir(ir, run_id="tfjob", secrets_file=s3.secrets,
                                   parallelism=2, local_mounts=str(pods / "mounts"),
                                   kubeconfig=api.kubeconfig_path, echo=lambda _: None)
        except ir_run.IRRunError as e:
            pytest.fail(f"{e}\n{e.log_tail}")
        yield result, api
    finally:
        api.close()


def _trainer_settings(ir):
    """The IR with its Trainer's custom_config cut out, and that custom_config."""
    ir = copy.deepcopy(ir)
    params = ir[0]["root"]["dag"]["tasks"][TRAINER]["inputs"]["parameters"]
    config = params.pop("custom_config")["runtimeValue"]["constant"]
    return ir, json.loads(config)


@pytest.fixture(scope="module")
def trainjob_run(s3, tfjob_run, tmp_path_factory):
    """(the Trainer task's result, the stand-in API, the TrainJob IR's Trainer settings)
    of the TrainJob IR's Trainer task, run on the TFJob run's upstream outputs."""
    first, _ = tfjob_run
    path = _compile(s3, "trainjob", tmp_path_factory.mktemp("kfp-trainjob"))
    with open(first.ir_path) as f, open(path) as g:
        tfjob_ir, tfjob_config = _trainer_settings(list(yaml.safe_load_all(f)))
        trainjob_ir, config = _trainer_settings(list(yaml.safe_load_all(g)))
    assert trainjob_ir == tfjob_ir  # nothing else differs: the upstream outputs are its own
    assert {k: v for k, v in config.items() if k != "trainjob"} == \
        {k: v for k, v in tfjob_config.items() if k != "tfjob"}
    pods = tmp_path_factory.mktemp("pods-trainjob")
    api = _api(s3, pods)
    try:
        (result,), produced = run_on_outputs(
            path, first, [TRAINER], "trainjob", s3.secrets, str(pods / "mounts"),
            kubeconfig=api.kubeconfig_path)
        yield result, produced[TRAINER], api, config
    finally:
        api.close()


@pytest.fixture(params=sorted(DONE))
def trained(request, tfjob_run):
    """(backend, the Trainer task, its outputs, the stand-in API) of either backend."""
    if request.param == "tfjob":
        result, api = tfjob_run
        (task,) = [t for t in result.tasks if t.name == TRAINER]
        return "tfjob", task, result.produced[TRAINER], api
    task, produced, api, _ = request.getfixturevalue("trainjob_run")
    return "trainjob", task, produced, api


def _read(s3, uri):
    bucket, key = uri[len("s3://"):].split("/", 1)
    return s3.client.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_the_trainer_task_runs_its_job_on_two_workers(s3, trained):
    backend, task, produced, api = trained
    assert task.exit_code == 0
    kind, succeeded, chief = DONE[backend]
    (body,) = api.created  # validated against the operator's CRD when created
    name = body["metadata"]["name"]
    assert body["kind"] == kind and body["metadata"]["namespace"] == NAMESPACE
    assert name.startswith("trainer-softmax-")
    chief = chief.format(name=name)
    if backend == "tfjob":
        (container,) = body["spec"]["tfReplicaSpecs"]["Worker"]["template"]["spec"][
            "containers"]
        assert body["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 2
        codes = api.replica_codes(name, NAMESPACE)
        # Worker 0 ends the job; deleting it stops worker 1 if it was still exporting.
        assert codes[0] == 0 and codes[1] in (0, -9), codes
    else:
        container = body["spec"]["trainer"]
        assert container["numNodes"] == 2
        codes = api.pod_codes(name, NAMESPACE)
        assert sorted(codes.values()) == [0, 0], codes  # two pods, none restarted
    # The workers' command, with the step's invocation minus the job's settings (which
    # the run_fn would refuse), the store's address and its keys from the Secret.
    assert container["command"] + container["args"][:-1] == [
        "python", "-m", "trainer.runtime.tfjob_worker"] + (
        ["--cluster", "jobset"] if backend == "trainjob" else []) + ["--invocation"]
    invocation = json.loads(container["args"][-1])
    assert backend not in json.loads(invocation["exec_properties"]["custom_config"])
    env = {e["name"]: e for e in container["env"]}
    assert env["S3_ENDPOINT"]["value"] == s3.endpoint
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": SECRET, "key": "secretkey"}
    # The step followed the job to its end (worker 0's lines in its log) and deleted it.
    with open(task.log_path, encoding="utf-8", errors="replace") as f:
        log = f.read()
    assert f"{kind} {NAMESPACE}/{name}: {succeeded}" in log, log[-3000:]
    assert f"[{chief}" in log, log[-3000:]
    assert api.deleted == [name] and not api.jobs
    # The chief's statistics, beside its model: both workers trained together.
    stats = json.loads(_read(s3, produced.artifacts["model_run"].uri +
                             "/training_stats.json"))
    assert stats["strategy"] == "MultiWorkerMirroredStrategy" and stats["replicas"] == 2
    assert stats["task"] == "worker:0"
    # The chief's export is the Trainer's Model artifact (what the Evaluator and the
    # Pusher read).
    assert _read(s3, produced.artifacts["model"].uri + "/Format-Serving/saved_model.pb")


def test_every_task_of_the_tfjob_ir_exits_0_and_the_chiefs_model_is_pushed(s3, tfjob_run):
    result, _ = tfjob_run
    assert sorted(t.name for t in result.tasks) == sorted(TASKS)
    assert all(t.exit_code == 0 for t in result.tasks)
    model = result.produced[TRAINER].artifacts["model"].uri
    assert model.startswith(f"{ROOT}/{PIPELINE}/tfjob/{TRAINER}/")
    pushed = result.produced["Pusher.softmax"].artifacts["pushed_model"].metadata
    assert pushed["pushed"] == 1
    destination = pushed["pushed_destination"]
    assert destination.startswith(f"{SERVING}/cifar10_softmax/")
    assert _read(s3, f"{destination}/saved_model.pb") == \
        _read(s3, f"{model}/Format-Serving/saved_model.pb")


def test_the_trainjob_ir_names_its_backend_and_runtime(trainjob_run):
    *_, config = trainjob_run
    assert tfjob_trainer.backend_of(config).key == "trainjob"
    assert config["trainjob"]["workers"] == 2
    assert config["trainjob"]["runtime"] == "tfx-classics-tensorflow"
