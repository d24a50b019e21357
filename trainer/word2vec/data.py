"""word2vec's input pipeline: token-id blocks in, skip-gram pairs or CBOW windows out.

Input: blocks of token-id sequences (a RaggedTensor [n_sequences, None]; ids >= vocab
size are the OOV bucket). For every block, entirely vectorised in the tf.data graph:

1. OOV ids are dropped and frequent words subsampled (word2vec.c: keep a word of count
   c with probability (sqrt(c / (s*T)) + 1) * s*T / c, T = total count, s = `subsample`);
2. every kept position gets a random window b ~ U{1..window} (the "shrinking" window
   word2vec.c uses, which weights near contexts more), and the [n, 2*window] matrix of
   neighbour positions is masked by |offset| <= b and by "same sequence";
3. skip-gram emits (center, context) pairs; CBOW emits (context ids [2w], mask, center);
4. the block's examples are shuffled and re-batched into fixed-size batches.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from trainer.contract import IDS_KEY
from trainer.example_files import match_files
from trainer.word2vec.config import Word2VecConfig


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
    arrays = [np.asarray(s, np.int64).reshape(-1) for s in id_sequences]
    # From one flat array and the lengths: tf.ragged.constant walks every id in Python
    # (0.8 CPU s for the benchmark's 0.5M tokens, charged to every training run).
    ragged = tf.RaggedTensor.from_row_lengths(
        np.concatenate(arrays) if arrays else np.zeros([0], np.int64),
        np.array([len(a) for a in arrays], np.int64))
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


# ------------------------------------------------------------ transformed examples

def id_blocks(file_patterns: Sequence[str], sequences_per_block: int, shuffle: bool,
              seed: Optional[int] = None,
              input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """One pass over the transformed examples as ragged id blocks [n, None]."""
    files = match_files(file_patterns)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if input_context and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    if shuffle:
        ds = ds.shuffle(4 * sequences_per_block, seed=seed, reshuffle_each_iteration=True)
    spec = {IDS_KEY: tf.io.RaggedFeature(tf.int64)}
    return (ds.batch(sequences_per_block)
            .map(lambda s: tf.io.parse_example(s, spec)[IDS_KEY],
                 num_parallel_calls=tf.data.AUTOTUNE))


def token_stats(blocks: tf.data.Dataset, vocab_size: int) -> Dict[str, int]:
    """Tokens and OOV tokens (id == vocab_size) in one pass."""
    def count(acc, ids):
        flat = ids.flat_values
        return (acc[0] + tf.size(flat, out_type=tf.int64),
                acc[1] + tf.reduce_sum(tf.cast(flat >= vocab_size, tf.int64)),
                acc[2] + tf.cast(ids.nrows(), tf.int64))
    zero = tf.constant(0, tf.int64)
    tokens, oov, seqs = blocks.reduce((zero, zero, zero), count)
    return {"tokens": int(tokens), "oov_tokens": int(oov), "sequences": int(seqs)}

