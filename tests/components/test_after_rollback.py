"""What the pipeline's serving steps do after `classics rollback`: ServingBaseline hands
the Evaluator the version served after the rollback (not the newest version ever
pushed), and the next blessed push is served again, ending the rollback."""
import os

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components import pusher
from components import serving_baseline as sb
from tests.components.test_pusher import _push
from trainer.serving import rollback as rb


def _baseline(model_dir, out):
    """ServingBaseline's executor, as the runners call it on the next pipeline run."""
    model = standard_artifacts.Model()
    model.uri = str(out)
    sb.ServingBaseline.EXECUTOR_SPEC.executor_class().Do(
        {}, {"model": [model]}, {"serving_model_dir": str(model_dir)})
    return model


def _value(saved_model_dir):
    return float(tf.saved_model.load(saved_model_dir).signatures["serving_default"]()[
        "output_0"])


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """Two pushes of mnist_cnn (values 1.0 and 2.0), then a rollback to the first."""
    root = str(tmp_path / "serving")
    base = os.path.join(root, "mnist_cnn")
    for name, value, now in (("first", 1.0, 1700000000.0), ("second", 2.0, 1700000100.0)):
        monkeypatch.setattr(pusher.time, "time", lambda now=now: now)
        _push(tmp_path, name, value, base)
    done = rb.rollback(root, "mnist_cnn", user="ops")
    assert (done.from_version, done.to_version) == (1700000100, 1700000000)
    return root


def test_the_baseline_is_the_version_served_after_the_rollback(repo, tmp_path):
    model = _baseline(os.path.join(repo, "mnist_cnn"), tmp_path / "baseline")
    assert model.get_int_custom_property(sb.SERVED_VERSION) == 1700000000
    assert sb.usable_baseline([model]) is model
    # The Evaluator compares with the rolled-back-to model itself, not the newer one.
    assert _value(path_utils.serving_model_path(model.uri)) == 1.0


def test_the_next_blessed_push_is_served_and_ends_the_rollback(repo, tmp_path, monkeypatch):
    base = os.path.join(repo, "mnist_cnn")
    # A clock behind the version set aside (another machine's): the push still lands
    # above it, so it is the highest version and TF Serving's latest policy serves it.
    monkeypatch.setattr(pusher.time, "time", lambda: 1700000050.0)
    pushed = _push(tmp_path, "third", 3.0, base)
    version = int(pushed.get_string_custom_property("pushed_version"))
    assert version == 1700000101
    assert rb.served_version(repo, "mnist_cnn") == version
    assert rb.active_rollback(repo, "mnist_cnn") is None
    assert rb.read_record(repo, "mnist_cnn")[-1].to_version == 1700000000  # history
    model = _baseline(base, tmp_path / "baseline")
    assert model.get_int_custom_property(sb.SERVED_VERSION) == version
    assert _value(path_utils.serving_model_path(model.uri)) == 3.0


def test_a_refused_push_leaves_the_rollback_in_place(repo, tmp_path):
    _push(tmp_path, "refused", 4.0, os.path.join(repo, "mnist_cnn"), blessed=0)
    assert rb.served_version(repo, "mnist_cnn") == 1700000000
    assert rb.active_rollback(repo, "mnist_cnn").user == "ops"
