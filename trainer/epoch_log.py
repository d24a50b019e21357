"""One log line per training epoch, the same shape for every task.

Trainers log these through absl at INFO: on Kubeflow they land in the Trainer pod's log,
locally the progress display (pipelines/progress.py) shows exactly these lines on the
console and the run's log file keeps them. Keras' own progress printing writes to stdout
past every logger, so Keras trainers fit with verbose=0 and add `EpochLogger`.
"""
from __future__ import annotations

import re
import time
from typing import Mapping, Optional

import absl.logging
import tensorflow as tf

# `epoch 3/12: loss 0.3121, accuracy 0.9050, val_loss 0.2977 (2.1s)`
EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+): ")


def epoch_line(epoch: int, epochs: int, metrics: Mapping[str, float],
               seconds: Optional[float] = None) -> str:
    """`epoch` counts from 1."""
    figures = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
    took = f" ({seconds:.1f}s)" if seconds is not None else ""
    return f"epoch {epoch}/{epochs}: {figures}{took}"


class EpochLogger(tf.keras.callbacks.Callback):
    """Logs `epoch_line` after every epoch (the metrics Keras reports for it)."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs
        self._t0 = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        metrics = {k: float(v) for k, v in (logs or {}).items()
                   if isinstance(v, (int, float)) or getattr(v, "shape", None) == ()}
        absl.logging.info(epoch_line(epoch + 1, self.epochs, metrics,
                                     time.perf_counter() - self._t0))
