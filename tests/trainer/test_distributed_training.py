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

from tests.paths import REPO as ROOT
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


def _attempt(data, trainer_root, execution_id, **custom):
    """FnArgs as TFX gives one attempt of a Trainer: fresh model_run and model folders
    under the Trainer's own folder, named by the attempt's execution id."""
    args = _fn_args(data, trainer_root, **custom)
    args["model_run_dir"] = os.path.join(trainer_root, "model_run", str(execution_id))
    args["serving_model_dir"] = os.path.join(trainer_root, "model", str(execution_id),
                                             "Format-Serving")
    return args


def test_a_retried_trainer_resumes_where_the_killed_attempt_stopped(data, tmp_path):
    # The path a TFX retry takes: no backup_dir in the config, a new model_run folder per
    # attempt; the checkpoint folder is derived (trainer.image.train.backup_dir).
    root = str(tmp_path / "pipeline_root" / "Trainer.softmax")
    first = _attempt(data, root, 7, epochs=5)
    rc, log = _finish(_spawn(first, extra_argv=["--kill-after-epoch", "3"]), timeout=900)
    assert rc == -9, log[-3000:]  # SIGKILL: nothing ran after epoch 3
    backups = os.path.join(root, "backup")
    assert len(os.listdir(backups)) == 1 and os.listdir(
        os.path.join(backups, os.listdir(backups)[0]))  # the checkpoint survived the kill
    assert not os.path.exists(first["serving_model_dir"])
    second = _attempt(data, root, 8, epochs=5)
    rc, log = _finish(_spawn(second), timeout=900)
    assert rc == 0, log[-3000:]
    with open(os.path.join(second["model_run_dir"], "training_stats.json")) as f:
        stats = json.load(f)
    assert stats["resumed_at_epoch"] == 3  # epochs 4 and 5 only
    assert len(stats["epoch_seconds"]) == 2
    # The optimizer's step counter continued too: no step trained twice or skipped.
    assert stats["optimizer_steps"] == 5 * stats["steps_per_epoch"]
    assert os.path.exists(os.path.join(second["serving_model_dir"], "saved_model.pb"))
    # Keras removes the checkpoint once training completed.
    assert all(not os.listdir(os.path.join(backups, d)) for d in os.listdir(backups))


def test_backup_folder_is_kept_by_trainer_and_keyed_by_config_and_inputs(tmp_path):
    from tfx.components.trainer.fn_args_utils import FnArgs
    from trainer.image.config import TrainConfig
    from trainer.image.train import backup_dir

    root = str(tmp_path / "Trainer.cnn")

    def folder(run, files=("a.gz",), **custom):
        cfg = TrainConfig(model="cnn", image_shape=[28, 28, 1], num_classes=10, **custom)
        return backup_dir(FnArgs(model_run_dir=os.path.join(root, "model_run", run),
                                 train_files=list(files)), cfg)

    assert os.path.dirname(folder("1")) == os.path.join(root, "backup")
    assert folder("1") == folder("2")  # a retry finds the killed attempt's checkpoint
    assert folder("1") != folder("1", files=("b.gz",))  # new data starts afresh
    assert folder("1") != folder("1", epochs=3)  # so does another recipe
    assert folder("1", backup_dir="/elsewhere") == "/elsewhere"
