"""word2vec's training loop: plain SGD (or Adagrad) on the sparse gradients.

Gradients are summed over the batch (word2vec.c's per-pair update), with the rate decaying
linearly to ~0 over training as word2vec.c's alpha does. The loop runs under any
tf.distribute strategy (trainer/strategy.py); `steps_per_loop` steps run inside one
tf.function call.
"""
from __future__ import annotations

import concurrent.futures
import math
import os
import time
from typing import Callable, List, Optional

import numpy as np
import tensorflow as tf

from trainer.epoch_log import epoch_line
from trainer.word2vec.config import Word2VecConfig
from trainer.word2vec.data import count_examples, training_dataset
from trainer.word2vec import fused
from trainer.word2vec.model import TrainResult, Word2VecModel


class LinearDecay(tf.keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, initial: float, total_steps: int, min_ratio: float):
        super().__init__()
        self.initial, self.total_steps, self.min_ratio = initial, max(total_steps, 1), min_ratio

    def __call__(self, step):
        frac = 1.0 - tf.cast(step, tf.float32) / float(self.total_steps)
        return self.initial * tf.maximum(frac, self.min_ratio)

    def get_config(self):
        return {"initial": self.initial, "total_steps": self.total_steps,
                "min_ratio": self.min_ratio}


def make_optimizer(cfg: Word2VecConfig, total_steps: int) -> tf.keras.optimizers.Optimizer:
    # The legacy (Keras 2 "v2") optimizers apply IndexedSlices as sparse scatter updates
    # without the XLA-compiled update step of the new ones: 2x faster steps here.
    lr = LinearDecay(cfg.learning_rate, total_steps, cfg.min_learning_rate_ratio)
    if cfg.optimizer == "adagrad":
        return tf.keras.optimizers.legacy.Adagrad(lr, initial_accumulator_value=0.1)
    if cfg.optimizer == "sgd":
        return tf.keras.optimizers.legacy.SGD(lr)
    raise ValueError(f"word2vec optimizer must be adagrad or sgd, got {cfg.optimizer!r}")


def loop_threads(cfg: Word2VecConfig, strategy: tf.distribute.Strategy) -> int:
    """Training loops to run at once: `cfg.loop_threads`, or for 0 one per core when
    training on one replica of one machine (the way word2vec.c's and gensim's worker
    threads share the vectors without locks), else 1."""
    if cfg.loop_threads:
        return cfg.loop_threads
    single = (strategy.num_replicas_in_sync == 1
              and not strategy.extended._in_multi_worker_mode())  # pylint: disable=protected-access
    return max(1, os.cpu_count() or 1) if single else 1


def train(blocks_fn: Callable[[Optional[tf.distribute.InputContext]], tf.data.Dataset],
          counts: np.ndarray, cfg: Word2VecConfig,
          strategy: Optional[tf.distribute.Strategy] = None,
          log: Callable[[str], None] = lambda _: None) -> TrainResult:
    """Trains word vectors. `blocks_fn(input_context)` returns one pass over the training
    sequences as ragged id blocks (sharded by the input context when given).

    One epoch = the number of training examples one pass yields (counted once, with the
    same random subsampling/window draws the training uses); the dataset is repeated and
    training runs epochs * steps_per_epoch steps, so every replica does the same steps.
    Kernel "fused" hands the whole job to trainer/word2vec/fused.py."""
    if cfg.kernel == "fused":
        return fused.train(blocks_fn, counts, cfg, strategy, log)
    strategy = strategy or tf.distribute.get_strategy()
    counts = np.asarray(counts, dtype=np.int64)
    vocab_size = len(counts)
    global_batch = cfg.batch_size
    per_epoch = count_examples(blocks_fn(None), counts, cfg)
    steps_per_epoch = per_epoch // global_batch
    if steps_per_epoch < 1:
        raise ValueError(f"word2vec: one epoch yields {per_epoch} training examples, fewer "
                         f"than one batch of {global_batch}; use a smaller batch size")
    loop = max(1, min(cfg.steps_per_loop, steps_per_epoch))
    steps_per_epoch = max(loop, steps_per_epoch // loop * loop)  # whole loop calls
    total_steps = steps_per_epoch * cfg.epochs
    log(f"word2vec {cfg.model}: vocab {vocab_size}, {per_epoch} examples/epoch, "
        f"{steps_per_epoch} steps/epoch of {global_batch}, {cfg.epochs} epochs")

    def dataset_fn(ctx: tf.distribute.InputContext):
        per_replica = ctx.get_per_replica_batch_size(global_batch)
        return training_dataset(blocks_fn(ctx).repeat(), counts, cfg, per_replica,
                                seed=cfg.seed + ctx.input_pipeline_id)

    with strategy.scope():
        model = Word2VecModel(vocab_size, cfg, counts)
        optimizer = make_optimizer(cfg, total_steps)
    dist_ds = strategy.distribute_datasets_from_function(dataset_fn)
    iterator = iter(dist_ds)
    variables = [model.embeddings, model.out_weights]
    if cfg.train_biases:
        variables.append(model.out_biases)

    scale = 1.0 if cfg.reduction == "sum" else 1.0 / global_batch

    def step_fn(inputs, targets):
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(model.per_example_loss(inputs, targets))
            loss = total * scale  # replicas' gradients are summed by the strategy
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(grads, variables))
        return total / global_batch  # reported: mean loss per example

    # No autograph: the loop is an explicit while_loop and nothing inside has Python
    # control flow on tensors. Autograph's source conversion of the step, the optimizer
    # and the strategy code took ~1.5 s of tracing, a fifth of a 5-epoch benchmark run.
    @tf.function(autograph=False)
    def run_loop(it, n):
        def body(i, total):
            inputs, targets = next(it)
            per_replica = strategy.run(step_fn, args=(inputs, targets))
            return i + 1, total + strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica,
                                                  axis=None)
        _, total = tf.while_loop(lambda i, _: i < n, body,
                                 (tf.constant(0), tf.constant(0.0)))
        return total / tf.cast(n, tf.float32)

    losses: List[float] = []
    epoch_seconds: List[float] = []
    t0 = time.perf_counter()
    n = tf.constant(loop)
    threads = loop_threads(cfg, strategy)
    pool = concurrent.futures.ThreadPoolExecutor(threads) if threads > 1 else None
    call = lambda _: float(run_loop(iterator, n))  # noqa: E731
    try:
        for epoch in range(cfg.epochs):
            te = time.perf_counter()
            calls = range(steps_per_epoch // loop)
            # Several loops at once pull distinct batches from the one iterator and
            # update the same variables (tf.function calls release the GIL); the losses
            # come back in call order.
            for loss in (pool.map(call, calls) if pool else map(call, calls)):
                losses.append(loss)
                if not math.isfinite(loss):
                    raise FloatingPointError(f"word2vec: loss became {loss} in epoch "
                                             f"{epoch + 1}; lower the learning rate")
            epoch_seconds.append(time.perf_counter() - te)
            log(epoch_line(epoch + 1, cfg.epochs, {"loss": losses[-1]}, epoch_seconds[-1]))
    finally:
        if pool:
            pool.shutdown(cancel_futures=True)
    seconds = time.perf_counter() - t0
    return TrainResult(model=model, steps=total_steps, examples=total_steps * global_batch,
                       examples_per_epoch=per_epoch, seconds=seconds, losses=losses,
                       epoch_seconds=epoch_seconds)


def write_loss_curve(result: TrainResult, epochs: int, log_dir: str) -> str:
    """The training loss as TensorBoard scalars under `<log_dir>/train`, with the tag a
    Keras TensorBoard callback uses (`epoch_loss`, one point per epoch: the mean of that
    epoch's loop calls) plus `loss` at every loop call, by optimizer step."""
    folder = os.path.join(log_dir, "train")
    loop = result.steps // max(len(result.losses), 1)
    writer = tf.summary.create_file_writer(folder)
    with writer.as_default():
        for i, loss in enumerate(result.losses):
            tf.summary.scalar("loss", loss, step=(i + 1) * loop)
        # Every epoch runs the same number of loop calls.
        for epoch, chunk in enumerate(np.array_split(np.asarray(result.losses), epochs)):
            tf.summary.scalar("epoch_loss", float(np.mean(chunk)), step=epoch)
    writer.close()
    return folder
