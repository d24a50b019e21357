"""Benchmark: the MNIST pipeline on the embedded data, and Trainer vs plain Keras.

Prints (1) wall time per pipeline component, read from ML Metadata, (2) for each model
the Trainer's steady-state training examples/s next to a plain `model.fit` on the same
model, data, batch size, optimizer and validation set, run in this same process right
after the pipeline, and their ratio (goal: >= 0.9), and (3) the whole Trainer step next
to plain Keras doing the same work end to end (that fit for the Trainer's epochs, then
the same SavedModel with the same signatures over the Transform graph), phase by phase,
and their ratio (goal: <= 1.25); plain Keras runs under the Trainer's AutoGraph rules
(trainer/tf_env.py), so the ratio is the Trainer's own overhead. Figures, not pass/fail.

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
import tensorflow_transform as tft  # noqa: E402

from components import idx_format  # noqa: E402
from pipelines.image.config import ImagePipelineConfig  # noqa: E402
from pipelines.runners import local as local_runner  # noqa: E402
from trainer import epoch_log, schedules  # noqa: E402
from trainer.contract import (IMAGE_KEY, LABEL_KEY, SERVING_DEFAULT,  # noqa: E402
                               SERVING_IMAGES)
from trainer.image import specs  # noqa: E402
from trainer.image.train import PHASES, ThroughputMeter  # noqa: E402

# Plain Keras' phases: the Trainer's, less the .keras file it also writes.
KERAS_PHASES = tuple(p for p in PHASES if p != "keras_save")


def load_split(folder: str, prefix: str):
    x = idx_format.read_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte"))
    y = idx_format.read_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"))
    return (x[..., None] / 255.0).astype(np.float32), y.astype(np.int64)


def compiled(spec: specs.ImageModelSpec, input_shape, steps: int, epochs: int,
             seed: int = 42) -> tf.keras.Model:
    """`spec`'s model compiled with its recipe, as the Trainer does."""
    tf.keras.utils.set_random_seed(seed)
    model = spec.build(input_shape, 10)
    model.compile(optimizer=spec.make_optimizer(
                      schedules.make_schedule(spec.lr_schedule, spec.learning_rate, steps, epochs)),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


def fit_plain(spec: specs.ImageModelSpec, data_dir: str, epochs: int, batch: int,
              seed: int = 42):
    """model.fit of `spec`'s recipe on in-memory arrays: (steady-state examples/s,
    eval accuracy after the last epoch, fit seconds, parameter count)."""
    (x, y), (xv, yv) = load_split(data_dir, "train"), load_split(data_dir, "t10k")
    steps = len(x) // batch
    model = compiled(spec, x.shape[1:], steps, epochs, seed)
    meter = ThroughputMeter(steps * batch)
    t0 = time.perf_counter()
    history = model.fit(x[: steps * batch], y[: steps * batch], batch_size=batch,
                        epochs=epochs, validation_data=(xv, yv), callbacks=[meter], verbose=0)
    return (meter.steady_examples_per_sec(), float(history.history["val_accuracy"][-1]),
            time.perf_counter() - t0, int(model.count_params()))


def plain_export(model: tf.keras.Model, transform_graph: str, export_dir: str) -> None:
    """The Trainer's SavedModel as a Keras user would write it: the Keras model as the
    root, the Transform layer on it, raw tf.Examples and uint8 pixels in."""
    tft_output = tft.TFTransformOutput(transform_graph)
    model.tft_layer = tft_output.transform_features_layer()
    raw_spec = {k: v for k, v in tft_output.raw_feature_spec().items() if k != LABEL_KEY}
    shape = list(model.input_shape[1:])
    pixels = shape[:2] if shape[2] == 1 else shape

    def predict(features):
        images = tf.reshape(model.tft_layer(features)[IMAGE_KEY], [-1] + shape)
        probabilities = tf.nn.softmax(model(images, training=False))
        return {"class_ids": tf.argmax(probabilities, -1), "probabilities": probabilities}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def examples(serialized):
        return predict(tf.io.parse_example(serialized, raw_spec))

    @tf.function(input_signature=[tf.TensorSpec([None, *pixels], tf.uint8, name="images")])
    def images(x):
        return predict({IMAGE_KEY: tf.reshape(tf.cast(x, tf.int64), [-1, int(np.prod(shape))])})

    tf.saved_model.save(model, export_dir, signatures={
        SERVING_DEFAULT: examples.get_concrete_function(),
        SERVING_IMAGES: images.get_concrete_function()})


def keras_end_to_end(spec: specs.ImageModelSpec, data_dir: str, transform_graph: str,
                     epochs: int, batch: int, export_dir: str, seed: int = 42):
    """Plain Keras doing the Trainer's work: arrays in memory, the registry recipe fit with
    validation every epoch, the SavedModel. Returns (Phases, steady examples/s, seconds)."""
    phases = epoch_log.Phases(KERAS_PHASES)
    (x, y), (xv, yv) = load_split(data_dir, "train"), load_split(data_dir, "t10k")
    steps = len(x) // batch
    phases.end("input_start")
    model = compiled(spec, x.shape[1:], steps, epochs, seed)
    phases.end("model_build")
    meter = ThroughputMeter(steps * batch)
    model.fit(x[: steps * batch], y[: steps * batch], batch_size=batch, epochs=epochs,
              validation_data=(xv, yv), callbacks=[meter, epoch_log.EpochPhases(phases)],
              verbose=0)
    phases.end("train_end")
    plain_export(model, transform_graph, export_dir)
    phases.end("export")
    return phases, meter.steady_examples_per_sec(), phases.total()


def print_end_to_end(model: str, trainer_step: float, stats: dict, keras_phases,
                     keras_seconds: float) -> None:
    """The whole Trainer step next to plain Keras, phase by phase."""
    ours = stats.get("phase_seconds", {})
    print(f"\n{model}: whole Trainer step vs plain Keras end to end (seconds)")
    print(f"{'phase':<16}{'trainer':>9}{'keras':>9}")
    for name in PHASES:
        theirs = keras_phases.seconds.get(name)
        print(f"{name:<16}{ours.get(name, float('nan')):>9.1f}"
              + (f"{theirs:>9.1f}" if theirs is not None else f"{'-':>9}"))
    trainer_fn = stats.get("trainer_seconds", float("nan"))
    print(f"{'run_fn total':<16}{trainer_fn:>9.1f}{keras_seconds:>9.1f}")
    print(f"{'component step':<16}{trainer_step:>9.1f}{'':>9}   ratio "
          f"{trainer_step / keras_seconds:.2f} (run_fn alone {trainer_fn / keras_seconds:.2f}; "
          "goal <= 1.25)")
    stall = keras_phases.seconds["train_end"]
    if stall > 1.0:  # TF's iterator-deletion wait (trainer/image/data.py) hit plain Keras
        print(f"plain Keras' fit waited {stall:.1f}s on returning; without that wait the "
              f"ratio is {trainer_step / (keras_seconds - stall):.2f}")


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
    transform_graph = report.nodes["Transform"].outputs["transform_graph"][0].uri
    # The Trainer ran with Keras' and tf.Transform's code unconverted; so does plain Keras.
    tf_env.keep_autograph_out_of_libraries()
    rows, ends = [], []
    for result in report.models:
        stats = result.training_stats or {}
        spec = specs.MODELS[result.model]
        batch = stats.get("global_batch_size", spec.batch_size)
        keras_phases, keras_rate, keras_seconds = keras_end_to_end(
            spec, data_dir, transform_graph, stats.get("epochs", spec.epochs), batch,
            os.path.join(ws, "keras-export", result.model))
        rate = stats.get("examples_per_sec", float("nan"))
        rows.append(f"{result.model:<10}{stats.get('params', 0):>10,}{rate:>14.0f}"
                    f"{keras_rate:>12.0f}{rate / keras_rate:>7.2f}"
                    f"{result.metrics.get('accuracy', float('nan')):>10.4f}  {result.blessed}")
        ends.append((result.model, report.nodes[f"Trainer.{result.model}"].seconds, stats,
                     keras_phases, keras_seconds))
    print(f"\n{'model':<10}{'params':>10}{'trainer ex/s':>14}{'keras ex/s':>12}{'ratio':>7}"
          f"{'eval acc':>10}  blessed")
    print("\n".join(rows))
    print("\nratio = Trainer steady-state examples/s / plain Keras fit examples/s "
          "(same model, data, batch, validation each epoch); goal >= 0.9")
    for end in ends:
        print_end_to_end(*end)
    print("\nratio = the Trainer component's wall time (TFX launcher included) / plain Keras "
          "end to end: fit on in-memory arrays for the same epochs + the same SavedModel")
    if not args.keep:
        shutil.rmtree(ws, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
