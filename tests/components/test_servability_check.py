"""ServabilityCheck's pieces on tiny hand-built SavedModels (no pipeline needed)."""
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from components import servability_check as sc
from trainer.serving import warmup


def _save(tmp_path, name, fn, signature="serving_default"):
    module = tf.Module()
    module.f = tf.function(fn, input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    path = str(tmp_path / name)
    tf.saved_model.save(module, path, signatures={signature: module.f})
    return path


def _good(examples):
    n = tf.shape(examples)[0]
    return {"probabilities": tf.fill([n, 3], 1.0 / 3), "class_ids": tf.zeros([n], tf.int64)}


def _nan(examples):
    return {"probabilities": tf.fill([tf.shape(examples)[0], 3], float("nan"))}


def _wrong_batch(examples):
    return {"probabilities": tf.zeros([1, 3])}


EXAMPLES = [b"a", b"b", b"c"]


def test_good_model_passes_and_is_stamped_with_warmup(tmp_path):
    path = _save(tmp_path, "good", _good)
    out = sc.check_signature(path, "serving_default", EXAMPLES)
    assert out["probabilities"].shape == (3, 3)
    stamped = sc.stamp_model(path, str(tmp_path / "stamped"),
                             warmup.warmup_log("m", "serving_default", EXAMPLES))
    assert os.path.exists(os.path.join(stamped, "saved_model.pb"))
    records = list(tf.data.TFRecordDataset(
        os.path.join(stamped, warmup.WARMUP_DIR, warmup.WARMUP_FILE)))
    log = prediction_log_pb2.PredictionLog.FromString(records[0].numpy())
    assert log.predict_log.request.model_spec.name == "m"
    sent = tf.make_ndarray(log.predict_log.request.inputs["examples"])
    assert list(sent) == EXAMPLES
    # The stamped copy still serves.
    replay = tf.saved_model.load(stamped).signatures["serving_default"](examples=tf.constant(sent))
    np.testing.assert_allclose(replay["probabilities"].numpy().sum(-1), 1.0, rtol=1e-6)
    assert not os.path.exists(str(tmp_path / "stamped") + ".tmp")


@pytest.mark.parametrize("fn,problem", [(_nan, "not finite"), (_wrong_batch, "has batch 1")])
def test_bad_outputs_are_refused(tmp_path, fn, problem):
    path = _save(tmp_path, fn.__name__, fn)
    with pytest.raises(sc.ServabilityError, match=problem):
        sc.check_signature(path, "serving_default", EXAMPLES)


def test_missing_signature(tmp_path):
    path = _save(tmp_path, "other", _good, signature="other")
    with pytest.raises(sc.ServabilityError, match="no signature 'serving_default'"):
        sc.check_signature(path, "serving_default", EXAMPLES)


def test_not_a_saved_model(tmp_path):
    with pytest.raises(sc.ServabilityError, match="does not load"):
        sc.check_signature(str(tmp_path), "serving_default", EXAMPLES)
