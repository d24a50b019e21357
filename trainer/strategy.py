"""The tf.distribute strategy factory every model trains under.

- MultiWorkerMirroredStrategy when TF_CONFIG names more than one worker (Kubeflow's
  TFJob sets TF_CONFIG for each replica);
- MirroredStrategy over all local GPUs when there is more than one;
- otherwise the default (single-device) strategy, which places work on the GPU when there
  is one, else on the CPU. Not OneDeviceStrategy: Keras' BackupAndRestore (our resume
  after a kill) refuses it in TF 2.16, and on one device the two behave the same;
- MirroredStrategy over logical CPU devices when the process was split into several
  (that is how the multi-replica path is exercised on machines without GPUs).
Mixed precision (`mixed_float16`) is switched on only when asked for and a GPU is present.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict

import tensorflow as tf


def tf_config() -> Dict[str, Any]:
    raw = os.environ.get("TF_CONFIG")
    return json.loads(raw) if raw else {}


def num_workers(config: Dict[str, Any] | None = None) -> int:
    cluster = (config if config is not None else tf_config()).get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def is_chief(config: Dict[str, Any] | None = None) -> bool:
    """True for the replica that exports: the 'chief' task, or worker 0 when there is none."""
    config = config if config is not None else tf_config()
    task = config.get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = bool(config.get("cluster", {}).get("chief"))
    return task.get("type") == "worker" and task.get("index", 0) == 0 and not has_chief


def task_name(config: Dict[str, Any] | None = None) -> str:
    task = (config if config is not None else tf_config()).get("task", {})
    return f"{task.get('type', 'local')}:{task.get('index', 0)}"


def split_cpu(replicas: int) -> None:
    """Splits the CPU into `replicas` logical devices (must run before TF initialises
    devices). This is how multi-replica code is exercised on machines without GPUs."""
    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(replicas)])


def make_strategy(mixed_precision: bool = False) -> tf.distribute.Strategy:
    if num_workers() > 1:
        strategy: tf.distribute.Strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        if len(gpus) > 1:
            strategy = tf.distribute.MirroredStrategy([d.name for d in gpus])
        elif len(cpus) > 1 and not gpus:
            strategy = tf.distribute.MirroredStrategy([d.name for d in cpus])
        else:
            strategy = tf.distribute.get_strategy()
    if mixed_precision and tf.config.list_logical_devices("GPU"):
        tf.keras.mixed_precision.set_global_policy("mixed_float16")
    return strategy


def describe(strategy: tf.distribute.Strategy) -> str:
    """The public name of a strategy (TF's MultiWorkerMirroredStrategy class is
    CollectiveAllReduceStrategy internally)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    if not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy():
        return "DefaultStrategy"
    return type(strategy).__name__
