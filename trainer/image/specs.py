"""The image classifiers' registry entries: each model's builder and training recipe.

Adding an image model = one file in `trainer/image/models/` with
`build(input_shape, num_classes)` returning a Keras model that outputs logits, plus one
`ImageModelSpec` entry in `MODELS` below.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, ClassVar, Dict, Optional, Tuple, Union

import tensorflow as tf

from trainer.image.models import highway, inception, lenet, nin, resnet, softmax
from trainer.contract import IMAGE_KEY, LABEL_KEY
from trainer.registry import JENSEN_SHANNON, DriftCheck, ModelSpec

TASK = "image"
# The drift gate's default bars for classifiers: the class mix and the pixel-value
# histogram. Two samples of one distribution measure about 0.01 (label, 300 digits) and
# 0.001 (pixels); a span holding half the classes measures about 0.6 on the label.
IMAGE_DRIFT_CHECKS = (DriftCheck(LABEL_KEY, JENSEN_SHANNON, 0.1),
                      DriftCheck(IMAGE_KEY, JENSEN_SHANNON, 0.1))


@dataclasses.dataclass(frozen=True, kw_only=True)
class ImageModelSpec(ModelSpec):
    """An image classifier and its training recipe."""
    task: ClassVar[str] = TASK
    build: Callable[..., tf.keras.Model]
    epochs: int
    batch_size: int
    optimizer: str  # "sgd" | "adam" | "momentum"
    learning_rate: float
    # Evaluator gate: minimum eval accuracy to bless (on the embedded 5,000-digit data
    # these are the "done" figures; full-data runs can raise them by config).
    min_accuracy: float
    weight_decay: float = 0.0
    # A `trainer.schedules.make_schedule` name ("constant" | "piecewise" | "cosine")
    # applied to `learning_rate` over the run's steps_per_epoch * epochs.
    lr_schedule: str = "constant"
    # Random pad-4 crop + horizontal flip (`trainer.image.augment`) on training batches
    # of colour corpora (C == 3) only; digits are never mirrored.
    augment: bool = False
    drift_checks: Tuple[DriftCheck, ...] = IMAGE_DRIFT_CHECKS

    def make_optimizer(
        self,
        learning_rate: Optional[Union[float, tf.keras.optimizers.schedules.LearningRateSchedule]]
        = None,
    ) -> tf.keras.optimizers.Optimizer:
        """The entry's optimizer; `learning_rate` (e.g. a schedule from
        `trainer.schedules.make_schedule`) replaces the constant `self.learning_rate`."""
        lr = self.learning_rate if learning_rate is None else learning_rate
        if self.optimizer == "sgd":
            return tf.keras.optimizers.SGD(lr)
        if self.optimizer == "momentum":
            return tf.keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
        if self.optimizer == "adam":
            return tf.keras.optimizers.Adam(lr)
        raise ValueError(f"model {self.name}: unknown optimizer {self.optimizer!r}")


def _resnet(depth: int, parameters: str, cifar_error: float, **recipe) -> ImageModelSpec:
    """He et al.'s CIFAR recipe (momentum SGD from 0.1, /10 at 50% and 75%, weight decay
    1e-4, pad-4 crop + flip). The builder applies the weight decay as L2 on the kernels,
    so it is bound into `build` here and must not be added to the optimizer."""
    recipe = {"epochs": 4, "learning_rate": 0.1, **recipe}
    return ImageModelSpec(
        name=f"resnet{depth}",
        build=functools.partial(getattr(resnet, f"resnet{depth}"), weight_decay=1e-4),
        description=f"ResNet-{depth} (v1, basic units, 16/32/64 filters, projection "
                    f"shortcuts, BN, He init): {parameters} parameters, targets "
                    f"{cifar_error}% CIFAR-10 error (He et al. 2015, Table 6)",
        batch_size=128, optimizer="momentum", min_accuracy=0.9, weight_decay=1e-4,
        lr_schedule="piecewise", augment=True, **recipe)


MODELS: Dict[str, ImageModelSpec] = {spec.name: spec for spec in (
    ImageModelSpec(
        name="softmax", build=softmax.build,
        description="softmax regression: logits = Wx + b",
        epochs=10, batch_size=100, optimizer="sgd", learning_rate=0.5, min_accuracy=0.85),
    ImageModelSpec(
        name="cnn", build=lenet.build,
        description="two-conv CNN: 5x5x32, pool, 5x5x64, pool, fc1024, dropout",
        # Cosine decay settles the small-data noise (constant 1e-3 swings 96-97.6%).
        epochs=12, batch_size=50, optimizer="adam", learning_rate=2e-3, min_accuracy=0.97,
        lr_schedule="cosine"),
    # Gates are for quick CPU runs on the embedded 5,000 digits; the
    # description names the published full-data figure each architecture is built to reach.
    ImageModelSpec(
        name="nin", build=nin.build,
        description="Network in Network: 3 mlpconv blocks (conv + two 1x1 convs, BN), "
                    "global average pooling, no dense layer; targets 10.41% CIFAR-10 error "
                    "(8.81% augmented) and 0.47% MNIST error (Lin et al. 2013)",
        # Adam: momentum SGD needs far more than a quick run's ~90 steps to get going.
        epochs=3, batch_size=128, optimizer="adam", learning_rate=1e-3,
        min_accuracy=0.9, lr_schedule="cosine", augment=True),
    ImageModelSpec(
        name="inception", build=inception.build,
        description="Inception-v3-style: conv stem, 3 groups of 4-branch modules with "
                    "factorised 1xn/nx1 convs, grid reductions, BN, global average pool; the "
                    "ImageNet design (21.2% top-1 error, Szegedy et al. 2015) sized for 28-32 px",
        epochs=4, batch_size=128, optimizer="adam", learning_rate=1e-3,
        min_accuracy=0.9, lr_schedule="cosine", augment=True),
    _resnet(20, "0.27M", 8.75),
    _resnet(32, "0.46M", 7.51),
    # 0.05, not 0.1: without the paper's long run (or warm-up), 0.1 from step 0 diverges.
    _resnet(56, "0.85M", 6.97, epochs=3, learning_rate=0.05),
    ImageModelSpec(
        name="highway", build=highway.build,
        description="Highway network: 20 dense highway layers of 50 units, "
                    "y = H(x)T(x) + x(1 - T(x)), gate bias -2; deep highway stacks train "
                    "where plain ones stall (Srivastava, Greff & Schmidhuber 2015, whose "
                    "conv highway nets reach 99.43-99.55% on MNIST)",
        epochs=15, batch_size=100, optimizer="adam", learning_rate=2e-3,
        min_accuracy=0.9, lr_schedule="cosine"),
)}
