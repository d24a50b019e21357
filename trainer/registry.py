"""The model registry: one entry per model, naming its builder and training recipe.

Adding a model = one file in `trainer/models/` with `build(input_shape, num_classes)`
returning a Keras model that outputs logits, plus one entry in `MODELS` below.
The pipeline factory, Trainer, Evaluator thresholds and Pusher all read from here.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Sequence

import tensorflow as tf

from trainer.models import lenet, softmax


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[..., tf.keras.Model]
    description: str
    epochs: int
    batch_size: int
    optimizer: str  # "sgd" | "adam" | "momentum"
    learning_rate: float
    # Evaluator gate: minimum eval accuracy to bless (on the embedded 5,000-digit data
    # these are the "done" figures; full-data runs can raise them by config).
    min_accuracy: float
    weight_decay: float = 0.0

    def make_optimizer(self) -> tf.keras.optimizers.Optimizer:
        if self.optimizer == "sgd":
            return tf.keras.optimizers.SGD(self.learning_rate)
        if self.optimizer == "momentum":
            return tf.keras.optimizers.SGD(self.learning_rate, momentum=0.9, nesterov=True)
        if self.optimizer == "adam":
            return tf.keras.optimizers.Adam(self.learning_rate)
        raise ValueError(f"model {self.name}: unknown optimizer {self.optimizer!r}")


MODELS: Dict[str, ModelSpec] = {
    "softmax": ModelSpec(
        name="softmax", build=softmax.build,
        description="softmax regression: logits = Wx + b (seed ch. 1)",
        epochs=10, batch_size=100, optimizer="sgd", learning_rate=0.5, min_accuracy=0.85),
    "cnn": ModelSpec(
        name="cnn", build=lenet.build,
        description="two-conv CNN: 5x5x32, pool, 5x5x64, pool, fc1024, dropout (seed ch. 2)",
        epochs=12, batch_size=50, optimizer="adam", learning_rate=1e-3, min_accuracy=0.97),
}

DEFAULT_IMAGE_MODELS = ("softmax", "cnn")


def get(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


def resolve(names: Sequence[str]) -> List[ModelSpec]:
    """Validates a user's model list (e.g. from --models) in one go, keeping its order."""
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise KeyError(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    return [MODELS[n] for n in names]
