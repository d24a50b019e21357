"""End to end: the MNIST pipeline with LocalDagRunner on a few hundred real digits, twice."""
import glob
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from components import mnist_example_gen
from pipelines import local_runner
from pipelines.config import PipelineConfig
from tests.mnist_fixtures import real_digits, write_mnist
from trainer.run import KERAS_FILE

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    (train_x, train_y), (test_x, test_y) = real_digits(400, 120)
    data = write_mnist(str(root / "data"), train_x, train_y, "train", gz=True)
    write_mnist(data, test_x, test_y, "t10k", gz=True)
    config = PipelineConfig(corpus="mnist", models=["softmax"], data_dir=data,
                            workspace=str(root / "ws"), epochs=4, min_accuracy=0.5)
    lines = []
    first = local_runner.run_image_pipeline(config, echo=lines.append)
    second = local_runner.run_image_pipeline(config, echo=lines.append)
    return config, first, second, (test_x, test_y), lines


def test_pipeline_completes_and_pushes_in_tf_serving_layout(two_runs):
    config, first, _, _, lines = two_runs
    for node in ["MnistExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                 "Transform", "Trainer.softmax", "Evaluator.softmax",
                 "ServabilityCheck.softmax", "Pusher.softmax"]:
        assert first.nodes[node].state == "COMPLETE", node
    assert any("Trainer.softmax" in l and "done in" in l for l in lines)
    result = first.models[0]
    assert result.blessed and result.accuracy > 0.5
    base = os.path.join(config.serving_root, "mnist_softmax")
    assert os.path.dirname(result.pushed_path) == base
    version = os.path.basename(result.pushed_path)
    assert version.isdigit()  # TF Serving's <model_base_path>/<integer version>/
    assert os.path.exists(os.path.join(result.pushed_path, "saved_model.pb"))
    assert os.path.isdir(os.path.join(result.pushed_path, "variables"))
    stats = result.training_stats
    assert stats["train_examples"] == 400 and stats["examples_per_sec"] > 0


def test_served_signatures_match_the_trained_keras_model(two_runs):
    _, first, _, (test_x, test_y), _ = two_runs
    pushed = first.models[0].pushed_path
    served = tf.saved_model.load(pushed)
    images = test_x[:32]
    serialized = tf.constant([mnist_example_gen.to_example(img, int(lbl)).SerializeToString()
                              for img, lbl in zip(images, test_y[:32])])
    by_example = served.signatures["serving_default"](examples=serialized)
    by_pixels = served.signatures["serving_images"](images=tf.constant(images, tf.uint8))
    run_dir = first.nodes["Trainer.softmax"].outputs["model_run"][0].uri
    keras_model = tf.keras.models.load_model(os.path.join(run_dir, KERAS_FILE))
    expected = tf.nn.softmax(keras_model.predict(images[..., None] / 255.0, verbose=0)).numpy()
    np.testing.assert_allclose(by_example["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(by_pixels["probabilities"].numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(by_pixels["class_ids"].numpy(), expected.argmax(-1))
    assert (by_pixels["class_ids"].numpy() == test_y[:32]).mean() > 0.5


def test_second_run_reuses_cache_and_uses_first_as_baseline(two_runs):
    _, first, second, _, _ = two_runs
    for node in ["MnistExampleGen", "StatisticsGen", "Transform", "Trainer.softmax"]:
        assert second.nodes[node].state == "CACHED", node
    trained = first.nodes["Trainer.softmax"].outputs["model"][0].uri
    assert second.models[0].baseline_uri == trained
    assert first.models[0].baseline_uri is None
    assert second.models[0].blessed  # the same model does not fall below itself


def test_pushed_model_carries_warmup_requests_that_replay(two_runs):
    _, first, _, _, _ = two_runs
    pushed = first.models[0].pushed_path
    warmup = os.path.join(pushed, "assets.extra", "tf_serving_warmup_requests")
    served = tf.saved_model.load(pushed)
    records = list(tf.data.TFRecordDataset(warmup))
    assert records
    for record in records:
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        assert request.model_spec.name == "mnist_softmax"
        fn = served.signatures[request.model_spec.signature_name]
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        out = fn(**inputs)
        assert out["probabilities"].shape == (len(inputs["examples"]), 10)
