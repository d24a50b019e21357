"""Training an image classifier under the strategy factory, with resume after a kill.

Everything model-specific comes from the registry entry named in `custom_config['model']`;
corpus facts (image shape, number of classes) come from the pipeline config.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import List

import absl.logging
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from trainer import epoch_log, outputs, registry, schedules, strategy as strategy_lib, tf_env
from trainer import warm_start
from trainer.contract import KERAS_FILE
from trainer.image import data, export, specs
from trainer.image.config import TrainConfig

# The Trainer's phases in order: one log line as each ends, their seconds in the stats
# ("phase_seconds"); together they make up the whole run of `train`.
PHASES = ("input_start", "model_build", "first_epoch", "steady_epochs", "train_end",
          "keras_save", "export")


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
    phases = epoch_log.Phases(PHASES)
    cfg = TrainConfig.from_custom_config(dict(fn_args.custom_config or {}))
    spec = registry.lookup(specs.MODELS, cfg.model)
    epochs = cfg.epochs or spec.epochs
    # Multi-worker strategies must exist before other TensorFlow work in the process.
    strategy = strategy_lib.make_strategy(cfg.mixed_precision)
    # Else the first epoch spends most of its time converting Keras' code (tf_env.py).
    tf_env.keep_autograph_out_of_libraries()
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

    n_train = data.count_examples(fn_args.train_files)
    n_eval = data.count_examples(fn_args.eval_files)
    if n_train == 0 or n_eval == 0:
        raise ValueError(f"Trainer: empty split (train={n_train}, eval={n_eval} examples)")
    steps_per_epoch = max(1, n_train // global_batch)
    eval_steps = max(1, -(-n_eval // global_batch))
    train_ds = dataset_fn(fn_args.train_files, True)
    eval_ds = dataset_fn(fn_args.eval_files, False)
    phases.end("input_start", f"{n_train} train, {n_eval} eval examples")

    with strategy.scope():
        model = spec.build(cfg.image_shape, cfg.num_classes)
        # A base model is given only when the run warm-starts (pipelines/nodes.py).
        warm = (warm_start.restore(model, fn_args.base_model,
                                   lambda: spec.build(cfg.image_shape, cfg.num_classes))
                if fn_args.base_model else None)
        model.compile(
            optimizer=spec.make_optimizer(schedules.make_schedule(
                spec.lr_schedule, spec.learning_rate, steps_per_epoch, epochs)),
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    phases.end("model_build", f"{model.count_params():,} parameters" + (
        "" if warm is None else "; warm start" if warm.restored
        else f"; from scratch: {warm.reason}"))
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
        epoch_log.EpochPhases(phases),
        *extra_callbacks]
    t0 = time.perf_counter()
    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                        validation_data=eval_ds, validation_steps=eval_steps,
                        callbacks=callbacks, verbose=0)
    wall = time.perf_counter() - t0
    phases.end("train_end", "fit's clean-up after the last epoch")

    with outputs.replica_outputs(fn_args) as (run_dir, export_dir):
        tf.io.gfile.makedirs(run_dir)
        # Keras file first: the export attaches the Transform layer, which Keras can't
        # serialise.
        model.save(os.path.join(run_dir, KERAS_FILE))
        phases.end("keras_save", KERAS_FILE)
        export.export_classifier(model, tft_output, export_dir, cfg.image_shape,
                                 cfg.class_names)
    phases.end("export", "SavedModel with the Transform graph and its signatures")

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
        "phase_seconds": phases.seconds, "trainer_seconds": phases.total(),
    }
    if warm is not None:
        stats["warm_start"] = warm.as_stats()
    outputs.write_stats(fn_args, stats)
    return model

