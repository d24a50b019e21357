"""The language-model training loop: truncated BPTT over PTB-style windows, any strategy.

One step per window (trainer/lm/data.py's layout), on the explicit-state form of the
model (trainer/lm/model.py), so the same code runs on one device, under
MirroredStrategy and under MultiWorkerMirroredStrategy (Keras refuses stateful RNN
layers under a strategy; an explicit state is just another per-replica value):

- loss of a step = sum of the per-token cross-entropies / global batch rows: summed over
  time, averaged over rows, as ptb_word_lm.py (which is what its learning rate of 1.0
  is tuned for); every replica divides by the global rows, so summing the replicas'
  gradients gives the gradient of the global batch;
- gradients are all-reduced across replicas first and only then clipped to
  `max_grad_norm` by global norm (tf.clip_by_global_norm), so the clip sees the norm of
  the global gradient, then applied without a second aggregation;
- `stateful`: the final state of window j is the initial state of window j+1 (as a
  value: gradients stop at window boundaries, i.e. truncated BPTT over `num_steps`),
  reset to zeros at the start of every epoch and of every evaluation pass; otherwise
  every window starts from zeros;
- the learning rate of epoch e is lr * lr_decay ** max(e + 1 - decay_after, 0);
- after each epoch: train perplexity (of the training pass itself, dropout on) and the
  eval split's perplexity (trainer/lm/evaluation.py's definition: total loss / total
  tokens), TensorBoard scalars, and the epoch's training tokens/s. The reported
  throughput leaves out the first epoch (tracing, warm-up) when there are more.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any, Callable, Dict, List, Optional

import absl.logging
import numpy as np
import tensorflow as tf

from trainer import strategy as strategy_lib
from trainer.lm import data, evaluation, model as model_lib
from trainer.lm.config import LMConfig


@dataclasses.dataclass
class TrainResult:
    model: tf.keras.Model  # build(vocab_size, cfg): stateful per cfg, trained weights
    state_model: tf.keras.Model  # the explicit-state form that was trained
    cfg: LMConfig
    vocab_size: int
    train_perplexity: List[float]
    eval_perplexity: List[float]
    learning_rates: List[float]
    grad_norms: List[float]  # mean global gradient norm per epoch, before clipping
    epoch_seconds: List[float]  # training only, evaluation excluded
    eval_seconds: List[float]
    tokens_per_sec: float  # steady state (first epoch excluded when there are more)
    seconds: float  # the whole call: building, training, evaluating
    steps: int
    train_tokens_per_epoch: int
    eval_tokens: int
    replicas: int
    strategy: str

    @property
    def params(self) -> int:
        return int(self.model.count_params())

    def stats(self) -> Dict[str, Any]:
        """What training measured, JSON-ready."""
        return {
            "cell": self.cfg.cell, "strategy": self.strategy, "replicas": self.replicas,
            "vocab_size": self.vocab_size, "params": self.params, "steps": self.steps,
            "epochs": len(self.train_perplexity),
            "steps_per_epoch": self.steps // max(len(self.train_perplexity), 1),
            "train_tokens_per_epoch": self.train_tokens_per_epoch,
            "eval_tokens": self.eval_tokens,
            "train_perplexity": self.train_perplexity,
            "eval_perplexity": self.eval_perplexity,
            "final_eval_perplexity": self.eval_perplexity[-1] if self.eval_perplexity
            else None,
            "learning_rates": self.learning_rates, "grad_norms": self.grad_norms,
            "epoch_seconds": self.epoch_seconds, "eval_seconds": self.eval_seconds,
            "tokens_per_sec": self.tokens_per_sec, "fit_seconds": self.seconds,
            "config": self.cfg.to_dict(),
        }


def make_optimizer(cfg: LMConfig) -> tf.keras.optimizers.Optimizer:
    # Clipping is done by the loop (after the cross-replica sum), not by the optimizer.
    if cfg.optimizer == "adam":
        return tf.keras.optimizers.Adam(cfg.learning_rate)
    return tf.keras.optimizers.SGD(cfg.learning_rate)


def steady_tokens_per_sec(tokens_per_epoch: int, epoch_seconds: List[float]) -> float:
    secs = epoch_seconds[1:] or epoch_seconds
    return tokens_per_epoch * len(secs) / max(sum(secs), 1e-9)


def _check_stream(name: str, ids: np.ndarray, vocab_size: int) -> None:
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(f"{name} split: ids must lie in [0, {vocab_size}), found "
                         f"[{ids.min()}, {ids.max()}] (a different vocabulary?)")


def train(train_ids, eval_ids, vocab_size: int, cfg: LMConfig,
          strategy: Optional[tf.distribute.Strategy] = None,
          log_dir: Optional[str] = None,
          log: Optional[Callable[[str], None]] = None) -> TrainResult:
    """Trains a language model on one id stream and evaluates it on another each epoch."""
    t_start = time.perf_counter()
    log = log or absl.logging.info
    strategy = strategy or strategy_lib.make_strategy()
    replicas = strategy.num_replicas_in_sync
    rows, eval_rows, steps_len = cfg.batch_size, cfg.eval_rows, cfg.num_steps
    for what, n in (("batch_size", rows), ("eval_batch_size", eval_rows)):
        if n % replicas:
            raise ValueError(f"LMConfig.{what} {n} must be divisible by the {replicas} "
                             f"replicas in sync (it is the global number of rows)")
    train_stream = np.asarray(train_ids, dtype=np.int32).reshape(-1)
    eval_stream = np.asarray(eval_ids, dtype=np.int32).reshape(-1)
    _check_stream("train", train_stream, vocab_size)
    _check_stream("eval", eval_stream, vocab_size)
    steps_per_epoch = data.window_count(train_stream.size, rows, steps_len)
    eval_windows = data.window_count(eval_stream.size, eval_rows, steps_len)
    if steps_per_epoch == 0 or eval_windows == 0:
        raise ValueError(
            f"too few ids for one window of {rows} (eval {eval_rows}) rows x {steps_len} "
            f"steps: train {train_stream.size}, eval {eval_stream.size} ids")
    train_tokens = steps_per_epoch * rows * steps_len
    eval_tokens = eval_windows * eval_rows * steps_len
    slots, hidden = model_lib.state_slots(cfg), cfg.hidden_size
    per_replica, eval_per_replica = rows // replicas, eval_rows // replicas

    tf.keras.utils.set_random_seed(cfg.seed)
    with strategy.scope():
        net = model_lib.build(vocab_size, cfg, stateful=False, with_state=True)
        optimizer = make_optimizer(cfg)
        optimizer.build(net.trainable_variables)
    variables = net.trainable_variables
    sum_op = tf.distribute.ReduceOp.SUM

    def train_replica(x, y, state):
        if not cfg.stateful:
            state = tf.zeros_like(state)
        with tf.GradientTape() as tape:
            logits, new_state = net([x, state], training=True)
            nll_sum = tf.reduce_sum(evaluation.token_nll(logits, y))
            loss = nll_sum / rows
        grads = tape.gradient(loss, variables)
        if replicas > 1:
            # The embedding's gradient is IndexedSlices with a different number of rows
            # on every replica, which the collective all-reduce cannot sum; dense it is.
            grads = [tf.convert_to_tensor(g) for g in grads]
            grads = tf.distribute.get_replica_context().all_reduce(sum_op, grads)
        norm = tf.linalg.global_norm(grads)
        if cfg.max_grad_norm:
            grads, _ = tf.clip_by_global_norm(grads, cfg.max_grad_norm, use_norm=norm)
        optimizer.apply_gradients(zip(grads, variables), skip_gradients_aggregation=True)
        return nll_sum, norm, new_state

    def eval_replica(x, y, state):
        if not cfg.stateful:
            state = tf.zeros_like(state)
        logits, new_state = net([x, state], training=False)
        return tf.reduce_sum(evaluation.token_nll(logits, y)), new_state

    # Per-epoch sums live in variables (outside the strategy: they take the already
    # reduced values), so a step is one function call that also pulls its window from
    # the iterator, with no per-step host work beyond the call.
    sums = {k: tf.Variable(0.0, dtype=tf.float64, trainable=False)
            for k in ("train_nll", "grad_norm", "eval_nll")}

    @tf.function(autograph=False)
    def train_step(iterator, state):
        x, y = next(iterator)
        nll, norm, state = strategy.run(train_replica, args=(x, y, state))
        sums["train_nll"].assign_add(tf.cast(strategy.reduce(sum_op, nll, axis=None),
                                             tf.float64))
        sums["grad_norm"].assign_add(tf.cast(
            strategy.reduce(tf.distribute.ReduceOp.MEAN, norm, axis=None), tf.float64))
        return state

    @tf.function(autograph=False)
    def eval_step(iterator, state):
        x, y = next(iterator)
        nll, state = strategy.run(eval_replica, args=(x, y, state))
        sums["eval_nll"].assign_add(tf.cast(strategy.reduce(sum_op, nll, axis=None),
                                            tf.float64))
        return state

    @tf.function(autograph=False)
    def zeros(batch):
        return strategy.run(lambda: tf.zeros([batch, slots, hidden]))

    train_ds = data.distributed_windows(strategy, train_stream, rows, steps_len)
    eval_ds = data.distributed_windows(strategy, eval_stream, eval_rows, steps_len)
    # Keras' TensorBoard layout (`train/` and `validation/` runs, `epoch_*` tags at the
    # 0-based epoch), so TensorBoard and the run report read it as any Keras fit's logs.
    writers = ({run: tf.summary.create_file_writer(os.path.join(log_dir, run))
                for run in ("train", "validation")} if log_dir else None)
    log(f"LM {cfg.cell} x{cfg.num_layers} ({hidden} units) on {replicas} replica(s): "
        f"vocab {vocab_size}, {steps_per_epoch} windows of {rows}x{steps_len} per epoch, "
        f"{net.count_params():,} parameters")

    result = TrainResult(
        model=net, state_model=net, cfg=cfg, vocab_size=vocab_size, train_perplexity=[],
        eval_perplexity=[], learning_rates=[], grad_norms=[], epoch_seconds=[],
        eval_seconds=[], tokens_per_sec=0.0, seconds=0.0, steps=0,
        train_tokens_per_epoch=train_tokens, eval_tokens=eval_tokens, replicas=replicas,
        strategy=strategy_lib.describe(strategy))
    for epoch in range(cfg.epochs):
        lr = cfg.learning_rate_at(epoch)
        optimizer.learning_rate.assign(lr)
        t0 = time.perf_counter()
        for v in sums.values():
            v.assign(0.0)
        state, iterator = zeros(per_replica), iter(train_ds)
        for _ in range(steps_per_epoch):
            state = train_step(iterator, state)
        total = float(sums["train_nll"].numpy())
        result.epoch_seconds.append(time.perf_counter() - t0)
        result.steps += steps_per_epoch
        if not math.isfinite(total):
            raise FloatingPointError(f"LM training diverged in epoch {epoch + 1}: train "
                                     f"loss {total} (lower learning_rate or "
                                     f"max_grad_norm)")
        train_ppl = evaluation.perplexity(total, train_tokens)
        t1 = time.perf_counter()
        state, iterator = zeros(eval_per_replica), iter(eval_ds)
        for _ in range(eval_windows):
            state = eval_step(iterator, state)
        eval_ppl = evaluation.perplexity(float(sums["eval_nll"].numpy()), eval_tokens)
        result.eval_seconds.append(time.perf_counter() - t1)
        result.train_perplexity.append(train_ppl)
        result.eval_perplexity.append(eval_ppl)
        result.learning_rates.append(lr)
        result.grad_norms.append(float(sums["grad_norm"].numpy()) / steps_per_epoch)
        speed = train_tokens / max(result.epoch_seconds[-1], 1e-9)
        log(f"epoch {epoch + 1}/{cfg.epochs}: lr {lr:.4g}  train ppl {train_ppl:.2f}  "
            f"eval ppl {eval_ppl:.2f}  {speed:,.0f} tokens/s")
        if writers:
            with writers["train"].as_default(step=epoch):
                tf.summary.scalar("epoch_perplexity", train_ppl)
                tf.summary.scalar("epoch_learning_rate", lr)
                tf.summary.scalar("epoch_tokens_per_sec", speed)
                tf.summary.scalar("epoch_grad_norm", result.grad_norms[-1])
            with writers["validation"].as_default(step=epoch):
                tf.summary.scalar("epoch_perplexity", eval_ppl)
            for w in writers.values():
                w.flush()
    for w in (writers or {}).values():
        w.close()
    # The model per cfg (a stateful one has a fixed batch), outside the strategy scope.
    result.model = model_lib.copy_weights(net, model_lib.build(vocab_size, cfg))
    result.tokens_per_sec = steady_tokens_per_sec(train_tokens, result.epoch_seconds)
    result.seconds = time.perf_counter() - t_start
    return result


__all__ = ["train", "TrainResult", "make_optimizer", "steady_tokens_per_sec"]
