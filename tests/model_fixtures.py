"""Shared helpers for the per-model tests: a tiny learnable batch, a few eager training
steps, building under the mixed_float16 policy, and a tiny SavedModel to serve."""
import numpy as np
import tensorflow as tf


def learnable_batch(n=32, size=16, channels=1, classes=4, seed=0):
    """Noise images whose class is the quadrant holding a bright square."""
    rng = np.random.RandomState(seed)
    x = rng.uniform(0, 0.3, (n, size, size, channels)).astype(np.float32)
    y = rng.randint(0, classes, n)
    h = size // 2
    for i, c in enumerate(y):
        r, q = divmod(int(c), 2)
        x[i, r * h:(r + 1) * h, q * h:(q + 1) * h] += 0.7
    return x, y.astype(np.int64)


def training_losses(model, x, y, steps=15, learning_rate=1e-2):
    """Per-step training losses of `steps` Adam steps on one batch."""
    model.compile(tf.keras.optimizers.Adam(learning_rate),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)  # tracing a graph costs more than 15 tiny steps
    return [float(model.train_on_batch(x, y)) for _ in range(steps)]


def build_mixed_precision(build, *args, **kwargs):
    """`build(*args, **kwargs)` under mixed_float16, restoring float32 afterwards."""
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        return build(*args, **kwargs)
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")


def affine_saved_model(folder: str, bias: float = 1.0) -> str:
    """A SavedModel with variables and a serving_default signature, y = x @ [[2], [3]] +
    bias (the answer tells which one served it); returns `folder`."""
    class Affine(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable([[2.0], [3.0]])
            self.b = tf.Variable([float(bias)])

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def serve(self, x):
            return {"y": tf.matmul(x, self.w) + self.b}

    module = Affine()
    tf.saved_model.save(module, folder, signatures={"serving_default": module.serve})
    return folder
