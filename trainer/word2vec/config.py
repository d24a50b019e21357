"""word2vec's training configuration: which model, loss, sampler and optimiser settings."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Optional

from trainer.config_dict import from_dict

MODELS = ("skipgram", "cbow")
# "tape": TensorFlow ops, gradients by GradientTape, under any tf.distribute strategy.
# "fused": word2vec.c's loop as one compiled op (trainer/word2vec/fused.py), threads
# sharing the vectors on one machine's CPU; loss "neg" with plain SGD only.
KERNELS = ("tape", "fused")
LOSSES = ("neg", "nce", "sampled_softmax")
# Negatives when `num_sampled` is not given: word2vec.c's 5 per example for "neg";
# a batch's shared negatives for the TF samplers.
DEFAULT_NUM_SAMPLED = {"neg": 5, "nce": 32, "sampled_softmax": 32}


@dataclasses.dataclass
class Word2VecConfig:
    model: str = "skipgram"
    kernel: str = "tape"
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
    # Examples sharing one pool: `negatives_group` (one pool for a whole batch of 2048
    # overshoots: its few negatives get the summed gradient of every example). Each pool
    # word's update sums group * num_sampled / pool examples' (40 with either default),
    # and every example still sees >= num_sampled negatives. None: per model: skip-gram
    # 8 per 64 (its step is mostly the pool matmul: a quarter of it; same WS353 and
    # analogy scores as 32 per 256 in bench/word2vec_bench.py), CBOW 32 per 256 (8 per 64
    # lowered its WS353 and saved no time: its step is mostly the context lookups).
    shared_negatives: Optional[int] = None
    negatives_group: Optional[int] = None
    distortion: float = 0.75
    # "neg": word2vec's negative sampling (logistic loss on the target and num_sampled
    # negatives per example from unigram^distortion, no log-Q correction, no output
    # biases by default); "nce" / "sampled_softmax": tf.nn's batch-shared samplers.
    loss: str = "neg"
    # Global batch size (pairs, or CBOW centers). None: skip-gram 4096 (half the steps of
    # 2048, same scores), CBOW 2048 (every context word gets its center's whole gradient,
    # so a CBOW batch of 4096 overshot: WS353 ~0).
    batch_size: Optional[int] = None
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
    # Training loops run at once on the same vectors, each pulling its own batches (as
    # word2vec.c's and gensim's threads do, without locks). 0: one per core when training
    # on one replica (one loop under a distribution strategy with several replicas).
    # None: kernel "tape" 1 (one loop, reproducible for a seed: more did not pay in
    # bench/word2vec_bench.py); kernel "fused" 0 (its threads are what make it fast).
    loop_threads: Optional[int] = None
    # Kernel "fused": tokens per op call (whole sequences); the rate steps down per call.
    fused_tokens_per_call: int = 10000
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
        skipgram = self.model == "skipgram"
        if self.shared_negatives is None:
            self.shared_negatives = 8 if skipgram else 32
        if self.negatives_group is None:
            self.negatives_group = 64 if skipgram else 256
        if self.batch_size is None:
            self.batch_size = 4096 if skipgram else 2048
        if self.kernel not in KERNELS:
            raise ValueError(f"word2vec kernel must be one of {KERNELS}, got {self.kernel!r}")
        if self.loop_threads is None:
            self.loop_threads = 0 if self.kernel == "fused" else 1
        if self.loop_threads < 0:
            raise ValueError("loop_threads must be >= 0")
        if self.kernel == "fused":
            self._check_fused()
        if self.shared_negatives < 0:
            raise ValueError("shared_negatives must be >= 0")
        if self.window < 1 or self.embedding_dim < 1 or self.num_sampled < 1:
            raise ValueError("window, embedding_dim and num_sampled must be >= 1")

    def _check_fused(self):
        # The compiled loop is word2vec.c's update: per-pair SGD on negative sampling.
        wanted = {"loss": "neg", "optimizer": "sgd", "reduction": "sum", "train_biases": False}
        for name, value in wanted.items():
            if getattr(self, name) != value:
                raise ValueError(f"word2vec kernel 'fused' trains with {name} {value!r} only, "
                                 f"got {getattr(self, name)!r}; use kernel 'tape'")
        if self.fused_tokens_per_call < 1:
            raise ValueError("fused_tokens_per_call must be >= 1")

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "Word2VecConfig":
        return from_dict(cls, d, "word2vec config")
