import numpy as np
import tensorflow as tf

from trainer.image.models import lenet


def test_architecture_matches_deep_mnist_for_experts():
    model = lenet.build((28, 28, 1), 10)
    shapes = {l.name: l.output_shape for l in model.layers}
    assert shapes["conv1"] == (None, 28, 28, 32)
    assert shapes["pool1"] == (None, 14, 14, 32)
    assert shapes["conv2"] == (None, 14, 14, 64)
    assert shapes["pool2"] == (None, 7, 7, 64)
    assert shapes["fc1"] == (None, 1024)
    assert model.output_shape == (None, 10)
    # 5*5*1*32+32 + 5*5*32*64+64 + 7*7*64*1024+1024 + 1024*10+10
    assert model.count_params() == 832 + 51264 + 3212288 + 10250
    assert model.get_layer("dropout").rate == 0.5


def test_colour_input_shape():
    assert lenet.build((32, 32, 3), 10).output_shape == (None, 10)


def test_dropout_only_in_training():
    model = lenet.build((28, 28, 1), 10)
    x = np.random.RandomState(1).rand(2, 28, 28, 1).astype("float32")
    np.testing.assert_allclose(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=False))


def test_training_steps_reduce_loss():
    tf.keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    y = rng.randint(0, 10, 64)
    x = rng.rand(64, 28, 28, 1).astype("float32") * 0.1
    for i, c in enumerate(y):
        x[i, 2 * c: 2 * c + 3, :, 0] = 1.0
    model = lenet.build((28, 28, 1), 10)
    model.compile(tf.keras.optimizers.Adam(1e-3),
                  tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    assert model.evaluate(x, y, verbose=0) < 0.5 * before
