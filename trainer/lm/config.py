"""LMConfig: every training hyper-parameter of the recurrent language models, and presets.

The presets "small", "medium" and "large" are the three configurations of Zaremba et al.
2014, "Recurrent Neural Network Regularization", as TensorFlow's tutorial
`models/tutorials/rnn/ptb/ptb_word_lm.py` runs them on PTB (10,000-word vocabulary, SGD
at learning rate 1.0, batch 20, weights uniform in +-init_scale, gradients clipped by
global norm). `PUBLISHED_TEST_PERPLEXITY` / `PUBLISHED_VALID_PERPLEXITY` are that
tutorial's reported results (the paper reports 114.5 / 82.7 / 78.4 test). "tiny" is ours:
a one-layer model that trains in seconds on a CPU, for small corpora and tests.

Vocabulary settings (size, `<unk>`, `<eos>`) belong to the Transform, not here
(trainer/lm/preprocessing.py).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Mapping, Optional

from trainer.config_dict import from_dict

CELLS = ("lstm", "gru")
OPTIMIZERS = ("sgd", "adam")
PRESET_KEY = "preset"  # custom_config key naming the preset the other keys override


@dataclasses.dataclass
class LMConfig:
    cell: str = "lstm"  # "lstm" | "gru"
    num_layers: int = 2
    hidden_size: int = 200
    # Word vector size; None means hidden_size (see `embedding_size`).
    embedding_dim: Optional[int] = None
    num_steps: int = 20  # window length: the truncated-BPTT horizon
    # Global batch: the number of contiguous rows the stream is cut into. Replicas each
    # take batch_size / replicas of the rows, so it must divide evenly.
    batch_size: int = 20
    # Rows of the evaluation layout; None means batch_size.
    eval_batch_size: Optional[int] = None
    # Dropout on the non-recurrent connections only (Zaremba et al.): after the
    # embedding and after every recurrent layer; never on the recurrent state, which
    # would also take the layers off their cuDNN path.
    dropout: float = 0.0
    # The output projection reuses the embedding matrix (Press & Wolf 2016, Inan et al.
    # 2016). When embedding_size != hidden_size a linear projection is added first.
    tie_embeddings: bool = False
    # Clip the gradient of all weights together to this global norm; None: no clipping.
    max_grad_norm: Optional[float] = 5.0
    learning_rate: float = 1.0
    # Zaremba's schedule: epoch e (0-based) trains at
    # learning_rate * lr_decay ** max(e + 1 - decay_after, 0).
    lr_decay: float = 0.5
    decay_after: int = 4
    optimizer: str = "sgd"  # "sgd" | "adam"
    epochs: int = 13
    init_scale: float = 0.1  # every weight starts uniform in [-init_scale, init_scale]
    # True: the state at the end of a window starts the next window of the same row
    # (truncated BPTT over the whole stream), reset at the start of every epoch.
    # False: every window starts from a zero state.
    stateful: bool = True
    seed: int = 42

    def __post_init__(self):
        ints = ("num_layers", "hidden_size", "num_steps", "batch_size", "decay_after",
                "epochs", "seed")
        for name in ints + ("embedding_dim", "eval_batch_size"):
            value = getattr(self, name)
            if value is None and name in ("embedding_dim", "eval_batch_size"):
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"LMConfig.{name} must be an integer, got {value!r}")
        for name in ("tie_embeddings", "stateful"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"LMConfig.{name} must be true or false, "
                                 f"got {getattr(self, name)!r}")
        if self.cell not in CELLS:
            raise ValueError(f"LMConfig.cell must be one of {CELLS}, got {self.cell!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"LMConfig.optimizer must be one of {OPTIMIZERS}, "
                             f"got {self.optimizer!r}")
        positive = {"num_layers": self.num_layers, "hidden_size": self.hidden_size,
                    "num_steps": self.num_steps, "batch_size": self.batch_size,
                    "epochs": self.epochs, "embedding_dim": self.embedding_dim,
                    "eval_batch_size": self.eval_batch_size}
        bad = [f"{k}={v}" for k, v in positive.items() if v is not None and v < 1]
        if bad:
            raise ValueError(f"LMConfig: must be >= 1: {', '.join(bad)}")
        if self.decay_after < 0:
            raise ValueError(f"LMConfig.decay_after must be >= 0, got {self.decay_after}")
        if not 0.0 <= float(self.dropout) < 1.0:
            raise ValueError(f"LMConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.max_grad_norm is not None and not (
                math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0):
            raise ValueError(f"LMConfig.max_grad_norm must be > 0 or null, "
                             f"got {self.max_grad_norm}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise ValueError(f"LMConfig.learning_rate must be > 0, got {self.learning_rate}")
        if not 0.0 < float(self.lr_decay) <= 1.0:
            raise ValueError(f"LMConfig.lr_decay must be in (0, 1], got {self.lr_decay}")
        if not (math.isfinite(self.init_scale) and self.init_scale > 0):
            raise ValueError(f"LMConfig.init_scale must be > 0, got {self.init_scale}")

    @property
    def embedding_size(self) -> int:
        return self.embedding_dim or self.hidden_size

    @property
    def eval_rows(self) -> int:
        return self.eval_batch_size or self.batch_size

    def learning_rate_at(self, epoch: int) -> float:
        """The learning rate of 0-based `epoch` (ptb_word_lm.py's decay)."""
        return self.learning_rate * self.lr_decay ** max(epoch + 1 - self.decay_after, 0)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "LMConfig":
        """Exactly the dataclass fields; anything else is refused."""
        return from_dict(cls, d, "LMConfig")


# ptb_word_lm.py's SmallConfig / MediumConfig / LargeConfig (max_epoch -> decay_after,
# max_max_epoch -> epochs, 1 - keep_prob -> dropout).
CONFIGS: Dict[str, LMConfig] = {
    "small": LMConfig(cell="lstm", num_layers=2, hidden_size=200, num_steps=20,
                      batch_size=20, dropout=0.0, init_scale=0.1, learning_rate=1.0,
                      max_grad_norm=5.0, decay_after=4, lr_decay=0.5, epochs=13),
    "medium": LMConfig(cell="lstm", num_layers=2, hidden_size=650, num_steps=35,
                       batch_size=20, dropout=0.5, init_scale=0.05, learning_rate=1.0,
                       max_grad_norm=5.0, decay_after=6, lr_decay=0.8, epochs=39),
    "large": LMConfig(cell="lstm", num_layers=2, hidden_size=1500, num_steps=35,
                      batch_size=20, dropout=0.65, init_scale=0.04, learning_rate=1.0,
                      max_grad_norm=10.0, decay_after=14, lr_decay=1 / 1.15, epochs=55),
    # CPU-sized: one layer of 128 units, Adam (converges in a few epochs where SGD at
    # rate 1.0 needs the full schedule), halving the rate after epoch 3.
    "tiny": LMConfig(cell="lstm", num_layers=1, hidden_size=128, num_steps=20,
                     batch_size=20, dropout=0.0, init_scale=0.1, optimizer="adam",
                     learning_rate=3e-3, max_grad_norm=5.0, decay_after=3, lr_decay=0.5,
                     epochs=4),
}

PUBLISHED_VOCAB_SIZE = 10_000
# ptb_word_lm.py's results table (PTB, 10k vocabulary).
PUBLISHED_TEST_PERPLEXITY: Dict[str, float] = {"small": 115.91, "medium": 82.07,
                                               "large": 78.29}
PUBLISHED_VALID_PERPLEXITY: Dict[str, float] = {"small": 121.39, "medium": 86.16,
                                                "large": 82.62}


def preset(name: str) -> LMConfig:
    """A copy of a named preset."""
    if name not in CONFIGS:
        raise ValueError(f"unknown LM preset {name!r}; presets are {sorted(CONFIGS)}")
    return dataclasses.replace(CONFIGS[name])


def from_custom_config(custom_config: Optional[Mapping[str, Any]]) -> LMConfig:
    """The Trainer's custom_config: LMConfig fields, optionally on top of a preset
    (`{"preset": "small", "epochs": 2}`); without "preset" the dataclass defaults
    (= "small") are the base."""
    d = dict(custom_config or {})
    name = d.pop(PRESET_KEY, None)
    base = preset(name).to_dict() if name is not None else {}
    base.update(d)
    return LMConfig.from_dict(base)


__all__ = ["LMConfig", "CONFIGS", "CELLS", "OPTIMIZERS", "PRESET_KEY", "preset",
           "from_custom_config", "PUBLISHED_TEST_PERPLEXITY", "PUBLISHED_VALID_PERPLEXITY",
           "PUBLISHED_VOCAB_SIZE"]
