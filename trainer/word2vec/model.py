"""The word2vec model: input and output embeddings, and its losses.

Loss "neg" (the default) is word2vec's negative sampling, -log s(u_t.h) -
sum_k log s(-u_k.h) with `num_sampled` negatives drawn from the unigram^0.75
distribution of the vocabulary counts (an alias table). With `shared_negatives` N > 0 a
group of `negatives_group` examples shares N draws, each weighted num_sampled / N: the
same expected objective, computed as a matmul. Input vectors start uniform in
+-0.5/dim, output vectors at zero, as in word2vec.c; CBOW's hidden layer is the context
mean, and every context word gets its full gradient (word2vec.c's update). Alternatives:
`tf.nn.nce_loss` / sampled softmax with `num_sampled` negatives shared by a whole batch
(`tf.random.fixed_unigram_candidate_sampler`).
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence

import numpy as np
import tensorflow as tf

from trainer.word2vec.config import Word2VecConfig
from trainer.word2vec.data import alias_table


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
        self.alias_prob = tf.constant(prob, tf.float32)
        self.alias = tf.constant(alias, tf.int64)

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
        return tf.where(coin < tf.gather(self.alias_prob, slot),
                        slot, tf.gather(self.alias, slot))

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


@dataclasses.dataclass
class TrainResult:
    """Trained vectors and what training them took."""
    model: Word2VecModel
    steps: int
    examples: int  # training examples (pairs / CBOW centers) processed
    examples_per_epoch: int
    seconds: float  # wall time of the training loop (graph tracing included)
    losses: List[float]  # mean loss of each loop call, in order
    epoch_seconds: List[float]
