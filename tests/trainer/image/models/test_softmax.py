import numpy as np
import tensorflow as tf

from trainer.image import specs
from trainer.image.models import softmax


def test_is_a_single_affine_map():
    model = softmax.build((28, 28, 1), 10)
    assert model.output_shape == (None, 10)
    assert model.count_params() == 784 * 10 + 10
    dense = [l for l in model.layers if isinstance(l, tf.keras.layers.Dense)]
    assert len(dense) == 1  # logits = Wx + b, nothing hidden
    x = np.random.RandomState(0).rand(4, 28, 28, 1).astype("float32")
    w, b = dense[0].get_weights()
    np.testing.assert_allclose(model(x).numpy(), x.reshape(4, -1) @ w + b, rtol=1e-5, atol=1e-5)


def test_training_steps_reduce_loss():
    tf.keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    y = rng.randint(0, 10, 200)
    x = rng.rand(200, 28, 28, 1).astype("float32") * 0.1
    for i, c in enumerate(y):
        x[i, 2 * c: 2 * c + 3, :, 0] = 1.0  # class-coded rows: linearly separable
    model = softmax.build((28, 28, 1), 10)
    model.compile(specs.MODELS.get("softmax").make_optimizer(),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, batch_size=50, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * before
