"""The two-conv CNN of "Deep MNIST for experts" (LeNet-style).

5x5 conv 32 -> 2x2 max-pool -> 5x5 conv 64 -> 2x2 max-pool -> dense 1024 -> dropout 0.5
-> logits. 'same' padding keeps 28x28 -> 14x14 -> 7x7 as in the tutorial.
"""
import tensorflow as tf


def build(input_shape, num_classes: int, dropout: float = 0.5) -> tf.keras.Model:
    layers = tf.keras.layers
    inputs = tf.keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Conv2D(32, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation="relu", name="fc1")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    # float32 logits keep the softmax stable under a mixed_float16 policy.
    logits = layers.Dense(num_classes, name="logits", dtype="float32")(x)
    return tf.keras.Model(inputs, logits, name="lenet_cnn")
