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

Every strategy is logged with the devices it trains on. When GPUs were requested for the
process (`CLASSICS_REQUIRE_GPUS=N`, which the TFJob workers and GPU Trainer pods get from
the compiled pipeline), fewer visible GPUs is an error, not a silent CPU run.
"""
from __future__ import annotations

import importlib.util
import json
import os
from typing import Any, Dict, List, Optional

import absl.logging
import tensorflow as tf

# The number of GPUs this process was given (a pod's GPU limit); unset or 0: none needed.
REQUIRE_GPUS_ENV = "CLASSICS_REQUIRE_GPUS"


class GPUUnavailableError(RuntimeError):
    """GPUs were requested for this process, but TensorFlow sees fewer."""


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


def required_gpus(environ: Optional[Dict[str, str]] = None) -> int:
    """`CLASSICS_REQUIRE_GPUS` as a count (0 when unset)."""
    raw = (os.environ if environ is None else environ).get(REQUIRE_GPUS_ENV, "").strip()
    if not raw:
        return 0
    try:
        count = int(raw)
    except ValueError:
        raise ValueError(f"{REQUIRE_GPUS_ENV}={raw!r}: expected a whole number of GPUs") \
            from None
    if count < 0:
        raise ValueError(f"{REQUIRE_GPUS_ENV}={raw!r}: expected 0 or more GPUs")
    return count


def _missing_gpu_hint() -> str:
    """Why a process might see no GPU, from what can be checked inside it."""
    if not tf.test.is_built_with_cuda():
        return "this TensorFlow build has no CUDA support"
    try:
        cuda_libraries = importlib.util.find_spec("nvidia.cudnn") is not None
    except ModuleNotFoundError:  # no nvidia-* wheel at all
        cuda_libraries = False
    if not cuda_libraries:
        # The PyPI wheel is CUDA-enabled but loads CUDA from the nvidia-* wheels.
        return ("the CUDA libraries are not installed in this image (build the GPU image, "
                "Dockerfile.gpu, which installs tensorflow[and-cuda]'s nvidia-* wheels)")
    return ("the CUDA libraries are installed, so the node's driver or device plugin is not "
            "exposing a GPU to this container (check nvidia-smi and the pod's GPU limit)")


def check_gpus(required: Optional[int] = None,
               visible: Optional[List[Any]] = None) -> List[Any]:
    """The physical GPUs TensorFlow sees; raises GPUUnavailableError when fewer than
    `required` (default: CLASSICS_REQUIRE_GPUS) are visible."""
    required = required_gpus() if required is None else required
    visible = tf.config.list_physical_devices("GPU") if visible is None else visible
    if len(visible) < required:
        raise GPUUnavailableError(
            f"{required} GPU(s) requested ({REQUIRE_GPUS_ENV}={required}) but TensorFlow "
            f"sees {len(visible)}: {_missing_gpu_hint()}; refusing to train on the CPU")
    return visible


def _strategy_devices(strategy: tf.distribute.Strategy) -> List[str]:
    try:
        return list(strategy.extended.worker_devices)
    except RuntimeError:  # the default strategy has no device list
        pass
    gpus = tf.config.list_logical_devices("GPU")
    return [(gpus or tf.config.list_logical_devices("CPU"))[0].name]


def make_strategy(mixed_precision: bool = False) -> tf.distribute.Strategy:
    # Listing physical devices does not start TensorFlow's runtime, so a multi-worker
    # strategy can still be created after it.
    physical_gpus = check_gpus()
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
    absl.logging.info("%s on %s (task %s): %d replica(s) in sync; physical GPUs visible: %s",
                      describe(strategy), ", ".join(_strategy_devices(strategy)), task_name(),
                      strategy.num_replicas_in_sync,
                      ", ".join(d.name for d in physical_gpus) or "none")
    return strategy


def describe(strategy: tf.distribute.Strategy) -> str:
    """The public name of a strategy (TF's MultiWorkerMirroredStrategy class is
    CollectiveAllReduceStrategy internally)."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    if not tf.distribute.has_strategy() and strategy is tf.distribute.get_strategy():
        return "DefaultStrategy"
    return type(strategy).__name__
