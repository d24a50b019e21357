"""An Inception-v3-style network (Szegedy et al., 2015, "Rethinking the Inception
Architecture") sized for 28x28 / 32x32 inputs.

stem (3x3 convs, max-pool: H -> H/2) -> group 1 (H/2) -> reduction -> group 2 (H/4)
-> reduction -> group 3 (H/8) -> global average pool -> dropout -> logits.

Every module runs four branches in parallel and concatenates them on channels:
  1x1 | 1x1 -> 1xn -> nx1 | 1x1 -> 1xn -> nx1 -> 1xn -> nx1 | avg-pool 3x3 -> 1x1
Grid reductions (stride-2 conv branches beside a stride-2 max-pool, v3's Figure 10) shrink
the map while widening it, so channels grow group to group. Every conv is conv-BN-ReLU.
The ImageNet model's auxiliary classifier and label smoothing are left out.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import tensorflow as tf

layers = tf.keras.layers

# One module's widths: (1x1, (reduce, out) factorised, (reduce, out) deep, pool projection).
ModuleWidths = Tuple[int, Tuple[int, int], Tuple[int, int], int]
# A group: (number of modules, factorisation size n, module widths).
GroupSpec = Tuple[int, int, ModuleWidths]
# A reduction: (stride-2 3x3 conv filters, (1x1 reduce, 3x3 -> stride-2 3x3 filters)).
ReductionSpec = Tuple[int, Tuple[int, int]]

DEFAULT_GROUPS: Tuple[GroupSpec, ...] = (
    (2, 3, (32, (32, 48), (32, 48), 32)),      # 160 channels at H/2
    (2, 5, (64, (48, 96), (48, 96), 64)),      # 320 channels at H/4
    (2, 3, (128, (96, 160), (96, 160), 128)),  # 576 channels at H/8
)
DEFAULT_REDUCTIONS: Tuple[ReductionSpec, ...] = ((96, (48, 64)), (128, (64, 96)))
STEM_FILTERS = (32, 32, 64)


def conv_bn(x, filters: int, kernel, strides=1, name: Optional[str] = None,
            bn_momentum: float = 0.9):
    """conv (no bias) -> BatchNorm -> ReLU, as in every Inception-v3 conv."""
    n = (lambda s: f"{name}_{s}") if name else (lambda s: None)
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=n("conv"))(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=n("bn"))(x)
    return layers.ReLU(name=n("relu"))(x)


def inception_module(x, b1: int, b2: Tuple[int, int], b3: Tuple[int, int], pool_proj: int,
                     n: int = 3, name: Optional[str] = None, bn_momentum: float = 0.9):
    """One Inception-v3 module; output channels = b1 + b2[1] + b3[1] + pool_proj."""
    n_ = (lambda s: f"{name}_{s}") if name else (lambda s: None)
    kw = dict(bn_momentum=bn_momentum)
    branch1 = conv_bn(x, b1, 1, name=n_("b1_1x1"), **kw)
    # Factorised convolutions: a 1xn then an nx1 conv see an nxn window with 2n, not n^2,
    # weights per channel pair (v3's key idea besides the parallel branches).
    branch2 = conv_bn(x, b2[0], 1, name=n_("b2_1x1"), **kw)
    branch2 = conv_bn(branch2, b2[1], (1, n), name=n_(f"b2_1x{n}"), **kw)
    branch2 = conv_bn(branch2, b2[1], (n, 1), name=n_(f"b2_{n}x1"), **kw)
    branch3 = conv_bn(x, b3[0], 1, name=n_("b3_1x1"), **kw)
    branch3 = conv_bn(branch3, b3[0], (1, n), name=n_(f"b3_1x{n}a"), **kw)
    branch3 = conv_bn(branch3, b3[0], (n, 1), name=n_(f"b3_{n}x1a"), **kw)
    branch3 = conv_bn(branch3, b3[1], (1, n), name=n_(f"b3_1x{n}b"), **kw)
    branch3 = conv_bn(branch3, b3[1], (n, 1), name=n_(f"b3_{n}x1b"), **kw)
    branch4 = layers.AveragePooling2D(3, strides=1, padding="same", name=n_("b4_pool"))(x)
    branch4 = conv_bn(branch4, pool_proj, 1, name=n_("b4_1x1"), **kw)
    return layers.Concatenate(axis=-1, name=n_("concat"))([branch1, branch2, branch3, branch4])


def reduction_module(x, conv_filters: int, deep: Tuple[int, int], name: Optional[str] = None,
                     bn_momentum: float = 0.9):
    """Grid reduction: stride-2 conv branches beside a stride-2 max-pool, concatenated,
    so the map halves while channels grow (in + conv_filters + deep[1])."""
    n_ = (lambda s: f"{name}_{s}") if name else (lambda s: None)
    kw = dict(bn_momentum=bn_momentum)
    branch1 = conv_bn(x, conv_filters, 3, strides=2, name=n_("b1_3x3s2"), **kw)
    branch2 = conv_bn(x, deep[0], 1, name=n_("b2_1x1"), **kw)
    branch2 = conv_bn(branch2, deep[1], 3, name=n_("b2_3x3"), **kw)
    branch2 = conv_bn(branch2, deep[1], 3, strides=2, name=n_("b2_3x3s2"), **kw)
    branch3 = layers.MaxPooling2D(3, strides=2, padding="same", name=n_("b3_pool"))(x)
    return layers.Concatenate(axis=-1, name=n_("concat"))([branch1, branch2, branch3])


def build(input_shape, num_classes: int, width: float = 1.0, dropout: float = 0.2,
          bn_momentum: float = 0.9, groups: Optional[Sequence[GroupSpec]] = None,
          reductions: Optional[Sequence[ReductionSpec]] = None) -> tf.keras.Model:
    """Inception-v3-style classifier; `width` scales every channel count."""
    groups = tuple(groups or DEFAULT_GROUPS)
    reductions = tuple(reductions or DEFAULT_REDUCTIONS)
    if len(reductions) != len(groups) - 1:
        raise ValueError(f"need one reduction between each pair of groups: "
                         f"{len(groups)} groups, {len(reductions)} reductions")
    s = lambda c: max(1, int(round(c * width)))  # noqa: E731
    kw = dict(bn_momentum=bn_momentum)
    inputs = tf.keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    for i, f in enumerate(STEM_FILTERS, start=1):
        x = conv_bn(x, s(f), 3, name=f"stem{i}", **kw)
    x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for g, (modules, n, (b1, b2, b3, pool)) in enumerate(groups, start=1):
        if g > 1:
            conv_f, (red, deep) = reductions[g - 2]
            x = reduction_module(x, s(conv_f), (s(red), s(deep)), name=f"reduction{g - 1}", **kw)
        for m in range(1, modules + 1):
            x = inception_module(x, s(b1), (s(b2[0]), s(b2[1])), (s(b3[0]), s(b3[1])), s(pool),
                                 n=n, name=f"group{g}_module{m}", **kw)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return tf.keras.Model(inputs, logits, name="inception_v3_small")
