"""Learning-rate schedules and the registry fields that name them."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from trainer import schedules
from trainer.image import specs


def _lr(schedule, step):
    return float(schedule(tf.constant(step, tf.int64)))


def test_constant_is_the_plain_float():
    assert schedules.make_schedule("constant", 0.5, 10, 3) == 0.5


def test_piecewise_divides_by_ten_at_half_and_three_quarters():
    s = schedules.make_schedule("piecewise", 0.1, steps_per_epoch=10, epochs=8)  # 80 steps
    assert _lr(s, 0) == pytest.approx(0.1)
    assert _lr(s, 40) == pytest.approx(0.1)
    assert _lr(s, 41) == pytest.approx(0.01)
    assert _lr(s, 60) == pytest.approx(0.01)
    assert _lr(s, 61) == pytest.approx(0.001)
    assert _lr(s, 10_000) == pytest.approx(0.001)


def test_piecewise_custom_fractions_and_tiny_runs():
    s = schedules.piecewise_by_epoch_fraction(1.0, 100, fractions=(0.3,), factor=0.5)
    assert [_lr(s, 30), _lr(s, 31)] == pytest.approx([1.0, 0.5])
    tiny = schedules.make_schedule("piecewise", 1.0, steps_per_epoch=1, epochs=1)
    assert [_lr(tiny, i) for i in range(4)] == pytest.approx([1.0, 1.0, 0.1, 0.01])
    with pytest.raises(ValueError, match="fractions"):
        schedules.piecewise_by_epoch_fraction(1.0, 100, fractions=(0.75, 0.5))


def test_cosine_decays_from_base_to_zero():
    s = schedules.make_schedule("cosine", 0.2, steps_per_epoch=25, epochs=4)  # 100 steps
    values = [_lr(s, i) for i in range(0, 101, 10)]
    assert values[0] == pytest.approx(0.2)
    assert values[5] == pytest.approx(0.1, rel=1e-4)
    assert values[-1] == pytest.approx(0.0, abs=1e-7)
    assert all(a > b for a, b in zip(values, values[1:]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        schedules.make_schedule("linear", 0.1, 10, 1)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        schedules.make_schedule("cosine", 0.1, 0, 1)


def test_optimizer_follows_the_schedule():
    # The wiring path: ModelSpec.make_optimizer(make_schedule(...)).
    spec = dataclasses.replace(specs.MODELS["softmax"], learning_rate=1.0,
                               lr_schedule="piecewise")  # plain SGD
    opt = spec.make_optimizer(
        schedules.make_schedule(spec.lr_schedule, spec.learning_rate, 2, 2))  # 4 steps
    v = tf.Variable(0.0)
    steps = []
    for _ in range(5):
        before = float(v.numpy())
        opt.apply_gradients([(tf.constant(1.0), v)])
        steps.append(before - float(v.numpy()))
    # boundaries at steps 2 and 3: lr 1, 1, 1, 0.1, 0.01 for iterations 0..4
    np.testing.assert_allclose(steps, [1.0, 1.0, 1.0, 0.1, 0.01], rtol=1e-5)


def test_registry_fields_default_to_old_behaviour():
    fields = {f.name: f.default for f in dataclasses.fields(specs.ImageModelSpec)}
    assert fields["lr_schedule"] == "constant" and fields["augment"] is False
    spec = specs.MODELS["softmax"]  # an entry that sets neither field
    assert spec.lr_schedule == "constant" and spec.augment is False
    assert schedules.make_schedule(spec.lr_schedule, spec.learning_rate, 10, 1) == 0.5
    assert float(spec.make_optimizer().learning_rate) == pytest.approx(spec.learning_rate)
    for spec in specs.MODELS.values():
        assert spec.lr_schedule in schedules.SCHEDULES
        schedules.make_schedule(spec.lr_schedule, spec.learning_rate, 10, spec.epochs)
