"""Highway networks: y = H(x) T(x) + x (1 - T(x)); a closed gate carries x through, an open
gate gives H(x), the gate starts mostly closed (bias -2); the dense stack trains."""
import numpy as np
import pytest
import tensorflow as tf

from trainer.image import specs
from tests.model_fixtures import build_mixed_precision, learnable_batch, training_losses
from trainer.image.models import highway

layers = tf.keras.layers




def _x(n=8, d=12, seed=0):
    return np.random.RandomState(seed).normal(size=(n, d)).astype(np.float32)


def test_closed_gate_carries_the_input_through():
    tf.keras.utils.set_random_seed(0)
    x = _x()
    layer = highway.Highway(transform_bias=-60.0)
    np.testing.assert_allclose(layer(x).numpy(), x, atol=1e-6)
    # The same layer with a neutral gate does transform its input.
    layer.t_bias.assign(np.zeros(12, np.float32))
    assert np.abs(layer(x).numpy() - x).max() > 1e-2


def test_open_gate_is_the_plain_layer():
    tf.keras.utils.set_random_seed(0)
    x = _x()
    layer = highway.Highway(transform_bias=60.0)
    y = layer(x).numpy()
    h = np.maximum(x @ layer.h_kernel.numpy() + layer.h_bias.numpy(), 0)
    np.testing.assert_allclose(y, h, atol=1e-5)


def test_output_is_the_gated_mix():
    tf.keras.utils.set_random_seed(0)
    x = _x()
    layer = highway.Highway(activation="tanh")
    y = layer(x).numpy()
    h = np.tanh(x @ layer.h_kernel.numpy() + layer.h_bias.numpy())
    t = 1 / (1 + np.exp(-(x @ layer.t_kernel.numpy() + layer.t_bias.numpy())))
    np.testing.assert_allclose(y, h * t + x * (1 - t), atol=1e-5)


def test_gate_starts_mostly_closed():
    tf.keras.utils.set_random_seed(0)
    layer = highway.Highway()
    x = _x(n=256, d=50)
    layer(x)
    np.testing.assert_array_equal(layer.t_bias.numpy(), np.full(50, -2.0, np.float32))
    assert float(tf.reduce_mean(layer.gate(x))) < 0.25  # sigmoid(-2) ~ 0.12
    # H and T are separate weights, not one initializer's repeated draw.
    assert np.abs(layer.h_kernel.numpy() - layer.t_kernel.numpy()).max() > 1e-3


def test_layer_is_reusable_and_serialisable():
    tf.keras.utils.set_random_seed(0)
    model = highway.build((8, 8, 1), 3, depth=2, units=6, transform_bias=-3.0)
    clone = tf.keras.models.model_from_json(model.to_json())  # no custom_objects needed
    assert isinstance(clone.get_layer("highway1"), highway.Highway)
    assert clone.get_layer("highway2").transform_bias == -3.0
    clone.set_weights(model.get_weights())
    x = np.random.RandomState(1).uniform(size=(2, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(clone(x).numpy(), model(x).numpy(), atol=1e-6)


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
@pytest.mark.parametrize("conv_stem", [0, 8])
def test_model_shapes(shape, conv_stem):
    model = highway.build(shape, 10, depth=5, units=20, conv_stem=conv_stem)
    gates = [l for l in model.layers if isinstance(l, highway.Highway)]
    assert len(gates) == 5 and all(l.output_shape == (None, 20) for l in gates)
    assert ("stem_conv" in [l.name for l in model.layers]) == bool(conv_stem)
    logits = model(np.zeros((2,) + shape, np.float32))
    assert logits.shape == (2, 10) and logits.dtype == tf.float32


def test_training_steps_reduce_loss():
    tf.keras.utils.set_random_seed(0)
    x, y = learnable_batch()
    model = highway.build(x.shape[1:], 4, depth=10, units=16)
    losses = training_losses(model, x, y)
    assert losses[-1] < 0.5 * losses[0], losses


def test_runs_under_mixed_precision():
    model = build_mixed_precision(highway.build, (8, 8, 1), 3, depth=2, units=6)
    assert model.get_layer("highway1").compute_dtype == "float16"
    out = model(np.zeros((2, 8, 8, 1), np.float32))
    assert out.dtype == tf.float32 and np.isfinite(out.numpy()).all()


def test_registry_entry():
    spec = specs.MODELS.get("highway")
    assert 0.5 <= spec.min_accuracy < 1.0
    model = spec.build((28, 28, 1), 10)
    assert len([l for l in model.layers if isinstance(l, highway.Highway)]) >= 10
