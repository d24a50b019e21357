"""Warm start: a freshly built Keras model takes the served version's weights.

The Trainer's `base_model` input (TFX's Trainer has the channel; pipelines/nodes.py feeds
it ServingBaseline's copy of the served version, not a Resolver) arrives in the run_fn as
`fn_args.base_model`, the SavedModel folder. The exports save the Keras model itself as
the SavedModel's root object (trainer/image/export.py: `tf.saved_model.save(model, ...)`),
so the SavedModel's `variables/variables` checkpoint is the model's own object graph:
a `tf.train.Checkpoint` rooted at a model of the same architecture reads it back
(TensorFlow's object-based checkpoint matching, tensorflow/python/checkpoint/
checkpoint.py `Checkpoint.read`).

The weights are read into a twin of the model first (the same builder, outside the
training model), and copied over only when every variable of the twin found its value
and every shape matched: a model of another architecture never ends up half-restored;
it trains from scratch and the result says why. Only weights move: the optimizer starts
afresh (its slots and step count are not read) and so does any learning-rate schedule.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Optional

import tensorflow as tf

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
VARIABLES_PREFIX = os.path.join("variables", "variables")


@dataclasses.dataclass(frozen=True)
class WarmStart:
    """What happened: `restored` from `base_model`, or why not (`reason`)."""
    restored: bool
    reason: str  # "" when restored
    base_model: Optional[str] = None

    def as_stats(self) -> dict:
        """For training_stats.json (the run summary reads it back)."""
        return {"restored": self.restored, "reason": self.reason,
                "base_model": self.base_model}


def describe(stats: Optional[dict], served_version: Optional[int]) -> str:
    """The run summary's words for a `WarmStart.as_stats()` record."""
    if not stats:
        return ""
    if stats.get("restored"):
        return (f"warm start from version {served_version}" if served_version is not None
                else "warm start from the served version")
    return f"trained from scratch, no warm start: {stats.get('reason')}"


def has_saved_model(path: Optional[str]) -> bool:
    return bool(path) and any(tf.io.gfile.exists(os.path.join(path, f))
                              for f in SAVED_MODEL_FILES)


def read_weights(model: tf.keras.Model, base_model: str) -> None:
    """Reads the SavedModel's variables into `model` (built, same architecture), or
    raises ValueError naming what did not match."""
    status = tf.train.Checkpoint(model).read(os.path.join(base_model, VARIABLES_PREFIX))
    # The export's Transform layer, signatures and optimizer slots stay unread.
    status.expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"variables without a value in the served version: {first}") from None


def restore(model: tf.keras.Model, base_model: Optional[str],
            build_twin: Callable[[], tf.keras.Model]) -> WarmStart:
    """Gives `model` the weights of the SavedModel at `base_model` when the architecture
    matches; `build_twin()` builds another model as `model` was built."""
    if not has_saved_model(base_model):
        return WarmStart(False, "nothing served", base_model)
    twin = build_twin()
    try:
        read_weights(twin, base_model)
    except (ValueError, tf.errors.OpError) as e:
        why = str(e).splitlines()[0][:300]
        return WarmStart(False, f"architecture differs ({why})", base_model)
    if [w.shape for w in twin.weights] != [w.shape for w in model.weights]:
        return WarmStart(False, "architecture differs (weight shapes)", base_model)
    model.set_weights(twin.get_weights())
    return WarmStart(True, "", base_model)
