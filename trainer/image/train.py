"""Training an image classifier under the strategy factory, with resume after a kill.

Everything model-specific comes from the registry entry named in `custom_config['model']`;
corpus facts (image shape, number of classes) come from the pipeline config.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from typing import List

import absl.logging
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from trainer import epoch_log, registry, schedules, strategy as strategy_lib
from trainer.contract import KERAS_FILE, STATS_FILE
from trainer.image import data, export, specs
from trainer.image.config import TrainConfig


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


def backup_dir(fn_args: FnArgs, cfg: TrainConfig) -> str:
    """A checkpoint folder that a retried Trainer finds again.

    TFX gives every attempt a new model_run dir, so the folder sits beside them
    (`<pipeline_root>/<Trainer id>/backup/<key>`), keyed by what determines the training:
    the config and the input files. A retry with the same inputs resumes; new data starts
    afresh. Keras deletes the checkpoint once training completes.
    """
    if cfg.backup_dir:
        return cfg.backup_dir
    key = hashlib.sha256(json.dumps(
        [dataclasses.asdict(cfg), sorted(fn_args.train_files)], sort_keys=True).encode()
    ).hexdigest()[:16]
    trainer_root = os.path.dirname(os.path.dirname(fn_args.model_run_dir.rstrip("/")))
    return os.path.join(trainer_root, "backup", key)


def train(fn_args: FnArgs, extra_callbacks=()) -> tf.keras.Model:
    cfg = TrainConfig.from_custom_config(dict(fn_args.custom_config or {}))
    spec = registry.lookup(specs.MODELS, cfg.model)
    epochs = cfg.epochs or spec.epochs
    # Multi-worker strategies must exist before other TensorFlow work in the process.
    strategy = strategy_lib.make_strategy(cfg.mixed_precision)
    tf.keras.utils.set_random_seed(cfg.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    replicas = strategy.num_replicas_in_sync
    global_batch = (cfg.batch_size or spec.batch_size) * replicas
    absl.logging.info("Training %s on %d replica(s) with %s, global batch %d",
                      spec.name, replicas, strategy_lib.describe(strategy), global_batch)

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
    backup = backup_dir(fn_args, cfg)
    callbacks = [
        # Restores weights, optimizer state and the epoch counter after a kill.
        tf.keras.callbacks.BackupAndRestore(backup_dir=backup),
        meter,
        tf.keras.callbacks.TensorBoard(log_dir=os.path.join(fn_args.model_run_dir, "logs"),
                                       update_freq="epoch"),
        # One absl line per epoch instead of Keras' stdout printing (trainer/epoch_log.py).
        epoch_log.EpochLogger(epochs),
        *extra_callbacks]
    t0 = time.perf_counter()
    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                        validation_data=eval_ds, validation_steps=eval_steps,
                        callbacks=callbacks, verbose=0)
    wall = time.perf_counter() - t0

    # Saving reads distributed variables through collectives, so every worker makes the
    # same calls; only the chief's copy lands in the outputs, the others go to a temp dir.
    chief = strategy_lib.is_chief()
    scratch = None if chief else tempfile.mkdtemp(prefix="worker-export-")
    run_dir = fn_args.model_run_dir if chief else os.path.join(scratch, "run")
    export_dir = fn_args.serving_model_dir if chief else os.path.join(scratch, "export")
    tf.io.gfile.makedirs(run_dir)
    # Keras file first: the export attaches the Transform layer, which Keras can't serialise.
    model.save(os.path.join(run_dir, KERAS_FILE))
    export.export_classifier(model, tft_output, export_dir, cfg.image_shape, cfg.class_names)
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)

    epochs_run = len(meter.epoch_seconds)
    stats = {
        "model": spec.name, "strategy": strategy_lib.describe(strategy), "replicas": replicas,
        "task": strategy_lib.task_name(), "resumed_at_epoch": epochs - epochs_run,
        "optimizer_steps": int(model.optimizer.iterations.numpy()),
        "steps_per_epoch": steps_per_epoch,
        "epochs": epochs, "global_batch_size": global_batch, "train_examples": n_train,
        "fit_seconds": wall, "epoch_seconds": meter.epoch_seconds,
        "examples_per_sec": meter.steady_examples_per_sec(),
        "final_train_loss": float(history.history["loss"][-1]) if epochs_run else None,
        "final_eval_accuracy": (float(history.history["val_accuracy"][-1])
                                if epochs_run else None),
        "params": int(model.count_params()),
    }
    if strategy_lib.is_chief():
        tf.io.gfile.makedirs(fn_args.model_run_dir)
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, STATS_FILE), "w") as f:
            json.dump(stats, f, indent=2)
    absl.logging.info("Training stats: %s", json.dumps(stats))
    return model

