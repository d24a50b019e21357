"""Benchmark: the MNIST pipeline on the embedded data, and Trainer vs plain Keras.

Prints (1) wall time per pipeline component, read from ML Metadata, and (2) for each model
the Trainer's steady-state training examples/s next to a plain `model.fit` on the same
model, data, batch size, optimizer and validation set, run in this same process right
after the pipeline, and their ratio (goal: >= 0.9). Figures, not pass/fail.

`--zoo MODELS` (what `make bench-zoo` runs) skips the pipeline and trains each named
model with its registry recipe (epochs, batch size, optimizer, schedule) in plain Keras
on the same embedded 4,000/1,000 digits, printing its eval accuracy: the `*` figures of
README's model table.

    .venv/bin/python bench/run_bench.py [--models softmax,cnn] [--keep WORKSPACE]
    .venv/bin/python bench/run_bench.py --zoo nin,inception,resnet20,resnet32,resnet56,highway
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainer import tf_env  # noqa: E402,F401  (before TensorFlow)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from components import idx_format  # noqa: E402
from pipelines.runners import local as local_runner  # noqa: E402
from pipelines.image.config import ImagePipelineConfig  # noqa: E402
from trainer import schedules  # noqa: E402
from trainer.image import specs  # noqa: E402
from trainer.image.train import ThroughputMeter  # noqa: E402


def load_split(folder: str, prefix: str):
    x = idx_format.read_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte"))
    y = idx_format.read_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"))
    return (x[..., None] / 255.0).astype(np.float32), y.astype(np.int64)


def plain_keras(spec: specs.ImageModelSpec, data_dir: str, epochs: int, batch: int,
                seed: int = 42) -> float:
    """Steady-state examples/s of model.fit on in-memory arrays (epoch 1 excluded)."""
    return fit_plain(spec, data_dir, epochs, batch, seed)[0]


def fit_plain(spec: specs.ImageModelSpec, data_dir: str, epochs: int, batch: int,
              seed: int = 42):
    """model.fit of `spec`'s recipe on in-memory arrays: (steady-state examples/s,
    eval accuracy after the last epoch, fit seconds, parameter count)."""
    (x, y), (xv, yv) = load_split(data_dir, "train"), load_split(data_dir, "t10k")
    tf.keras.utils.set_random_seed(seed)
    model = spec.build(x.shape[1:], 10)
    steps = len(x) // batch
    model.compile(optimizer=spec.make_optimizer(
                      schedules.make_schedule(spec.lr_schedule, spec.learning_rate, steps, epochs)),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    meter = ThroughputMeter(steps * batch)
    t0 = time.perf_counter()
    history = model.fit(x[: steps * batch], y[: steps * batch], batch_size=batch,
                        epochs=epochs, validation_data=(xv, yv), callbacks=[meter], verbose=0)
    return (meter.steady_examples_per_sec(), float(history.history["val_accuracy"][-1]),
            time.perf_counter() - t0, int(model.count_params()))


def zoo(models, data_dir: str) -> None:
    """Each model's registry recipe in plain Keras; prints its eval accuracy."""
    print(f"\n{'model':<10}{'params':>11}{'epochs':>7}{'batch':>6}{'fit s':>8}{'eval acc':>10}"
          f"  (embedded MNIST, 4,000 train / 1,000 eval, plain Keras, registry recipe)")
    for name in models:
        spec = specs.MODELS[name]
        _, accuracy, seconds, params = fit_plain(spec, data_dir, spec.epochs, spec.batch_size)
        print(f"{name:<10}{params:>11,}{spec.epochs:>7}{spec.batch_size:>6}{seconds:>8.0f}"
              f"{accuracy:>10.4f}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default="softmax,cnn")
    ap.add_argument("--baseline-epochs", type=int, default=4,
                    help="epochs of the plain-Keras run (first one excluded from the rate)")
    ap.add_argument("--epochs", type=int, help="override every model's epochs (pipeline)")
    ap.add_argument("--keep", help="workspace to keep (default: a temp dir, removed)")
    ap.add_argument("--zoo", help="comma-separated models: plain-Keras eval accuracy of each "
                                  "registry recipe, no pipeline")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    ws = args.keep or tempfile.mkdtemp(prefix="classics-bench-")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"TensorFlow {tf.__version__}, devices "
          f"{[d.device_type for d in tf.config.list_logical_devices()]}")
    if args.zoo:
        zoo([m for m in args.zoo.split(",") if m],
            ImagePipelineConfig(corpus="mnist", workspace=ws).resolve_data_dir())
        if not args.keep:
            shutil.rmtree(ws, ignore_errors=True)
        return 0
    config = ImagePipelineConfig(corpus="mnist", models=models, workspace=ws, enable_cache=False,
                            epochs=args.epochs)
    t0 = time.perf_counter()
    report = local_runner.run_pipeline(config, echo=lambda line: None)
    total = time.perf_counter() - t0
    print(f"\npipeline wall time {total:.1f}s (embedded 5,000 digits, {', '.join(models)})")
    print(f"{'component':<26}{'state':<10}{'seconds':>8}")
    for node in report.nodes.values():
        print(f"{node.node_id:<26}{node.state:<10}{node.seconds:>8.1f}")

    data_dir = config.resolve_data_dir()
    print(f"\n{'model':<10}{'params':>10}{'trainer ex/s':>14}{'keras ex/s':>12}{'ratio':>7}"
          f"{'eval acc':>10}  blessed")
    for result in report.models:
        stats = result.training_stats or {}
        spec = specs.MODELS[result.model]
        batch = stats.get("global_batch_size", spec.batch_size)
        keras_rate = plain_keras(spec, data_dir, args.baseline_epochs, batch)
        rate = stats.get("examples_per_sec", float("nan"))
        print(f"{result.model:<10}{stats.get('params', 0):>10,}{rate:>14.0f}{keras_rate:>12.0f}"
              f"{rate / keras_rate:>7.2f}{result.metrics.get('accuracy', float('nan')):>10.4f}  "
              f"{result.blessed}")
    print("\nratio = Trainer steady-state examples/s / plain Keras fit examples/s "
          "(same model, data, batch, validation each epoch); goal >= 0.9")
    if not args.keep:
        shutil.rmtree(ws, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
