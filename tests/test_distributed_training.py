"""The Trainer's distribution paths on CPU: MirroredStrategy over two logical CPU devices,
a two-process MultiWorkerMirroredStrategy cluster on 127.0.0.1, and resume after a kill.
Each run is a separate process because devices and TF_CONFIG are fixed at TF start-up."""
import json
import os
import socket
import subprocess
import sys

import pytest
import tensorflow as tf

from tests import transformed_fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HARNESS = os.path.join(ROOT, "tests", "train_harness.py")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return transformed_fixtures.build(str(tmp_path_factory.mktemp("xf")))


def _fn_args(data, out, **custom):
    graph, train, evals = data
    config = {"model": "softmax", "image_shape": [28, 28, 1], "num_classes": 10,
              "epochs": 2, "batch_size": 20}
    config.update(custom)
    return {"train_files": [train], "eval_files": [evals], "transform_output": graph,
            "serving_model_dir": os.path.join(out, "serving_model"),
            "model_run_dir": os.path.join(out, "model_run"), "custom_config": config}


def _spawn(args, env_extra=None, extra_argv=()):
    env = dict(os.environ, PYTHONPATH=ROOT, **(env_extra or {}))
    env.pop("TF_CONFIG", None) if not env_extra or "TF_CONFIG" not in env_extra else None
    return subprocess.Popen([sys.executable, HARNESS, json.dumps(args), *extra_argv], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc, timeout=240):
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out


def _stats(out):
    with open(os.path.join(out, "model_run", "training_stats.json")) as f:
        return json.load(f)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mirrored_strategy_over_two_logical_cpus(data, tmp_path):
    out = str(tmp_path / "mirrored")
    args = _fn_args(data, out)
    args["cpu_replicas"] = 2
    rc, log = _finish(_spawn(args))
    assert rc == 0, log[-3000:]
    stats = _stats(out)
    assert stats["strategy"] == "MirroredStrategy" and stats["replicas"] == 2
    assert stats["global_batch_size"] == 40  # per-replica 20 x 2
    served = tf.saved_model.load(os.path.join(out, "serving_model"))
    assert {"serving_default", "serving_images"} <= set(served.signatures)


def test_two_worker_cluster_on_localhost_only_chief_exports(data, tmp_path):
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        out = str(tmp_path / f"worker{index}")
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(_spawn(_fn_args(data, out), {"TF_CONFIG": tf_config}))
    results = [_finish(p) for p in procs]
    for rc, log in results:
        assert rc == 0, log[-3000:]
    chief = str(tmp_path / "worker0")
    stats = _stats(chief)
    assert stats["strategy"] == "MultiWorkerMirroredStrategy"
    assert stats["replicas"] == 2 and stats["task"] == "worker:0"
    assert os.path.exists(os.path.join(chief, "serving_model", "saved_model.pb"))
    # The other worker trained in lock-step but wrote no model and no stats.
    assert not os.path.exists(str(tmp_path / "worker1" / "serving_model"))
    assert not os.path.exists(str(tmp_path / "worker1" / "model_run" / "training_stats.json"))


def test_killed_trainer_resumes_from_its_checkpoint(data, tmp_path):
    out = str(tmp_path / "resume")
    args = _fn_args(data, out, epochs=5, backup_dir=str(tmp_path / "backup"))
    rc, log = _finish(_spawn(args, extra_argv=["--kill-after-epoch", "3"]))
    assert rc == -9, log[-3000:]  # SIGKILL: nothing ran after epoch 3
    assert os.listdir(tmp_path / "backup")  # the checkpoint survived the kill
    assert not os.path.exists(os.path.join(out, "serving_model"))
    rc, log = _finish(_spawn(args))
    assert rc == 0, log[-3000:]
    stats = _stats(out)
    assert stats["resumed_at_epoch"] == 3  # epochs 4 and 5 only
    assert len(stats["epoch_seconds"]) == 2
    # The optimizer's step counter continued too: no step trained twice or skipped.
    assert stats["optimizer_steps"] == 5 * stats["steps_per_epoch"]
    assert not os.path.exists(tmp_path / "backup") or not os.listdir(tmp_path / "backup")
