"""word2vec trained by one compiled op per block of sequences (kernel "fused").

The op (fused_kernels.cc, built when this package is installed) is word2vec.c's training
loop: per-pair SGD with negative sampling, skip-gram or CBOW, updating the model's two
embedding variables in place. `loop_threads` Python threads each run it on their own
blocks at once, sharing the vectors without locks as word2vec.c's and gensim's threads do
(the op runs outside Python's lock), so results vary slightly between runs with more than
one thread. The rate falls linearly with the tokens trained, as word2vec.c's alpha does.
Training stops with FloatingPointError when a call's loss is not finite (the op returns
NaN when any logit was not finite) or, at the end of an epoch, when either table is not.

One machine's CPU only: under a strategy with several replicas or workers there is no
single copy of the vectors to update, and train() refuses. batch_size, steps_per_loop,
shared_negatives and negatives_group do not apply (every example draws its own
`num_sampled` negatives, as in word2vec.c).
"""
from __future__ import annotations

import collections
import concurrent.futures
import functools
import importlib.util
import math
import os
import time
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from trainer.epoch_log import epoch_line
from trainer.word2vec.config import Word2VecConfig
from trainer.word2vec.data import keep_probabilities, token_stats
from trainer.word2vec.model import TrainResult, Word2VecModel

OP_MODULE = "trainer.word2vec._fused_kernels"


@functools.lru_cache(maxsize=None)
def load_op():
    """The compiled op library (tf.load_op_library of the installed extension file)."""
    spec = importlib.util.find_spec(OP_MODULE)
    if spec is None or not spec.origin:
        raise RuntimeError(
            f"word2vec kernel 'fused' needs the compiled op {OP_MODULE} (from "
            "trainer/word2vec/fused_kernels.cc), which is built when this package is "
            "installed with a C++ compiler present (scripts/setup_env.sh, the Dockerfiles); "
            "it is not installed: reinstall the package, or use kernel 'tape'")
    return tf.load_op_library(spec.origin)


def check_strategy(strategy: tf.distribute.Strategy) -> None:
    multi_worker = strategy.extended._in_multi_worker_mode()  # pylint: disable=protected-access
    if strategy.num_replicas_in_sync > 1 or multi_worker:
        raise ValueError(
            f"word2vec kernel 'fused' trains on one machine's CPU, but this Trainer runs "
            f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)"
            f"{' across workers' if multi_worker else ''}; use kernel 'tape' to train "
            "under a distribution strategy")


def split_block(values: np.ndarray, row_splits: np.ndarray,
                tokens: int) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """A ragged block (values, row_splits) as pieces of whole sequences, each at least
    `tokens` long but the last, with their own row splits from 0."""
    start = 0
    for row in range(1, len(row_splits)):
        if row_splits[row] - row_splits[start] >= tokens or row == len(row_splits) - 1:
            lo, hi = row_splits[start], row_splits[row]
            yield values[lo:hi], row_splits[start:row + 1] - lo
            start = row


def train(blocks_fn: Callable[[Optional[tf.distribute.InputContext]], tf.data.Dataset],
          counts: np.ndarray, cfg: Word2VecConfig,
          strategy: Optional[tf.distribute.Strategy] = None,
          log: Callable[[str], None] = lambda _: None) -> TrainResult:
    """As trainer.word2vec.train.train, with the compiled op: `blocks_fn(None)` is read
    once to count the tokens, then once per epoch."""
    check_strategy(strategy or tf.distribute.get_strategy())
    op = load_op()
    counts = np.asarray(counts, dtype=np.int64)
    vocab_size = len(counts)
    # Refused before the model is built and the data read: an empty vocabulary leaves the
    # op no rows, all-zero counts leave no distribution to draw negatives from.
    if counts.ndim != 1 or vocab_size == 0:
        raise ValueError(f"word2vec kernel 'fused': the vocabulary is empty (counts of "
                         f"shape {counts.shape})")
    if counts.min() < 0 or counts.sum() == 0:
        raise ValueError("word2vec kernel 'fused': the vocabulary's counts must be >= 0 and "
                         "not all 0 (negatives are drawn in proportion to them)")
    keep = tf.constant(keep_probabilities(counts, cfg.subsample), tf.float32)
    tokens_per_epoch = token_stats(blocks_fn(None), vocab_size)["tokens"]
    if tokens_per_epoch == 0:
        raise ValueError("word2vec: the training split has no tokens")
    total_tokens = tokens_per_epoch * cfg.epochs
    threads = cfg.loop_threads or max(1, os.cpu_count() or 1)
    log(f"word2vec {cfg.model} (fused kernel, {threads} thread(s)): vocab {vocab_size}, "
        f"{tokens_per_epoch} tokens/epoch, {cfg.epochs} epochs")
    with tf.device("/CPU:0"):  # the op has a CPU kernel only
        model = Word2VecModel(vocab_size, cfg, counts)
    # The negatives' alias table: the one the tape kernel's sampler draws from.
    neg_prob, neg_alias = model.alias_prob, model.alias

    def rate(done: int) -> float:
        return cfg.learning_rate * max(1.0 - done / total_tokens, cfg.min_learning_rate_ratio)

    def call(values, splits, done, seed) -> Tuple[int, float]:
        examples, loss = op.word2vec_train_block(
            model.embeddings.handle, model.out_weights.handle, values, splits, keep,
            neg_prob, neg_alias, rate(done), rate(done + len(values)), seed,
            cbow=cfg.model == "cbow", window=cfg.window, negative=cfg.num_sampled)
        return int(examples), float(loss)

    losses: List[float] = []
    epoch_seconds: List[float] = []
    per_epoch_examples: List[int] = []
    calls, done = 0, 0
    pool = concurrent.futures.ThreadPoolExecutor(threads)
    t0 = time.perf_counter()
    try:
        for epoch in range(cfg.epochs):
            te = time.perf_counter()
            pending: collections.deque = collections.deque()
            examples = 0

            def settle(future) -> None:
                nonlocal examples
                n, loss = future.result()
                examples += n
                losses.append(loss / max(n, 1))
                if not math.isfinite(loss):
                    raise FloatingPointError(f"word2vec: loss became {loss} in epoch "
                                             f"{epoch + 1}; lower the learning rate")

            for block in blocks_fn(None):
                for values, splits in split_block(block.flat_values.numpy(),
                                                  block.row_splits.numpy(),
                                                  cfg.fused_tokens_per_call):
                    pending.append(pool.submit(call, values, splits, done,
                                               cfg.seed * 1_000_003 + calls))
                    calls += 1
                    done += len(values)
                    while len(pending) > 2 * threads:  # bounded: blocks stream from disk
                        settle(pending.popleft())
            while pending:
                settle(pending.popleft())
            # The loss only sees rows that were read after they went bad: an update that
            # overflowed in an epoch's last calls shows up here.
            for name, var in (("embeddings", model.embeddings),
                              ("out_weights", model.out_weights)):
                if not bool(tf.reduce_all(tf.math.is_finite(var))):
                    raise FloatingPointError(f"word2vec: {name} became non-finite in epoch "
                                             f"{epoch + 1}; lower the learning rate")
            per_epoch_examples.append(examples)
            epoch_seconds.append(time.perf_counter() - te)
            log(epoch_line(epoch + 1, cfg.epochs, {"loss": losses[-1]}, epoch_seconds[-1]))
    finally:
        pool.shutdown(cancel_futures=True)
    seconds = time.perf_counter() - t0
    return TrainResult(model=model, steps=calls, examples=sum(per_epoch_examples),
                       examples_per_epoch=per_epoch_examples[0], seconds=seconds,
                       losses=losses, epoch_seconds=epoch_seconds)
