"""ResNet: residual units are the identity when their branch is zero, shortcuts project only
where shapes change, v1/v2 orderings, CIFAR parameter counts, weight decay, training."""
import numpy as np
import pytest
import tensorflow as tf

from trainer.image import specs
from tests.model_fixtures import build_mixed_precision, learnable_batch, training_losses
from trainer.image.models import resnet

layers = tf.keras.layers


def _inbound(model):
    """layer name -> names of the layers feeding it, for a functional model."""
    return {cfg["name"]: [node[0] for node in cfg["inbound_nodes"][0]]
            for cfg in model.get_config()["layers"] if cfg["inbound_nodes"]}




def _unit_model(filters, bottleneck, preact, stride=1, in_channels=None, size=8):
    out_channels = filters * (4 if bottleneck else 1)
    inputs = tf.keras.Input((size, size, in_channels or out_channels))
    out = resnet.residual_unit(inputs, filters, stride=stride, bottleneck=bottleneck,
                               preact=preact, name="u")
    return tf.keras.Model(inputs, out)


@pytest.mark.parametrize("preact", [False, True], ids=["v1", "v2"])
@pytest.mark.parametrize("bottleneck", [False, True], ids=["basic", "bottleneck"])
def test_residual_unit_with_zeroed_branch_is_identity(preact, bottleneck):
    tf.keras.utils.set_random_seed(1)
    model = _unit_model(4, bottleneck, preact)
    rng = np.random.RandomState(0)
    x = rng.normal(size=(3, 8, 8, model.input_shape[-1])).astype(np.float32)
    if not preact:
        x = np.maximum(x, 0)  # v1 units see post-ReLU activations
    # A live branch changes its input (so the assertion below can fail).
    assert np.abs(model(x, training=False).numpy() - x).max() > 1e-2
    last = 3 if bottleneck else 2
    if preact:  # v2: the branch ends in a conv; zero its kernel
        conv = model.get_layer(f"u_conv{last}")
        conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])
    else:  # v1: the branch ends in BN; gamma = beta = 0 makes it output 0
        bn = model.get_layer(f"u_bn{last}")
        gamma, beta, mean, var = bn.get_weights()
        bn.set_weights([np.zeros_like(gamma), np.zeros_like(beta), mean, var])
    for training in (False, True):
        np.testing.assert_allclose(model(x, training=training).numpy(), x, atol=1e-6)


def test_unit_projects_only_when_shape_changes():
    same = _unit_model(8, bottleneck=False, preact=False)
    assert not [l for l in same.layers if l.name.startswith("u_proj")]
    wider = _unit_model(8, bottleneck=False, preact=False, stride=2, in_channels=4)
    proj = wider.get_layer("u_proj")
    assert proj.kernel_size == (1, 1) and proj.strides == (2, 2)
    assert wider.output_shape == (None, 4, 4, 8)
    bott = _unit_model(4, bottleneck=True, preact=True, in_channels=4)
    assert bott.get_layer("u_proj").filters == 16 and bott.output_shape[-1] == 16
    assert [bott.get_layer(f"u_conv{i}").kernel_size for i in (1, 2, 3)] == [(1, 1), (3, 3), (1, 1)]


def test_v1_is_post_activation_and_v2_pre_activation():
    v1 = resnet.build((16, 16, 1), 10, depth=8, base_filters=4, version=1)
    v2 = resnet.build((16, 16, 1), 10, depth=8, base_filters=4, version=2)
    in1, in2 = _inbound(v1), _inbound(v2)
    # v1: conv-BN-ReLU, conv-BN; the BN feeds the sum and a ReLU follows the sum.
    assert in1["stage1_unit1_bn1"] == ["stage1_unit1_conv1"]
    assert in1["stage1_unit1_add"] == ["stem_relu", "stage1_unit1_bn2"]
    assert in1["stage1_unit1_out"] == ["stage1_unit1_add"]
    # v2: BN-ReLU-conv twice; the conv feeds the sum, the next unit's BN takes the raw sum.
    assert in2["stage1_unit1_bn0"] == ["stem_conv"]
    assert in2["stage1_unit1_conv1"] == ["stage1_unit1_relu0"]
    assert in2["stage1_unit1_add"] == ["stem_conv", "stage1_unit1_conv2"]
    assert in2["stage2_unit1_bn0"] == ["stage1_unit1_add"]
    assert isinstance(v2.get_layer("final_bn"), layers.BatchNormalization)


def test_cifar_resnet_structure():
    model = resnet.resnet20((32, 32, 3), 10)
    adds = [l for l in model.layers if isinstance(l, layers.Add)]
    projections = sorted(l.name for l in model.layers if l.name.endswith("_proj"))
    assert len(adds) == 9  # 3 stages x n=3 units
    assert projections == ["stage2_unit1_proj", "stage3_unit1_proj"]  # identity elsewhere
    convs = [l for l in model.layers if isinstance(l, layers.Conv2D)]
    assert len(convs) == 19 + 2  # 6n+1 weighted conv layers + 2 projections
    assert all(isinstance(c.kernel_initializer, tf.keras.initializers.HeNormal) for c in convs)
    assert len([l for l in model.layers if isinstance(l, layers.BatchNormalization)]) == 19 + 2
    shapes = [model.get_layer(f"stage{s}_unit1_add").output_shape for s in (1, 2, 3)]
    assert shapes == [(None, 32, 32, 16), (None, 16, 16, 32), (None, 8, 8, 64)]


@pytest.mark.parametrize("name,published", [("resnet20", 0.27e6), ("resnet32", 0.46e6),
                                            ("resnet56", 0.85e6)])
def test_cifar_parameter_counts(name, published):
    model = specs.MODELS.get(name).build((32, 32, 3), 10)
    assert model.count_params() == pytest.approx(published, rel=0.03)


def test_depth_must_match_unit_type():
    with pytest.raises(ValueError, match="6n\\+2"):
        resnet.build((32, 32, 3), 10, depth=21)
    with pytest.raises(ValueError, match="9n\\+2"):
        resnet.build((32, 32, 3), 10, depth=32, bottleneck=True)
    model = resnet.build((32, 32, 3), 10, depth=29, bottleneck=True)  # n = 3
    assert model.get_layer("stage3_unit3_out").output_shape == (None, 8, 8, 256)


def test_weight_decay_is_l2_on_every_kernel():
    wd = 1e-3
    model = resnet.build((8, 8, 1), 3, depth=8, base_filters=2, weight_decay=wd)
    kernels = [l.kernel for l in model.layers if isinstance(l, (layers.Conv2D, layers.Dense))]
    assert len(model.losses) == len(kernels)
    expected = sum(wd / 2 * float(tf.reduce_sum(k ** 2)) for k in kernels)
    assert float(tf.add_n(model.losses)) == pytest.approx(expected, rel=1e-5)
    assert not resnet.build((8, 8, 1), 3, depth=8, base_filters=2, weight_decay=0).losses


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
@pytest.mark.parametrize("version", [1, 2])
def test_output_shapes(shape, version):
    model = resnet.build(shape, 10, depth=20, version=version)
    logits = model(np.zeros((2,) + shape, np.float32))
    assert logits.shape == (2, 10) and logits.dtype == tf.float32


@pytest.mark.parametrize("version", [1, 2])
def test_training_steps_reduce_loss(version):
    tf.keras.utils.set_random_seed(0)
    x, y = learnable_batch()
    model = resnet.build(x.shape[1:], 4, depth=8, base_filters=4, version=version)
    losses = training_losses(model, x, y)
    assert losses[-1] < 0.5 * losses[0], losses


def test_logits_stay_float32_under_mixed_precision():
    model = build_mixed_precision(resnet.build, (8, 8, 1), 3, depth=8, base_filters=2)
    assert model.get_layer("stage1_unit1_conv1").compute_dtype == "float16"
    assert model.output.dtype == tf.float32


@pytest.mark.parametrize("name", ["resnet20", "resnet32", "resnet56"])
def test_registry_entries(name):
    spec = specs.MODELS.get(name)
    assert spec.optimizer == "momentum" and spec.weight_decay > 0
    assert spec.lr_schedule == "piecewise" and spec.augment
    assert 0.5 <= spec.min_accuracy < 1.0
    model = spec.build((8, 8, 1), 10)
    depth = int(name[len("resnet"):])
    assert len([l for l in model.layers if isinstance(l, layers.Add)]) == (depth - 2) // 2
    # The entry's declared weight decay is the one the model applies.
    assert model.get_layer("stem_conv").kernel_regularizer.l2 == pytest.approx(
        spec.weight_decay / 2)
