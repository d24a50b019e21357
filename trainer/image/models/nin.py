"""Network in Network (Lin, Chen & Yan, 2013), in its modern form with BatchNorm.

Each "mlpconv" block is a spatial conv followed by two 1x1 convs: a small MLP slid over
every position. The last mlpconv emits one feature map per class and global average
pooling turns each map into that class's logit, so there is no fully connected layer.

Published configuration (CIFAR-10): mlpconv(5x5 192, 1x1 160, 1x1 96) -> max-pool ->
dropout -> mlpconv(5x5 192, 1x1 192, 1x1 192) -> max-pool -> dropout ->
mlpconv(3x3 192, 1x1 192, 1x1 classes) -> global average pool (~0.97M parameters).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import tensorflow as tf

layers = tf.keras.layers

# (spatial kernel, spatial filters, 1x1 filters, 1x1 filters) per block; the last block's
# second 1x1 is replaced by `num_classes`.
PUBLISHED_BLOCKS: Tuple[Tuple[int, int, int, int], ...] = (
    (5, 192, 160, 96),
    (5, 192, 192, 192),
    (3, 192, 192, 0),
)


def _conv_bn_relu(x, filters: int, kernel: int, name: str, bn_momentum: float):
    x = layers.Conv2D(filters, kernel, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def mlpconv(x, kernel: int, filters: Sequence[int], name: str, bn_momentum: float = 0.9):
    """One mlpconv block: kernel x kernel conv, then 1x1 convs (conv-BN-ReLU each)."""
    x = _conv_bn_relu(x, filters[0], kernel, f"{name}_0", bn_momentum)
    # The 1x1 convs are the "micro network": a per-pixel MLP across channels.
    for i, f in enumerate(filters[1:], start=1):
        x = _conv_bn_relu(x, f, 1, f"{name}_{i}", bn_momentum)
    return x


def build(input_shape, num_classes: int, width: float = 1.0, dropout: float = 0.5,
          bn_momentum: float = 0.9,
          blocks: Optional[Sequence[Tuple[int, int, int, int]]] = None) -> tf.keras.Model:
    """NiN; `width` scales every hidden channel count (1.0 = the published widths)."""
    blocks = tuple(blocks or PUBLISHED_BLOCKS)
    scale = lambda c: max(1, int(round(c * width)))  # noqa: E731
    inputs = tf.keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for b, (kernel, f0, f1, f2) in enumerate(blocks[:-1], start=1):
        x = mlpconv(x, kernel, [scale(f0), scale(f1), scale(f2)], f"mlpconv{b}", bn_momentum)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool{b}")(x)
        x = layers.Dropout(dropout, name=f"dropout{b}")(x)
    kernel, f0, f1, _ = blocks[-1]
    last = len(blocks)
    x = mlpconv(x, kernel, [scale(f0), scale(f1)], f"mlpconv{last}", bn_momentum)
    # The last 1x1 conv outputs one confidence map per class (linear: these become logits).
    x = layers.Conv2D(num_classes, 1, kernel_initializer="he_normal", dtype="float32",
                      name="class_maps")(x)
    # Global average pooling replaces the fully connected classifier (no Dense layer).
    logits = layers.GlobalAveragePooling2D(dtype="float32", name="logits")(x)
    return tf.keras.Model(inputs, logits, name="network_in_network")
