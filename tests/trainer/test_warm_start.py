"""trainer/warm_start.py: a model built from the registry takes a served SavedModel's
weights when the architecture matches, and trains from scratch (saying why) otherwise."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import warm_start
from trainer.image import specs

SHAPE = (28, 28, 1)


def _build(name, classes=10):
    return lambda: specs.MODELS[name].build(SHAPE, classes)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A trained softmax model exported as the image exports do: the Keras model is the
    SavedModel's root, with more objects tracked beside its layers (the Transform layer
    there, a stand-in variable here)."""
    model = _build("softmax")()
    model.compile(optimizer=tf.keras.optimizers.SGD(0.5),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.RandomState(0)
    model.fit(rng.rand(40, *SHAPE), np.arange(40) % 10, epochs=1, verbose=0)
    weights = model.get_weights()
    model.tft_layer = tf.Module()
    model.tft_layer.table = tf.Variable([1.0, 2.0])
    path = str(tmp_path_factory.mktemp("served") / "1700000000")
    model.save(path, save_format="tf", save_traces=False, include_optimizer=False)
    return path, weights


def test_same_architecture_starts_from_the_served_weights(served):
    path, weights = served
    model = _build("softmax")()
    fresh = model.get_weights()
    result = warm_start.restore(model, path, _build("softmax"))
    assert result == warm_start.WarmStart(True, "", path)
    assert len(model.get_weights()) == len(weights)
    for got, want, before in zip(model.get_weights(), weights, fresh):
        np.testing.assert_array_equal(got, want)
        assert not np.array_equal(got, before)
    assert warm_start.describe(result.as_stats(), 1700000000) == \
        "warm start from version 1700000000"


@pytest.mark.parametrize("name, classes", [("softmax", 5), ("cnn", 10)])
def test_another_architecture_trains_from_scratch_and_says_why(served, name, classes):
    path, _ = served
    model = _build(name, classes)()
    fresh = model.get_weights()
    result = warm_start.restore(model, path, _build(name, classes))
    assert not result.restored and result.reason.startswith("architecture differs (")
    for got, before in zip(model.get_weights(), fresh):
        np.testing.assert_array_equal(got, before)  # untouched, not half-restored
    assert warm_start.describe(result.as_stats(), 1700000000).startswith(
        "trained from scratch, no warm start: architecture differs")


def test_nothing_served_trains_from_scratch(tmp_path):
    model = _build("softmax")()
    result = warm_start.restore(model, str(tmp_path / "Format-Serving"),
                                lambda: pytest.fail("no twin is built"))
    assert result.reason == "nothing served" and not result.restored
    assert warm_start.describe(result.as_stats(), None) == \
        "trained from scratch, no warm start: nothing served"
