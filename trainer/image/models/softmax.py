"""Softmax regression (the seed's chapter 1): logits = W x + b, trained with cross-entropy.

No hidden layer: a single affine map from the flattened pixels to class logits.
"""
import tensorflow as tf


def build(input_shape, num_classes: int) -> tf.keras.Model:
    inputs = tf.keras.Input(shape=tuple(input_shape), name="image")
    x = tf.keras.layers.Flatten(name="flatten")(inputs)
    logits = tf.keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return tf.keras.Model(inputs, logits, name="softmax_regression")
