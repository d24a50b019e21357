"""End to end: the MNIST pipeline with LocalDagRunner on a few hundred real digits, twice."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from pipelines import cli, local_runner
from pipelines.config import ImagePipelineConfig
from tests.mnist_fixtures import real_digits, write_mnist
from tests.serving_standins import GrpcServer, RestServer
from trainer.contract import KERAS_FILE, image_example
from trainer.serving import client as serving_client

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    (train_x, train_y), (test_x, test_y) = real_digits(400, 120)
    data = write_mnist(str(root / "data"), train_x, train_y, "train", gz=True)
    write_mnist(data, test_x, test_y, "t10k", gz=True)
    config = ImagePipelineConfig(corpus="mnist", models=["softmax"], data_dir=data,
                            workspace=str(root / "ws"), epochs=4, min_accuracy=0.5)
    lines = []
    first = local_runner.run_pipeline(config, echo=lines.append)
    second = local_runner.run_pipeline(config, echo=lines.append)
    return config, first, second, (test_x, test_y), lines


def test_pipeline_completes_and_pushes_in_tf_serving_layout(two_runs):
    config, first, _, _, lines = two_runs
    for node in ["MnistExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                 "Transform", "Trainer.softmax", "Evaluator.softmax",
                 "ServabilityCheck.softmax", "Pusher.softmax"]:
        assert first.nodes[node].state == "COMPLETE", node
    assert any("Trainer.softmax" in l and "done in" in l for l in lines)
    result = first.models[0]
    assert result.blessed and result.metrics["accuracy"] > 0.5
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
    serialized = tf.constant([image_example(img, int(lbl)).SerializeToString()
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


@pytest.fixture(scope="module")
def servers(two_runs):
    _, first, _, _, _ = two_runs
    models = {"mnist_softmax": first.models[0].pushed_path}
    rest, grpc_server = RestServer(models), GrpcServer(models)
    yield rest, grpc_server
    rest.close()
    grpc_server.close()


def test_rest_and_grpc_clients_agree_with_the_saved_model(two_runs, servers, tmp_path, capsys):
    _, first, _, (test_x, test_y), _ = two_runs
    rest, grpc_server = servers
    images = test_x[:5]
    local = tf.saved_model.load(first.models[0].pushed_path).signatures["serving_images"](
        images=tf.constant(images))["probabilities"].numpy()
    by_rest = serving_client.predict_rest(rest.url, "mnist_softmax", images=images)
    by_grpc = serving_client.predict_grpc(grpc_server.target, "mnist_softmax", images=images)
    np.testing.assert_allclose([p["probabilities"] for p in by_rest], local, atol=1e-6)
    np.testing.assert_allclose([p["probabilities"] for p in by_grpc], local, atol=1e-6)
    examples = [image_example(x, int(y)).SerializeToString()
                for x, y in zip(images, test_y[:5])]
    by_example = serving_client.predict_grpc(grpc_server.target, "mnist_softmax",
                                             examples=examples)
    np.testing.assert_allclose([p["probabilities"] for p in by_example], local, atol=1e-5)
    by_example_rest = serving_client.predict_rest(rest.url, "mnist_softmax", examples=examples)
    np.testing.assert_allclose([p["probabilities"] for p in by_example_rest], local, atol=1e-5)

    # The CLI on PNG files, both transports.
    from PIL import Image
    paths = []
    for i, img in enumerate(images[:2]):
        paths.append(str(tmp_path / f"digit{i}.png"))
        Image.fromarray(img, mode="L").save(paths[-1])
    for flag, endpoint in (("--rest", rest.url), ("--grpc", grpc_server.target)):
        assert cli.main(["predict", "--model", "mnist_softmax", flag, endpoint] + paths) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert [json.loads(l)["class_id"] for l in lines] == list(local[:2].argmax(-1))


def test_clients_report_an_unknown_model(servers):
    rest, grpc_server = servers
    with pytest.raises(serving_client.ServingError, match="404"):
        serving_client.predict_rest(rest.url, "nope", images=np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(serving_client.ServingError, match="NOT_FOUND"):
        serving_client.predict_grpc(grpc_server.target, "nope",
                                    images=np.zeros((1, 28, 28), np.uint8))
