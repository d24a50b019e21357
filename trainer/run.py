"""The Trainer's `run_fn` for image classifiers (referenced as `trainer.run.run_fn`).

Everything model-specific comes from the registry entry named in `custom_config['model']`;
corpus facts (image shape, number of classes) come from the pipeline config.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from typing import Any, Dict, List, Optional

import absl.logging
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from trainer import data, export, registry, schedules, strategy as strategy_lib

STATS_FILE = "training_stats.json"
# The Keras model itself (for fine-tuning and for checking the export), beside the stats.
KERAS_FILE = "keras_model.keras"


@dataclasses.dataclass
class TrainConfig:
    """The Trainer's custom_config, typed. Unset fields fall back to the registry entry."""
    model: str
    image_shape: List[int]
    num_classes: int
    epochs: Optional[int] = None
    batch_size: Optional[int] = None
    seed: int = 42
    mixed_precision: bool = False

    @classmethod
    def from_custom_config(cls, config: Dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(config) - known
        if unknown:
            raise ValueError(f"Trainer custom_config: unknown keys {sorted(unknown)}")
        return cls(**config)


class ThroughputMeter(tf.keras.callbacks.Callback):
    """Training examples/s per epoch; the first epoch (graph tracing, cache fill) is
    reported apart so steady-state speed can be compared with plain Keras."""

    def __init__(self, examples_per_epoch: int):
        super().__init__()
        self.examples_per_epoch = examples_per_epoch
        self.epoch_seconds: List[float] = []
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._t0)

    def steady_examples_per_sec(self) -> float:
        secs = self.epoch_seconds[1:] or self.epoch_seconds
        return self.examples_per_epoch * len(secs) / max(sum(secs), 1e-9)


def _count(ds: tf.data.Dataset) -> int:
    return int(ds.reduce(tf.constant(0, tf.int64), lambda n, batch: n + tf.shape(
        batch[1], out_type=tf.int64)[0]).numpy())


def train(fn_args: FnArgs) -> tf.keras.Model:
    cfg = TrainConfig.from_custom_config(dict(fn_args.custom_config or {}))
    spec = registry.get(cfg.model)
    epochs = cfg.epochs or spec.epochs
    tf.keras.utils.set_random_seed(cfg.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    strategy = strategy_lib.make_strategy(cfg.mixed_precision)
    replicas = strategy.num_replicas_in_sync
    global_batch = (cfg.batch_size or spec.batch_size) * replicas
    absl.logging.info("Training %s on %d replica(s) with %s, global batch %d",
                      spec.name, replicas, type(strategy).__name__, global_batch)

    def dataset_fn(files, training):
        # Repeated, with explicit steps: the same code path for one device, many GPUs and
        # many workers (distributed datasets have no known length).
        def fn(ctx: tf.distribute.InputContext):
            return data.image_dataset(files, tft_output, cfg.image_shape,
                                      ctx.get_per_replica_batch_size(global_batch),
                                      shuffle=training, seed=cfg.seed, input_context=ctx,
                                      augment=training and spec.augment).repeat()
        return strategy.distribute_datasets_from_function(fn)

    n_train = _count(data.image_dataset(fn_args.train_files, tft_output, cfg.image_shape,
                                        1024, shuffle=False))
    n_eval = _count(data.image_dataset(fn_args.eval_files, tft_output, cfg.image_shape,
                                       1024, shuffle=False))
    if n_train == 0 or n_eval == 0:
        raise ValueError(f"Trainer: empty split (train={n_train}, eval={n_eval} examples)")
    steps_per_epoch = max(1, n_train // global_batch)
    eval_steps = max(1, -(-n_eval // global_batch))
    train_ds = dataset_fn(fn_args.train_files, True)
    eval_ds = dataset_fn(fn_args.eval_files, False)

    with strategy.scope():
        model = spec.build(cfg.image_shape, cfg.num_classes)
        model.compile(
            optimizer=spec.make_optimizer(schedules.make_schedule(
                spec.lr_schedule, spec.learning_rate, steps_per_epoch, epochs)),
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    meter = ThroughputMeter(steps_per_epoch * global_batch)
    callbacks = [meter, tf.keras.callbacks.TensorBoard(
        log_dir=os.path.join(fn_args.model_run_dir, "logs"), update_freq="epoch")]
    t0 = time.perf_counter()
    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                        validation_data=eval_ds, validation_steps=eval_steps,
                        callbacks=callbacks, verbose=2)
    wall = time.perf_counter() - t0

    if strategy_lib.is_chief():
        # Keras file first: the export attaches the Transform layer, which Keras can't serialise.
        tf.io.gfile.makedirs(fn_args.model_run_dir)
        model.save(os.path.join(fn_args.model_run_dir, KERAS_FILE))
        export.export_classifier(model, tft_output, fn_args.serving_model_dir, cfg.image_shape)
    else:
        # Multi-worker saving is collective: every worker saves, only the chief keeps it.
        tmp = tempfile.mkdtemp(prefix="worker-export-")
        export.export_classifier(model, tft_output, tmp, cfg.image_shape)
        shutil.rmtree(tmp, ignore_errors=True)

    stats = {
        "model": spec.name, "strategy": type(strategy).__name__, "replicas": replicas,
        "epochs": epochs, "global_batch_size": global_batch, "train_examples": n_train,
        "fit_seconds": wall, "epoch_seconds": meter.epoch_seconds,
        "examples_per_sec": meter.steady_examples_per_sec(),
        "final_train_loss": float(history.history["loss"][-1]),
        "final_eval_accuracy": float(history.history["val_accuracy"][-1]),
        "params": int(model.count_params()),
    }
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, STATS_FILE), "w") as f:
        json.dump(stats, f, indent=2)
    absl.logging.info("Training stats: %s", json.dumps(stats))
    return model


def run_fn(fn_args: FnArgs) -> None:
    train(fn_args)
