"""Deep residual networks (He, Zhang, Ren & Sun, 2015; v2: "Identity Mappings in Deep
Residual Networks", 2016), one builder for every configuration.

Each unit computes y = x + F(x): the stacked layers learn a residual F on top of an
identity shortcut, so a unit whose branch outputs 0 is exactly the identity. Shortcuts
are identity wherever shapes match and a 1x1 projection conv (option B) where the unit
changes stride or width.

- basic unit (2 layers): 3x3 -> 3x3;  bottleneck unit (3 layers): 1x1 reduce -> 3x3 ->
  1x1 expand (to 4x the bottleneck width).
- v1 (post-activation): conv-BN-ReLU ... conv-BN, add, ReLU.
- v2 (pre-activation): BN-ReLU-conv ... BN-ReLU-conv, add (nothing after the add).

CIFAR configurations (3 stages of 16/32/64 filters at 32x32/16x16/8x8, depth 6n+2 for
basic units, 9n+2 for bottleneck units): resnet20/32/56 = n 3/5/9, 0.27M/0.46M/0.85M
parameters. He init, BatchNorm, and L2 weight decay on every kernel.
"""
from __future__ import annotations

import functools
from typing import Optional

import tensorflow as tf

layers = tf.keras.layers

BOTTLENECK_EXPANSION = 4


def _conv(filters, kernel, strides, weight_decay, name):
    # weight_decay is the paper's (SGD) decay: gradient += wd * w, i.e. an L2 loss of
    # wd/2 * ||w||^2 (Keras' l2(c) adds c * ||w||^2).
    reg = tf.keras.regularizers.l2(weight_decay / 2) if weight_decay else None
    return layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=False,
                         kernel_initializer="he_normal", kernel_regularizer=reg, name=name)


def _bn(bn_momentum, name):
    return layers.BatchNormalization(momentum=bn_momentum, epsilon=1e-5, name=name)


def residual_unit(x, filters: int, stride: int = 1, bottleneck: bool = False,
                  preact: bool = False, weight_decay: float = 0.0, bn_momentum: float = 0.9,
                  name: Optional[str] = None):
    """One residual unit on tensor `x`; returns y = shortcut(x) + F(x) (v1: then ReLU).

    Output channels are `filters` (basic) or 4 * `filters` (bottleneck). Layers are named
    `{name}_conv{i}` / `{name}_bn{i}` in branch order, `{name}_proj` for a projection
    shortcut and `{name}_add` for the sum.
    """
    n = (lambda s: f"{name}_{s}") if name else (lambda s: None)
    out_channels = filters * BOTTLENECK_EXPANSION if bottleneck else filters
    project = stride != 1 or x.shape[-1] != out_channels
    # (kernel, filters, stride) of the branch's convs; the stride sits on the 3x3 conv.
    if bottleneck:
        convs = [(1, filters, 1), (3, filters, stride), (1, out_channels, 1)]
    else:
        convs = [(3, filters, stride), (3, filters, 1)]

    if preact:
        # v2: BN-ReLU before each conv; nothing follows the addition, so the identity
        # path from any unit to any later one is clean.
        act = layers.ReLU(name=n("relu0"))(_bn(bn_momentum, n("bn0"))(x))
        shortcut = (_conv(out_channels, 1, stride, weight_decay, n("proj"))(act)
                    if project else x)
        y = act
        for i, (k, f, s) in enumerate(convs, start=1):
            if i > 1:
                y = layers.ReLU(name=n(f"relu{i - 1}"))(_bn(bn_momentum, n(f"bn{i - 1}"))(y))
            y = _conv(f, k, s, weight_decay, n(f"conv{i}"))(y)
        return layers.Add(name=n("add"))([shortcut, y])

    # v1: conv-BN(-ReLU) per layer, the last BN feeds the addition, ReLU after it.
    if project:
        shortcut = _conv(out_channels, 1, stride, weight_decay, n("proj"))(x)
        shortcut = _bn(bn_momentum, n("proj_bn"))(shortcut)
    else:
        shortcut = x
    y = x
    for i, (k, f, s) in enumerate(convs, start=1):
        y = _conv(f, k, s, weight_decay, n(f"conv{i}"))(y)
        y = _bn(bn_momentum, n(f"bn{i}"))(y)
        if i < len(convs):
            y = layers.ReLU(name=n(f"relu{i}"))(y)
    y = layers.Add(name=n("add"))([shortcut, y])
    return layers.ReLU(name=n("out"))(y)


def units_per_stage(depth: int, bottleneck: bool, num_stages: int = 3) -> int:
    """n for depth = (layers per unit * stages) * n + 2 (the stem conv and the classifier)."""
    per_unit = 3 if bottleneck else 2
    step = per_unit * num_stages
    if depth < step + 2 or (depth - 2) % step:
        raise ValueError(f"ResNet depth {depth} is not {step}n+2 for "
                         f"{'bottleneck' if bottleneck else 'basic'} units")
    return (depth - 2) // step


def build(input_shape, num_classes: int, depth: int = 20, version: int = 1,
          bottleneck: bool = False, base_filters: int = 16, num_stages: int = 3,
          weight_decay: float = 1e-4, bn_momentum: float = 0.9) -> tf.keras.Model:
    """A CIFAR-style ResNet: stem 3x3 conv, `num_stages` stages of n units each (filters
    doubling and stride 2 at the start of every stage after the first), global average
    pool, logits. `version` 1 = post-activation, 2 = pre-activation."""
    if version not in (1, 2):
        raise ValueError(f"ResNet version must be 1 or 2, got {version!r}")
    n = units_per_stage(depth, bottleneck, num_stages)
    preact = version == 2
    inputs = tf.keras.Input(shape=tuple(input_shape), name="image")
    x = _conv(base_filters, 3, 1, weight_decay, "stem_conv")(inputs)
    if not preact:  # v2 units start with their own BN-ReLU
        x = layers.ReLU(name="stem_relu")(_bn(bn_momentum, "stem_bn")(x))
    for stage in range(num_stages):
        filters = base_filters * 2 ** stage
        for unit in range(n):
            stride = 2 if stage > 0 and unit == 0 else 1
            x = residual_unit(x, filters, stride=stride, bottleneck=bottleneck, preact=preact,
                              weight_decay=weight_decay, bn_momentum=bn_momentum,
                              name=f"stage{stage + 1}_unit{unit + 1}")
    if preact:  # v2: the last unit's sum is not activated yet
        x = layers.ReLU(name="final_relu")(_bn(bn_momentum, "final_bn")(x))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    reg = tf.keras.regularizers.l2(weight_decay / 2) if weight_decay else None
    logits = layers.Dense(num_classes, kernel_initializer="he_normal", kernel_regularizer=reg,
                          name="logits", dtype="float32")(x)
    kind = "bottleneck" if bottleneck else "basic"
    return tf.keras.Model(inputs, logits, name=f"resnet{depth}_v{version}_{kind}")


# The CIFAR configurations of He et al. 2015 (Table 6), as configurations of `build`.
resnet20 = functools.partial(build, depth=20)
resnet32 = functools.partial(build, depth=32)
resnet56 = functools.partial(build, depth=56)
