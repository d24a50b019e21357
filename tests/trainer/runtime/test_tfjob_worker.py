"""trainer/runtime/tfjob_worker.py: a Trainer step's run_fn as N=2 worker processes on 127.0.0.1 with the
TF_CONFIG the Training Operator writes, reading the step's inputs from and writing its
model to an S3 server on 127.0.0.1 (moto, a stand-in for the cluster's object store).
The chief's model must pass the ServabilityCheck executor and classify real examples;
every worker must exit 0 despite tensorflow-io's abort at exit."""
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components.servability_check import ServabilityCheck
from tests import tfjob_fixtures as fx
from tests.s3_standin import s3_server
from trainer.runtime import tfjob_worker as worker

from tests.paths import REPO as ROOT


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def operator_tf_config(addresses, index):
    """TF_CONFIG exactly as the Training Operator writes it for a Worker-only TFJob
    (kubeflow/training-operator pkg/controller.v1/tensorflow/tensorflow.go)."""
    return json.dumps({"cluster": {"worker": addresses},
                       "task": {"type": "worker", "index": index}, "environment": "cloud"})


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    with s3_server() as s3:
        s3.bucket(fx.BUCKET)
        uris = fx.upload_transform_outputs(s3, str(tmp_path_factory.mktemp("xf")))
        invocation = worker.encode_invocation(*fx.trainer_invocation(uris, fx.softmax_config()))
        command = worker.command(invocation)
        assert command[:3] == ["python", "-m", "trainer.runtime.tfjob_worker"]
        addresses = [f"127.0.0.1:{_free_port()}" for _ in range(2)]
        procs = []
        for index in range(2):
            env = dict(s3.process_env(), PYTHONPATH=ROOT,
                       TF_CONFIG=operator_tf_config(addresses, index))
            procs.append(subprocess.Popen([sys.executable] + command[1:], cwd=ROOT, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True))
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=600)
            results.append((proc.returncode, out))
        local = str(tmp_path_factory.mktemp("model"))
        fx.download(s3, fx.MODEL_URI, os.path.join(local, "model"))
        fx.download(s3, fx.MODEL_RUN_URI, os.path.join(local, "model_run"))
        keys = s3.keys(f"{fx.ROOT_URI}/Trainer.softmax/")
        yield results, local, keys


@pytest.mark.e2e
def test_both_workers_exit_zero(cluster_run):
    results, _, _ = cluster_run
    for code, log in results:
        assert code == 0, log[-4000:]
    assert "MultiWorkerMirroredStrategy" in results[0][1]
    assert "worker worker:1 of 2" in results[1][1]


@pytest.mark.e2e
def test_only_the_chiefs_model_and_stats_are_written(cluster_run):
    _, local, keys = cluster_run
    with open(os.path.join(local, "model_run", "training_stats.json")) as f:
        stats = json.load(f)
    assert stats["strategy"] == "MultiWorkerMirroredStrategy" and stats["replicas"] == 2
    assert stats["task"] == "worker:0"
    assert stats["global_batch_size"] == 40  # per-replica 20 x 2 workers
    assert os.path.exists(os.path.join(local, "model", "Format-Serving", "saved_model.pb"))
    prefix = "root/Trainer.softmax/"
    outside = [k for k in keys if not k.startswith((prefix + "model/7/", prefix + "model_run/7/"))
               and not k.endswith("/")]
    # BackupAndRestore removed its checkpoints once training finished; worker 1 exported
    # to a scratch folder of its own.
    assert outside == []


@pytest.mark.e2e
def test_the_chiefs_model_passes_the_servability_check_and_classifies(cluster_run, tmp_path):
    _, local, _ = cluster_run
    serialized, labels = fx.raw_eval_examples(str(tmp_path / "raw"), n=64)
    model = standard_artifacts.Model()
    model.uri = os.path.join(local, "model")
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "raw")
    examples.split_names = json.dumps(["eval"])
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = str(tmp_path / "blessing")
    executor = ServabilityCheck.EXECUTOR_SPEC.executor_class()
    executor.Do({"model": [model], "examples": [examples]}, {"blessing": [blessing]},
                {"serving_model_name": "mnist_softmax",
                 "num_examples": 16, "split": "eval"})
    assert blessing.get_int_custom_property("blessed") == 1, \
        blessing.get_string_custom_property("reason")
    served = tf.saved_model.load(os.path.join(local, "model", "Format-Serving"))
    out = served.signatures["serving_default"](examples=tf.constant(serialized))
    accuracy = float(np.mean(out["class_ids"].numpy().reshape(-1) == labels))
    assert accuracy >= 0.8, accuracy


def test_a_bad_invocation_fails_with_one_message():
    result = subprocess.run([sys.executable, "-m", "trainer.runtime.tfjob_worker", "--invocation", "{not json"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: --invocation: not JSON")
    result = subprocess.run([sys.executable, "-m", "trainer.runtime.tfjob_worker", "--invocation",
                             json.dumps({"inputs": {}, "outputs": {}, "exec_properties": {}})],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1 and "no run_fn" in result.stderr
    # On a TrainJob the cluster comes from JobSet's labels; a pod without them is refused.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBSET_", "JOB_"))}
    result = subprocess.run([sys.executable, "-m", "trainer.runtime.tfjob_worker",
                             "--cluster", "jobset", "--invocation", "{}"], env=env,
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        "error: --cluster jobset: JOBSET_NAME and JOBSET_REPLICATED_JOB must be set")


def test_losing_a_peer_is_retryable_and_a_bug_is_not():
    assert worker.RETRYABLE_EXIT >= 128  # what the operator's ExitCode policy restarts
    assert worker._retryable(tf.errors.UnavailableError(None, None, "peer gone"))
    assert worker._retryable(tf.errors.DeadlineExceededError(None, None, "collective timeout"))
    assert not worker._retryable(ValueError("unknown model"))
    assert not worker._retryable(tf.errors.InvalidArgumentError(None, None, "bad shape"))


def test_invocation_round_trips_the_steps_artifacts(tmp_path):
    uris = {"examples": "s3://b/x/examples/1", "transform_graph": "s3://b/x/graph/2"}
    inputs, outputs, props = fx.trainer_invocation(uris, fx.softmax_config())
    decoded = worker.decode_invocation(worker.encode_invocation(inputs, outputs, props))
    assert decoded[0]["examples"][0].uri == uris["examples"]
    assert decoded[0]["examples"][0].split_names == '["train", "eval"]'
    assert decoded[1]["model"][0].uri == fx.MODEL_URI
    assert decoded[2] == props


def test_every_replica_and_restart_derives_the_same_backup_folder_on_the_store():
    from tfx.components.trainer import executor as trainer_executor

    from trainer.image import train
    from trainer.image.config import TrainConfig

    uris = {"examples": f"{fx.ROOT_URI}/Transform/transformed_examples/5",
            "transform_graph": f"{fx.ROOT_URI}/Transform/transform_graph/5"}
    invocation = worker.encode_invocation(*fx.trainer_invocation(uris, fx.softmax_config()))
    folders = set()
    for _ in range(3):  # worker 0, worker 1, worker 1 restarted: each decodes the same JSON
        inputs, outputs, props = worker.decode_invocation(invocation)
        fn_args = trainer_executor.GenericExecutor()._GetFnArgs(inputs, outputs, props)
        folders.add(train.backup_dir(fn_args, TrainConfig.from_custom_config(
            dict(fn_args.custom_config))))
    (folder,) = folders
    # Beside the step's outputs on the object store, so it outlives any one pod.
    assert folder.startswith(f"{fx.ROOT_URI}/Trainer.softmax/backup/")
