"""Highway networks (Srivastava, Greff & Schmidhuber, 2015).

Each highway layer computes y = H(x) * T(x) + x * (1 - T(x)): a learned transform gate T
mixes a plain layer's output H(x) with its unchanged input. T's bias starts negative
(-2 here, as in the paper's -1 to -3) so every layer starts close to the identity and
very deep stacks train where plain ones stall.

The model: (optional conv stem) -> flatten -> dense projection to `units` -> `depth`
highway layers -> dropout -> logits.
"""
from __future__ import annotations

import tensorflow as tf

layers = tf.keras.layers


@tf.keras.utils.register_keras_serializable(package="classics")
class Highway(layers.Layer):
    """A dense highway layer; output width = input width.

    `transform_bias` initialises the gate's bias: negative = carry the input (identity),
    positive = transform (a plain dense layer).
    """

    def __init__(self, activation="relu", transform_bias: float = -2.0,
                 kernel_initializer="glorot_uniform", kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.activation = tf.keras.activations.get(activation)
        self.transform_bias = float(transform_bias)
        self.kernel_initializer = tf.keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = tf.keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        units = int(input_shape[-1])
        self.h_kernel = self.add_weight(name="h_kernel", shape=(units, units),
                                        initializer=self._fresh_initializer(0),
                                        regularizer=self.kernel_regularizer)
        self.h_bias = self.add_weight(name="h_bias", shape=(units,), initializer="zeros")
        self.t_kernel = self.add_weight(name="t_kernel", shape=(units, units),
                                        initializer=self._fresh_initializer(1),
                                        regularizer=self.kernel_regularizer)
        self.t_bias = self.add_weight(
            name="t_bias", shape=(units,),
            initializer=tf.keras.initializers.Constant(self.transform_bias))
        super().build(input_shape)

    def _fresh_initializer(self, offset: int):
        # One initializer instance per kernel: a Keras initializer returns the same values
        # on every call (unseeded ones too), which would make H and T start identical.
        config = self.kernel_initializer.get_config()
        if config.get("seed") is not None:
            config["seed"] += offset
        return self.kernel_initializer.__class__.from_config(config)

    def gate(self, x):
        """The transform gate T(x) in (0, 1)."""
        return tf.sigmoid(tf.matmul(x, self.t_kernel) + self.t_bias)

    def call(self, x):
        h = self.activation(tf.matmul(x, self.h_kernel) + self.h_bias)
        t = self.gate(x)
        # The highway: transform by T, carry the input by 1 - T.
        return h * t + x * (1.0 - t)

    def get_config(self):
        config = super().get_config()
        config.update({
            "activation": tf.keras.activations.serialize(self.activation),
            "transform_bias": self.transform_bias,
            "kernel_initializer": tf.keras.initializers.serialize(self.kernel_initializer),
            "kernel_regularizer": tf.keras.regularizers.serialize(self.kernel_regularizer),
        })
        return config


def build(input_shape, num_classes: int, depth: int = 20, units: int = 50,
          transform_bias: float = -2.0, conv_stem: int = 0, dropout: float = 0.0
          ) -> tf.keras.Model:
    """A dense highway stack; `conv_stem` > 0 adds a 3x3 conv (that many filters) + 2x2
    max-pool before flattening."""
    inputs = tf.keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    if conv_stem:
        x = layers.Conv2D(conv_stem, 3, padding="same", activation="relu",
                          kernel_initializer="he_normal", name="stem_conv")(x)
        x = layers.MaxPooling2D(2, name="stem_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    # A highway layer keeps its width, so project once to the stack's width.
    x = layers.Dense(units, activation="relu", kernel_initializer="he_normal",
                     name="projection")(x)
    for i in range(1, depth + 1):
        x = Highway(transform_bias=transform_bias, name=f"highway{i}")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    logits = layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return tf.keras.Model(inputs, logits, name=f"highway{depth}x{units}")
