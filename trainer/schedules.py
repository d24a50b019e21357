"""Learning-rate schedules, named so a registry entry can ask for one by string.

`make_schedule(name, base_lr, steps_per_epoch, epochs)` returns what a Keras optimizer's
`learning_rate` accepts:
- "constant": the float `base_lr` itself (exactly today's behaviour);
- "piecewise": `base_lr`, divided by 10 at 50% and 75% of training -- He et al. 2015's
  CIFAR recipe (0.1, /10 at 32k and 48k of 64k iterations), as epoch fractions so it
  stretches to any number of epochs;
- "cosine": cosine decay from `base_lr` to 0 over all training steps (Loshchilov &
  Hutter's SGDR without restarts).
Schedules count optimizer steps (`optimizer.iterations`), so they need the real
`steps_per_epoch` of the run.
"""
from __future__ import annotations

from typing import Sequence, Union

import tensorflow as tf

LearningRate = Union[float, tf.keras.optimizers.schedules.LearningRateSchedule]

SCHEDULES = ("constant", "piecewise", "cosine")
PIECEWISE_FRACTIONS = (0.5, 0.75)
PIECEWISE_FACTOR = 0.1


def piecewise_by_epoch_fraction(base_lr: float, total_steps: int,
                                fractions: Sequence[float] = PIECEWISE_FRACTIONS,
                                factor: float = PIECEWISE_FACTOR
                                ) -> tf.keras.optimizers.schedules.PiecewiseConstantDecay:
    """base_lr, then multiplied by `factor` at each fraction of `total_steps`."""
    if any(not 0.0 < f < 1.0 for f in fractions) or list(fractions) != sorted(set(fractions)):
        raise ValueError(f"fractions must be increasing and in (0, 1), got {list(fractions)}")
    boundaries = [max(1, int(round(f * total_steps))) for f in fractions]
    for i in range(1, len(boundaries)):  # very short runs: keep boundaries increasing
        boundaries[i] = max(boundaries[i], boundaries[i - 1] + 1)
    values = [base_lr * factor ** i for i in range(len(boundaries) + 1)]
    return tf.keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


def make_schedule(name: str, base_lr: float, steps_per_epoch: int, epochs: int
                  ) -> LearningRate:
    if steps_per_epoch < 1 or epochs < 1:
        raise ValueError(f"schedule {name!r}: steps_per_epoch ({steps_per_epoch}) and "
                         f"epochs ({epochs}) must be >= 1")
    total_steps = steps_per_epoch * epochs
    if name == "constant":
        return float(base_lr)
    if name == "piecewise":
        return piecewise_by_epoch_fraction(base_lr, total_steps)
    if name == "cosine":
        return tf.keras.optimizers.schedules.CosineDecay(base_lr, decay_steps=total_steps)
    raise ValueError(f"unknown learning-rate schedule {name!r}; known: {', '.join(SCHEDULES)}")
