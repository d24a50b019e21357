"""Inception-v3-style network: 4-branch modules with factorised convs concatenated on
channels, grid reductions (spatial shrinks, channels grow), BN after every conv."""
import numpy as np
import pytest
import tensorflow as tf

from trainer.image import specs
from tests.model_fixtures import build_mixed_precision, learnable_batch, training_losses
from trainer.image.models import inception

layers = tf.keras.layers




def _inbound(model):
    """layer name -> names of the layers feeding it, for a functional model."""
    return {cfg["name"]: [node[0] for node in cfg["inbound_nodes"][0]]
            for cfg in model.get_config()["layers"] if cfg["inbound_nodes"]}


def _module_model(b1, b2, b3, pool, n, in_channels=7, size=9):
    inputs = tf.keras.Input((size, size, in_channels))
    out = inception.inception_module(inputs, b1, b2, b3, pool, n=n, name="m")
    return tf.keras.Model(inputs, out)


@pytest.mark.parametrize("b1,b2,b3,pool,n", [(3, (2, 5), (2, 7), 4, 3),
                                             (8, (4, 6), (3, 2), 1, 5)])
def test_module_concatenates_four_branches(b1, b2, b3, pool, n):
    model = _module_model(b1, b2, b3, pool, n)
    assert model.output_shape == (None, 9, 9, b1 + b2[1] + b3[1] + pool)
    branch_ends = _inbound(model)["m_concat"]
    assert len(branch_ends) == 4
    ends = [model.get_layer(e.replace("_relu", "_conv")) for e in branch_ends]
    assert [e.filters for e in ends] == [b1, b2[1], b3[1], pool]
    x = np.random.RandomState(0).uniform(size=(2, 9, 9, 7)).astype(np.float32)
    assert model(x).shape == (2, 9, 9, b1 + b2[1] + b3[1] + pool)


def test_module_uses_factorised_convs_and_a_pooling_branch():
    n = 5
    model = _module_model(3, (2, 4), (2, 4), 3, n)
    kernels = [l.kernel_size for l in model.layers if isinstance(l, layers.Conv2D)]
    assert (n, n) not in kernels  # nxn only ever as 1xn followed by nx1
    assert kernels.count((1, n)) == 3 and kernels.count((n, 1)) == 3  # 1 + 2 pairs
    assert kernels.count((1, 1)) == 4
    pool = model.get_layer("m_b4_pool")
    assert isinstance(pool, layers.AveragePooling2D) and pool.pool_size == (3, 3)
    inbound = _inbound(model)
    assert inbound["m_b4_1x1_conv"] == ["m_b4_pool"]
    # Deep branch order: 1x1, 1xn, nx1, 1xn, nx1.
    assert inbound["m_b3_1x5a_conv"] == ["m_b3_1x1_relu"]
    assert inbound["m_b3_5x1a_conv"] == ["m_b3_1x5a_relu"]
    assert inbound["m_b3_1x5b_conv"] == ["m_b3_5x1a_relu"]
    assert inbound["m_b3_5x1b_conv"] == ["m_b3_1x5b_relu"]


def test_every_conv_is_followed_by_batchnorm():
    model = inception.build((32, 32, 3), 10, width=0.25)
    convs = [l.name for l in model.layers if isinstance(l, layers.Conv2D)]
    assert len(convs) > 40
    inbound = _inbound(model)
    for name in convs:
        assert inbound[name.replace("_conv", "_bn")] == [name]


@pytest.mark.parametrize("shape,spatial", [((28, 28, 1), [14, 7, 4]), ((32, 32, 3), [16, 8, 4])])
def test_groups_shrink_spatially_and_grow_in_channels(shape, spatial):
    model = inception.build(shape, 10)
    outs = [model.get_layer(f"group{g}_module2_concat").output_shape for g in (1, 2, 3)]
    assert [o[1] for o in outs] == spatial and [o[2] for o in outs] == spatial
    channels = [o[3] for o in outs]
    assert channels[0] < channels[1] < channels[2], channels
    assert isinstance(model.get_layer("avg_pool"), layers.GlobalAveragePooling2D)
    logits = model(np.zeros((2,) + shape, np.float32))
    assert logits.shape == (2, 10) and logits.dtype == tf.float32


def test_groups_and_reductions_must_agree():
    with pytest.raises(ValueError, match="reduction"):
        inception.build((32, 32, 3), 10, reductions=inception.DEFAULT_REDUCTIONS[:1])


def test_training_steps_reduce_loss():
    tf.keras.utils.set_random_seed(0)
    x, y = learnable_batch()
    # Two groups of one module with a reduction between them: the architecture, kept tiny.
    model = inception.build(x.shape[1:], 4, width=0.25, dropout=0.0,
                            groups=[(1, n, w) for _, n, w in inception.DEFAULT_GROUPS[:2]],
                            reductions=inception.DEFAULT_REDUCTIONS[:1])
    losses = training_losses(model, x, y)
    assert losses[-1] < 0.5 * losses[0], losses


def test_logits_stay_float32_under_mixed_precision():
    model = build_mixed_precision(inception.build, (16, 16, 1), 3, width=0.125)
    assert model.get_layer("stem1_conv").compute_dtype == "float16"
    assert model.output.dtype == tf.float32


def test_registry_entry():
    spec = specs.MODELS.get("inception")
    assert spec.build is inception.build and 0.5 <= spec.min_accuracy < 1.0
