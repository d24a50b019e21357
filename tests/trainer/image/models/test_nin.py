"""Network in Network: mlpconv blocks (spatial conv + two 1x1 convs, BN), no dense layer,
per-class maps averaged globally into the logits."""
import numpy as np
import pytest
import tensorflow as tf

from trainer.image import specs
from tests.model_fixtures import build_mixed_precision, learnable_batch, training_losses
from trainer.image.models import nin

layers = tf.keras.layers




def test_no_dense_layer_and_global_average_pooling_head():
    model = nin.build((32, 32, 3), 10)
    assert not [l for l in model.layers if isinstance(l, layers.Dense)]
    head = model.layers[-1]
    assert isinstance(head, layers.GlobalAveragePooling2D)
    class_maps = model.get_layer("class_maps")
    assert class_maps.output_shape == (None, 8, 8, 10)  # one confidence map per class
    assert class_maps.kernel_size == (1, 1)


def test_logits_are_the_mean_of_the_class_maps():
    tf.keras.utils.set_random_seed(0)
    model = nin.build((16, 16, 1), 5, width=0.1)
    maps = tf.keras.Model(model.input, model.get_layer("class_maps").output)
    x = np.random.RandomState(0).uniform(size=(2, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(model(x).numpy(), maps(x).numpy().mean(axis=(1, 2)),
                               rtol=1e-5, atol=1e-6)


def test_mlpconv_blocks_are_a_spatial_conv_then_1x1_convs_with_batchnorm():
    model = nin.build((32, 32, 3), 10)
    convs = [l for l in model.layers if isinstance(l, layers.Conv2D)]
    assert [c.kernel_size[0] for c in convs] == [5, 1, 1, 5, 1, 1, 3, 1, 1]
    assert [c.filters for c in convs] == [192, 160, 96, 192, 192, 192, 192, 192, 10]
    bns = [l.name for l in model.layers if isinstance(l, layers.BatchNormalization)]
    # Every conv but the linear class-map conv is conv-BN-ReLU.
    assert bns == [c.name.replace("_conv", "_bn") for c in convs[:-1]]
    # Dropout (and pooling) between the blocks, not inside them.
    names = [l.name for l in model.layers]
    for b in (1, 2):
        assert names.index(f"mlpconv{b}_2_relu") < names.index(f"dropout{b}") \
            < names.index(f"mlpconv{b + 1}_0_conv")
    assert model.get_layer("dropout1").rate == 0.5


def test_parameter_count_matches_published_nin():
    # Lin et al.'s CIFAR-10 NiN has ~0.97M parameters.
    assert nin.build((32, 32, 3), 10).count_params() == pytest.approx(0.97e6, rel=0.03)


@pytest.mark.parametrize("shape,spatial", [((28, 28, 1), 7), ((32, 32, 3), 8)])
def test_output_shapes(shape, spatial):
    model = nin.build(shape, 10)
    assert model.get_layer("class_maps").output_shape[1:3] == (spatial, spatial)
    logits = model(np.zeros((2,) + shape, np.float32))
    assert logits.shape == (2, 10) and logits.dtype == tf.float32


def test_training_steps_reduce_loss():
    tf.keras.utils.set_random_seed(0)
    x, y = learnable_batch()
    model = nin.build(x.shape[1:], 4, width=0.05, dropout=0.0)
    losses = training_losses(model, x, y)
    assert losses[-1] < 0.5 * losses[0], losses


def test_logits_stay_float32_under_mixed_precision():
    model = build_mixed_precision(nin.build, (8, 8, 1), 3, width=0.05)
    assert model.get_layer("mlpconv1_0_conv").compute_dtype == "float16"
    assert model.output.dtype == tf.float32


def test_registry_entry():
    spec = specs.MODELS.get("nin")
    assert spec.build is nin.build and 0.5 <= spec.min_accuracy < 1.0
    assert spec.make_optimizer() is not None
