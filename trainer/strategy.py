"""The tf.distribute strategy factory every model trains under.

- MultiWorkerMirroredStrategy when TF_CONFIG names more than one worker (Kubeflow's
  TFJob sets TF_CONFIG for each replica);
- MirroredStrategy over all local GPUs when there is more than one;
- OneDeviceStrategy on the single GPU, else on the CPU;
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


def make_strategy(mixed_precision: bool = False) -> tf.distribute.Strategy:
    if num_workers() > 1:
        strategy: tf.distribute.Strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        gpus = tf.config.list_logical_devices("GPU")
        cpus = tf.config.list_logical_devices("CPU")
        if len(gpus) > 1:
            strategy = tf.distribute.MirroredStrategy([d.name for d in gpus])
        elif len(gpus) == 1:
            strategy = tf.distribute.OneDeviceStrategy(gpus[0].name)
        elif len(cpus) > 1:
            strategy = tf.distribute.MirroredStrategy([d.name for d in cpus])
        else:
            strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    if mixed_precision and tf.config.list_logical_devices("GPU"):
        tf.keras.mixed_precision.set_global_policy("mixed_float16")
    return strategy
