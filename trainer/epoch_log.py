"""One log line per training epoch and per Trainer phase, the same shape for every task.

Trainers log these through absl at INFO: on Kubeflow they land in the Trainer pod's log,
locally the progress display (pipelines/progress.py) shows the epoch lines on the
console and the run's log file keeps them all. Keras' own progress printing writes to
stdout past every logger, so Keras trainers fit with verbose=0 and add `EpochLogger`.
Phase lines (`Phases`) cover the time outside the epochs too (input set-up, export), so
no stretch of a Trainer's run goes unlogged.
"""
from __future__ import annotations

import re
import time
from typing import Dict, Mapping, Optional, Sequence

import absl.logging
import tensorflow as tf

# `epoch 3/12: loss 0.3121, accuracy 0.9050, val_loss 0.2977 (2.1s)`
EPOCH_LINE = re.compile(r"^epoch (\d+)/(\d+): ")
# `phase export: 2.1s (SavedModel with 2 signatures)`
PHASE_LINE = re.compile(r"^phase (\w+): (\d+\.\d)s")


def epoch_line(epoch: int, epochs: int, metrics: Mapping[str, float],
               seconds: Optional[float] = None) -> str:
    """`epoch` counts from 1."""
    figures = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items())
    took = f" ({seconds:.1f}s)" if seconds is not None else ""
    return f"epoch {epoch}/{epochs}: {figures}{took}"


def phase_line(name: str, seconds: float, note: str = "") -> str:
    return f"phase {name}: {seconds:.1f}s" + (f" ({note})" if note else "")


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


class Phases:
    """Wall seconds of consecutive phases: each `end` closes the phase running since the
    previous one (or since construction) and logs its `phase_line`, so the phases add up
    to the whole run. Every name of `names` is in `seconds`, 0.0 until it ends."""

    def __init__(self, names: Sequence[str]):
        self.seconds: Dict[str, float] = dict.fromkeys(names, 0.0)
        self._start = self._last = time.perf_counter()

    def end(self, name: str, note: str = "") -> float:
        if name not in self.seconds:
            raise KeyError(f"unknown phase {name!r}; known: {', '.join(self.seconds)}")
        now = time.perf_counter()
        took, self._last = now - self._last, now
        self.seconds[name] += took
        absl.logging.info(phase_line(name, took, note))
        return took

    def total(self) -> float:
        return time.perf_counter() - self._start


class EpochPhases(tf.keras.callbacks.Callback):
    """Ends the `first` phase with the first epoch this fit runs (tracing, input warm-up,
    the first validation) and the `steady` phase when training ends (the other epochs).
    Goes after the other callbacks, so an epoch's own line and checkpoint come first."""

    def __init__(self, phases: Phases, first: str = "first_epoch",
                 steady: str = "steady_epochs"):
        super().__init__()
        self.phases, self.first, self.steady = phases, first, steady
        self._epochs = 0

    def on_epoch_end(self, epoch, logs=None):
        self._epochs += 1
        if self._epochs == 1:
            self.phases.end(self.first, f"epoch {epoch + 1}: tracing, input warm-up")

    def on_train_end(self, logs=None):
        if self._epochs == 0:  # resumed after the last epoch: nothing was trained
            self.phases.end(self.first, "no epoch left to run")
        self.phases.end(self.steady, f"{max(self._epochs - 1, 0)} epoch(s)")
