"""word2vec (skip-gram and CBOW) in TensorFlow: pair generation in tf.data, NCE training.

Input: blocks of token-id sequences (a RaggedTensor [n_sequences, None]; ids >= vocab
size are the OOV bucket). For every block, entirely vectorised in the tf.data graph:

1. OOV ids are dropped and frequent words subsampled (word2vec.c: keep a word of count
   c with probability (sqrt(c / (s*T)) + 1) * s*T / c, T = total count, s = `subsample`);
2. every kept position gets a random window b ~ U{1..window} (the "shrinking" window
   word2vec.c uses, which weights near contexts more), and the [n, 2*window] matrix of
   neighbour positions is masked by |offset| <= b and by "same sequence";
3. skip-gram emits (center, context) pairs; CBOW emits (context ids [2w], mask, center);
4. the block's examples are shuffled and re-batched into fixed-size batches.

Training (loss "neg", the default): word2vec's negative sampling, -log s(u_t.h) -
sum_k log s(-u_k.h) with `num_sampled` (5) negatives per example drawn from the unigram^0.75
distribution of the vocabulary counts (an alias table). With `shared_negatives` N > 0 a
group of `negatives_group` examples shares N draws, each weighted num_sampled / N: the
same expected objective, computed as a matmul. Input vectors start uniform in
+-0.5/dim, output vectors at zero, as in word2vec.c; CBOW's hidden layer is the context
mean, and every context word gets its full gradient (word2vec.c's update). Alternatives:
`tf.nn.nce_loss` / sampled softmax with `num_sampled` negatives shared by a whole batch
(`tf.random.fixed_unigram_candidate_sampler`). Optimiser: plain SGD (or Adagrad) on the
sparse (IndexedSlices) gradients, summed over the batch, with the rate decaying linearly
to ~0 over training as word2vec.c's alpha. The loop runs under any tf.distribute
strategy (trainer/strategy.py); `steps_per_loop` steps run inside one tf.function call.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

MODELS = ("skipgram", "cbow")
LOSSES = ("neg", "nce", "sampled_softmax")
# Negatives when `num_sampled` is not given: word2vec.c's 5 per example for "neg";
# a batch's shared negatives for the TF samplers.
DEFAULT_NUM_SAMPLED = {"neg": 5, "nce": 32, "sampled_softmax": 32}


@dataclasses.dataclass
class Word2VecConfig:
    model: str = "skipgram"
    embedding_dim: int = 100
    window: int = 5
    subsample: float = 1e-3
    # "neg": negatives per example (word2vec.c's `negative`); "nce" / "sampled_softmax":
    # negatives per batch, shared by its examples. None: DEFAULT_NUM_SAMPLED[loss].
    num_sampled: Optional[int] = None
    # "neg" only. 0: every example draws its own `num_sampled` negatives (word2vec.c).
    # N > 0: one pool of N negatives per batch (per replica), shared by its examples, each
    # term weighted num_sampled / N: the same expected objective (num_sampled draws from
    # unigram^0.75 per example) with one [B, D] x [D, N] matmul instead of B * num_sampled
    # row gathers and scatter updates, about half the step time on a CPU.
    shared_negatives: int = 32
    negatives_group: int = 256  # examples sharing one pool (one pool for a whole batch
    # of 2048 overshoots: its few negatives get the summed gradient of every example)
    distortion: float = 0.75
    # "neg": word2vec's negative sampling (logistic loss on the target and num_sampled
    # negatives per example from unigram^distortion, no log-Q correction, no output
    # biases by default); "nce" / "sampled_softmax": tf.nn's batch-shared samplers.
    loss: str = "neg"
    batch_size: int = 2048  # global batch size (pairs, or CBOW centers)
    epochs: int = 5
    optimizer: str = "sgd"  # "sgd" | "adagrad"
    # Per example (reduction "sum"), as word2vec.c's alpha. None: word2vec.c's defaults,
    # 0.025 for skip-gram, 0.05 for CBOW.
    learning_rate: Optional[float] = None
    min_learning_rate_ratio: float = 1e-3  # linear decay down to lr * this
    # "sum": every example's gradient is applied in full, as word2vec.c's per-pair SGD
    # does (the learning rate is per example); "mean": divided by the global batch.
    reduction: str = "sum"
    # False: output biases stay 0 (no per-word offset learned). None: False for "neg"
    # (word2vec has no output biases), True for the tf.nn losses.
    train_biases: Optional[bool] = None
    sequences_per_block: int = 256  # sequences turned into pairs at once
    steps_per_loop: int = 50
    seed: int = 42

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"word2vec model must be one of {MODELS}, got {self.model!r}")
        if self.loss not in LOSSES:
            raise ValueError(f"word2vec loss must be one of {LOSSES}, got {self.loss!r}")
        if self.num_sampled is None:
            self.num_sampled = DEFAULT_NUM_SAMPLED[self.loss]
        if self.learning_rate is None:
            self.learning_rate = 0.05 if self.model == "cbow" else 0.025
        if self.train_biases is None:
            self.train_biases = self.loss != "neg"
        if self.shared_negatives < 0:
            raise ValueError("shared_negatives must be >= 0")
        if self.window < 1 or self.embedding_dim < 1 or self.num_sampled < 1:
            raise ValueError("window, embedding_dim and num_sampled must be >= 1")

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Word2VecConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"word2vec config: unknown keys {sorted(unknown)}")
        return cls(**d)


# ----------------------------------------------------------------------------- sampling

def keep_probabilities(counts: np.ndarray, subsample: float) -> np.ndarray:
    """word2vec.c's subsampling keep probability per vocabulary id (1 = always kept)."""
    counts = np.asarray(counts, dtype=np.float64)
    if subsample <= 0:
        return np.ones_like(counts, dtype=np.float32)
    threshold = subsample * counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (np.sqrt(counts / threshold) + 1.0) * threshold / counts
    p[counts <= 0] = 0.0
    return np.clip(p, 0.0, 1.0).astype(np.float32)


def alias_table(weights: np.ndarray):
    """Walker/Vose alias table for sampling i with probability weights[i] / sum: draw a
    slot i uniformly, keep it with probability prob[i], else take alias[i]."""
    w = np.asarray(weights, dtype=np.float64)
    n = len(w)
    scaled = w * n / w.sum()
    prob = np.ones(n, dtype=np.float64)
    alias = np.arange(n, dtype=np.int64)
    small = [i for i in range(n) if scaled[i] < 1.0]
    large = [i for i in range(n) if scaled[i] >= 1.0]
    while small and large:
        s, l = small.pop(), large.pop()
        prob[s], alias[s] = scaled[s], l
        scaled[l] -= 1.0 - scaled[s]
        (small if scaled[l] < 1.0 else large).append(l)
    return prob.astype(np.float32), alias  # leftovers (rounding) keep prob 1


def _kept_positions(ids: tf.RaggedTensor, keep_prob: tf.Tensor, seed: Optional[int]):
    """Flat ids and their row (sequence) index after dropping OOV and subsampling."""
    flat = tf.cast(ids.flat_values, tf.int64)
    rows = ids.value_rowids()
    vocab_size = tf.shape(keep_prob, out_type=tf.int64)[0]
    in_vocab = flat < vocab_size
    flat, rows = tf.boolean_mask(flat, in_vocab), tf.boolean_mask(rows, in_vocab)
    draw = tf.random.uniform(tf.shape(flat), seed=seed)
    keep = draw < tf.gather(keep_prob, flat)
    return tf.boolean_mask(flat, keep), tf.boolean_mask(rows, keep)


def _context_matrix(flat: tf.Tensor, rows: tf.Tensor, window: int, seed: Optional[int]):
    """[n, 2w] neighbour ids and validity mask for a random shrinking window per center."""
    n = tf.shape(flat, out_type=tf.int64)[0]
    offsets = tf.constant([o for o in range(-window, window + 1) if o != 0], tf.int64)
    spans = tf.random.uniform([n], minval=1, maxval=window + 1, dtype=tf.int64,
                              seed=None if seed is None else seed + 1)
    pos = tf.range(n)[:, None] + offsets[None, :]
    valid = (pos >= 0) & (pos < n) & (tf.abs(offsets)[None, :] <= spans[:, None])
    safe = tf.clip_by_value(pos, 0, tf.maximum(n - 1, 0))
    valid &= tf.gather(rows, safe) == rows[:, None]  # never across sequence boundaries
    return tf.gather(flat, safe), valid


def skipgram_pairs(ids: tf.RaggedTensor, keep_prob: tf.Tensor, window: int,
                   seed: Optional[int] = None):
    """(centers [P], contexts [P]) from a block of id sequences."""
    flat, rows = _kept_positions(ids, keep_prob, seed)
    neighbours, valid = _context_matrix(flat, rows, window, seed)
    centers = tf.broadcast_to(flat[:, None], tf.shape(neighbours))
    return tf.boolean_mask(centers, valid), tf.boolean_mask(neighbours, valid)


def cbow_examples(ids: tf.RaggedTensor, keep_prob: tf.Tensor, window: int,
                  seed: Optional[int] = None):
    """(contexts [M, 2w], mask [M, 2w] float, centers [M]) for centers with a context."""
    flat, rows = _kept_positions(ids, keep_prob, seed)
    neighbours, valid = _context_matrix(flat, rows, window, seed)
    has_context = tf.reduce_any(valid, axis=1)
    contexts = tf.where(valid, neighbours, tf.zeros_like(neighbours))
    return (tf.boolean_mask(contexts, has_context),
            tf.cast(tf.boolean_mask(valid, has_context), tf.float32),
            tf.boolean_mask(flat, has_context))


def training_dataset(sequences: tf.data.Dataset, counts: np.ndarray, cfg: Word2VecConfig,
                     batch_size: int, seed: Optional[int] = None) -> tf.data.Dataset:
    """Batches of training examples from a dataset of ragged id blocks [n, None].

    Skip-gram elements: (centers [B], contexts [B]); CBOW: ((contexts, mask), centers).
    The remainder of each block that does not fill a batch is carried by `rebatch`."""
    keep_prob = tf.constant(keep_probabilities(counts, cfg.subsample))
    window = cfg.window

    def to_examples(ids):
        if cfg.model == "skipgram":
            centers, contexts = skipgram_pairs(ids, keep_prob, window, seed)
            order = tf.random.shuffle(tf.range(tf.shape(centers)[0]), seed=seed)
            return tf.gather(centers, order), tf.gather(contexts, order)
        contexts, mask, centers = cbow_examples(ids, keep_prob, window, seed)
        order = tf.random.shuffle(tf.range(tf.shape(centers)[0]), seed=seed)
        return (tf.gather(contexts, order), tf.gather(mask, order)), tf.gather(centers, order)

    return (sequences
            .map(to_examples, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
            .rebatch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))


def ragged_blocks(id_sequences: Sequence[np.ndarray], sequences_per_block: int,
                  shuffle: bool = True, seed: Optional[int] = None) -> tf.data.Dataset:
    """In-memory id sequences as a dataset of ragged blocks (the benchmark's input)."""
    ragged = tf.ragged.constant([np.asarray(s, np.int64) for s in id_sequences],
                                dtype=tf.int64)
    ds = tf.data.Dataset.from_tensor_slices(ragged)
    if shuffle:
        ds = ds.shuffle(len(id_sequences), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(sequences_per_block)


def count_examples(blocks: tf.data.Dataset, counts: np.ndarray, cfg: Word2VecConfig) -> int:
    """Training examples in one pass (subsampling is random; this is one draw of it)."""
    keep_prob = tf.constant(keep_probabilities(counts, cfg.subsample))

    def n(ids):
        if cfg.model == "skipgram":
            return tf.shape(skipgram_pairs(ids, keep_prob, cfg.window, cfg.seed)[0],
                            out_type=tf.int64)[0]
        return tf.shape(cbow_examples(ids, keep_prob, cfg.window, cfg.seed)[2],
                        out_type=tf.int64)[0]

    return int(blocks.map(n, num_parallel_calls=tf.data.AUTOTUNE)
               .reduce(tf.constant(0, tf.int64), lambda a, b: a + b).numpy())


# ----------------------------------------------------------------------------- model

class Word2VecModel(tf.Module):
    """Input embeddings [V + 1, D] (row V = the OOV bucket, never trained and exported as
    zeros) and NCE output weights/biases [V, D] / [V]; `counts` are the vocabulary counts
    the negative sampler draws from."""

    def __init__(self, vocab_size: int, cfg: Word2VecConfig, counts: np.ndarray,
                 name: str = "word2vec", variables: Optional[Sequence[tf.Variable]] = None):
        super().__init__(name=name)
        if vocab_size < 2:
            raise ValueError(f"word2vec needs a vocabulary of >= 2 words, got {vocab_size}")
        if len(counts) != vocab_size:
            raise ValueError(f"word2vec: {len(counts)} counts for {vocab_size} words")
        self.vocab_size = vocab_size
        self.cfg = cfg
        if variables is not None:  # an exported model's (embeddings, weights, biases)
            self.embeddings, self.out_weights, self.out_biases = variables
        else:
            dim = cfg.embedding_dim
            init = tf.random.stateless_uniform([vocab_size + 1, dim], seed=[cfg.seed, 0],
                                               minval=-0.5 / dim, maxval=0.5 / dim)
            init = tf.tensor_scatter_nd_update(init, [[vocab_size]], tf.zeros([1, dim]))
            self.embeddings = tf.Variable(init, name="embeddings")
            self.out_weights = tf.Variable(tf.zeros([vocab_size, dim]), name="out_weights")
            self.out_biases = tf.Variable(tf.zeros([vocab_size]), name="out_biases")
        self._unigrams: List[float] = [float(c) for c in counts]
        prob, alias = alias_table(np.asarray(counts, np.float64) ** cfg.distortion)
        self._alias_prob = tf.constant(prob, tf.float32)
        self._alias = tf.constant(alias, tf.int64)

    def hidden(self, inputs) -> tf.Tensor:
        """Skip-gram: the center word's vector; CBOW: the mean of the context vectors.

        CBOW's backward pass is word2vec.c's (and gensim's, cbow_mean=1): every context
        word receives the hidden layer's whole gradient, not 1/count of it as the mean's
        derivative would give (the mean only normalises the forward pass)."""
        if self.cfg.model == "skipgram":
            return tf.nn.embedding_lookup(self.embeddings, inputs)
        contexts, mask = inputs
        vecs = tf.nn.embedding_lookup(self.embeddings, contexts)
        total = tf.reduce_sum(vecs * mask[..., None], axis=1)
        mean = total / tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
        return total + tf.stop_gradient(mean - total)  # value: mean; gradient: as total

    def sample_negatives(self, shape, seed: Optional[int] = None) -> tf.Tensor:
        """Ids of `shape` drawn independently from unigram^distortion (alias method)."""
        slot = tf.random.uniform(shape, 0, self.vocab_size, dtype=tf.int64, seed=seed)
        coin = tf.random.uniform(shape, seed=None if seed is None else seed + 1)
        return tf.where(coin < tf.gather(self._alias_prob, slot),
                        slot, tf.gather(self._alias, slot))

    def sample(self, labels: tf.Tensor, seed: Optional[int] = None):
        return tf.random.fixed_unigram_candidate_sampler(
            true_classes=labels, num_true=1, num_sampled=self.cfg.num_sampled, unique=True,
            range_max=self.vocab_size, distortion=self.cfg.distortion,
            unigrams=self._unigrams, seed=seed)

    def per_example_loss(self, inputs, targets, seed: Optional[int] = None) -> tf.Tensor:
        hidden = self.hidden(inputs)
        if self.cfg.loss == "neg":
            return self.negative_sampling_loss(hidden, tf.cast(targets, tf.int64), seed)
        labels = tf.reshape(tf.cast(targets, tf.int64), [-1, 1])
        fn = tf.nn.nce_loss if self.cfg.loss == "nce" else tf.nn.sampled_softmax_loss
        return fn(weights=self.out_weights, biases=self.out_biases, labels=labels,
                  inputs=hidden, num_sampled=self.cfg.num_sampled,
                  num_classes=self.vocab_size, sampled_values=self.sample(labels, seed))

    def negative_sampling_loss(self, hidden: tf.Tensor, targets: tf.Tensor,
                               seed: Optional[int] = None) -> tf.Tensor:
        """word2vec's objective: -log s(u_t.h + b_t) - sum_k log s(-(u_k.h + b_k)) with
        `num_sampled` negatives k per example (a negative equal to the target is kept, as
        word2vec.c's sampler would skip it: a rare event for any but the top words)."""
        n = tf.shape(targets)[0]
        k = self.cfg.num_sampled
        pool = self.cfg.shared_negatives
        bias = self.cfg.train_biases
        if pool:
            group = self.cfg.negatives_group
            groups = (n + group - 1) // group
            padded = tf.pad(hidden, [[0, groups * group - n], [0, 0]])
            padded = tf.reshape(padded, [groups, group, -1])
            neg = self.sample_negatives([groups, pool], seed)
            neg_logits = tf.matmul(padded, tf.nn.embedding_lookup(self.out_weights, neg),
                                   transpose_b=True)  # [groups, group, pool]
            if bias:
                neg_logits += tf.nn.embedding_lookup(self.out_biases, neg)[:, None, :]
            # -log s(x) = softplus(-x); -log s(-x) = softplus(x)
            neg_loss = tf.reshape(tf.reduce_sum(tf.nn.softplus(neg_logits), axis=2), [-1])[:n]
            pos_logits = tf.reduce_sum(
                tf.nn.embedding_lookup(self.out_weights, targets) * hidden, axis=1)
            if bias:
                pos_logits += tf.nn.embedding_lookup(self.out_biases, targets)
            return tf.nn.softplus(-pos_logits) + (k / pool) * neg_loss
        ids = tf.concat([targets[:, None], self.sample_negatives([n, k], seed)], axis=1)
        out = tf.nn.embedding_lookup(self.out_weights, ids)  # [n, 1 + k, D]
        logits = tf.einsum("nkd,nd->nk", out, hidden)
        if bias:
            logits += tf.nn.embedding_lookup(self.out_biases, ids)
        labels = tf.one_hot(tf.zeros([n], tf.int32), 1 + k)
        xent = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits)
        return tf.reduce_sum(xent, axis=1)

    def vectors(self) -> np.ndarray:
        """The word vectors, [V, D] (without the OOV row)."""
        return self.embeddings.numpy()[: self.vocab_size]


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


@dataclasses.dataclass
class TrainResult:
    model: Word2VecModel
    steps: int
    examples: int  # training examples (pairs / CBOW centers) processed
    examples_per_epoch: int
    seconds: float  # wall time of the training loop (graph tracing included)
    losses: List[float]  # mean loss of each loop call, in order
    epoch_seconds: List[float]


def train(blocks_fn: Callable[[Optional[tf.distribute.InputContext]], tf.data.Dataset],
          counts: np.ndarray, cfg: Word2VecConfig,
          strategy: Optional[tf.distribute.Strategy] = None,
          log: Callable[[str], None] = lambda _: None) -> TrainResult:
    """Trains word vectors. `blocks_fn(input_context)` returns one pass over the training
    sequences as ragged id blocks (sharded by the input context when given).

    One epoch = the number of training examples one pass yields (counted once, with the
    same random subsampling/window draws the training uses); the dataset is repeated and
    training runs epochs * steps_per_epoch steps, so every replica does the same steps."""
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
    for epoch in range(cfg.epochs):
        te = time.perf_counter()
        for _ in range(steps_per_epoch // loop):
            losses.append(float(run_loop(iterator, n)))
            if not math.isfinite(losses[-1]):
                raise FloatingPointError(f"word2vec: loss became {losses[-1]} in epoch "
                                         f"{epoch + 1}; lower the learning rate")
        epoch_seconds.append(time.perf_counter() - te)
        log(f"  epoch {epoch + 1}/{cfg.epochs}: loss {losses[-1]:.4f} "
            f"({epoch_seconds[-1]:.1f} s)")
    seconds = time.perf_counter() - t0
    return TrainResult(model=model, steps=total_steps, examples=total_steps * global_batch,
                       examples_per_epoch=per_epoch, seconds=seconds, losses=losses,
                       epoch_seconds=epoch_seconds)


def heldout_loss(model, blocks: tf.data.Dataset, counts: np.ndarray, cfg: Word2VecConfig,
                 batch_size: int = 4096, max_batches: Optional[int] = None,
                 seed: int = 1234) -> Dict[str, float]:
    """Mean NCE (or sampled-softmax) loss over held-out sequences.

    Deterministic: it resets TensorFlow's global seed to `seed` and runs in a fresh
    tf.function, so two models scored on the same data see the same pairs and the same
    negatives (the candidate sampler is a stateful op; eager calls would share state)."""
    tf.random.set_seed(seed)
    ds = training_dataset(blocks, counts, dataclasses.replace(cfg, seed=seed), batch_size,
                          seed=seed)
    if max_batches:
        ds = ds.take(max_batches)

    @tf.function
    def total_loss():
        def add(acc, batch):
            inputs, targets = batch
            losses = model.per_example_loss(inputs, targets, seed=seed)
            return (acc[0] + tf.reduce_sum(tf.cast(losses, tf.float64)),
                    acc[1] + tf.cast(tf.shape(losses)[0], tf.int64))
        return ds.map(lambda *b: b).reduce(
            (tf.constant(0.0, tf.float64), tf.constant(0, tf.int64)), add)

    total, n = total_loss()
    n = int(n)
    return {"heldout_loss": float(total) / n if n else float("nan"), "heldout_examples": n}
