"""End to end: the MNIST pipeline with LocalDagRunner on a few hundred real digits, twice."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from pipelines import cli
from pipelines.runners import local as local_runner
from pipelines.image.config import ImagePipelineConfig
from tests.mnist_fixtures import real_digits, write_mnist
from tests.serving_standins import GrpcServer, RestServer
from trainer.contract import KERAS_FILE, image_example
from trainer.serving import client as serving_client
from trainer.serving import predict as tf_predict

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


def test_second_run_reuses_cache_and_is_compared_with_the_served_version(two_runs):
    _, first, second, _, _ = two_runs
    for node in ["MnistExampleGen", "StatisticsGen", "Transform", "Trainer.softmax"]:
        assert second.nodes[node].state == "CACHED", node
    # First run: nothing in service, judged on the absolute bar alone.
    empty = first.nodes["ServingBaseline.softmax"].outputs["model"][0]
    assert empty.custom_properties["has_model"].int_value == 0
    assert first.models[0].baseline_uri is None and first.models[0].served_version is None
    # Second run: the baseline is read again (never cached) and is a copy of the
    # version the first run pushed, which the Evaluator compared with.
    assert second.nodes["ServingBaseline.softmax"].state == "COMPLETE"
    pushed = first.models[0].pushed_path
    copy = second.nodes["ServingBaseline.softmax"].outputs["model"][0]
    assert copy.custom_properties["served_version"].int_value == int(os.path.basename(pushed))
    assert copy.custom_properties["source"].string_value == pushed
    assert second.nodes["Evaluator.softmax"].inputs["baseline_model"][0].uri == copy.uri
    assert second.models[0].baseline_uri == copy.uri
    assert second.models[0].served_version == int(os.path.basename(pushed))
    with open(os.path.join(pushed, "saved_model.pb"), "rb") as a, \
            open(os.path.join(copy.uri, "Format-Serving", "saved_model.pb"), "rb") as b:
        assert a.read() == b.read()
    assert second.models[0].blessed  # the same model does not fall below itself
    assert "accuracy_change" in second.models[0].metrics  # the change threshold applied


def test_pushed_model_carries_warmup_requests_that_replay(two_runs):
    _, first, _, _, _ = two_runs
    pushed = first.models[0].pushed_path
    warmup = os.path.join(pushed, "assets.extra", "tf_serving_warmup_requests")
    served = tf.saved_model.load(pushed)
    records = list(tf.data.TFRecordDataset(warmup))
    replayed = set()
    for record in records:
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        assert request.model_spec.name == "mnist_softmax"
        out = tf_predict.run_request(served, request)
        (batch,) = {len(v) for v in tf_predict.request_inputs(request).values()}
        assert out["probabilities"].shape == (batch, 10)
        replayed.add(request.model_spec.signature_name)
    # The ServabilityCheck called every signature, and each one's request is a record.
    assert replayed == set(served.signatures) == {"serving_default", "serving_images"}


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


# ------------------------------------------------------------- the Evaluator says no
def _versions(config):
    """The version folders in the TF Serving repository of the softmax model."""
    base = os.path.join(config.serving_root, "mnist_softmax")
    return sorted(os.listdir(base)) if os.path.isdir(base) else []


@pytest.fixture(scope="module")
def gated_runs(tmp_path_factory):
    """Three runs in one workspace: (a) a model below the absolute bar, (b) the same model
    with a bar it clears, (c) a worse recipe (one step of SGD at lr 0.5 on a batch of
    400: about 0.2-0.3 accuracy against about 0.83) with a bar it clears. Returns
    [(config, report, version folders after the run)]."""
    root = tmp_path_factory.mktemp("gates")
    (train_x, train_y), (test_x, test_y) = real_digits(400, 120)
    data = write_mnist(str(root / "data"), train_x, train_y, "train")
    write_mnist(data, test_x, test_y, "t10k")
    base = dict(corpus="mnist", models=["softmax"], data_dir=data,
                workspace=str(root / "ws"))
    runs = []
    for settings in (dict(epochs=4, min_accuracy=0.99), dict(epochs=4, min_accuracy=0.5),
                     dict(epochs=1, batch_size=400, min_accuracy=0.05)):
        config = ImagePipelineConfig(**base, **settings)
        result = local_runner.run_pipeline(config, echo=lambda _: None)
        runs.append((config, result, _versions(config)))
    return runs


def test_a_model_below_the_absolute_bar_is_refused_and_not_pushed(gated_runs):
    _, result, versions = gated_runs[0]
    model = result.models[0]
    assert 0.5 < model.metrics["accuracy"] < 0.99
    assert model.blessed is False and model.pushed_path is None
    assert versions == []  # nothing reached the serving repository
    assert result.nodes["Pusher.softmax"].state == "COMPLETE"  # it ran, and declined


def test_the_same_model_clearing_the_bar_is_pushed(gated_runs):
    _, result, versions = gated_runs[1]
    model = result.models[0]
    assert model.blessed and model.pushed_path
    assert versions == [os.path.basename(model.pushed_path.rstrip("/"))]


def test_a_model_worse_than_the_one_in_service_is_refused_and_not_pushed(gated_runs):
    _, served_run, served_versions = gated_runs[1]
    _, result, versions = gated_runs[2]
    model = result.models[0]
    assert result.nodes["Trainer.softmax"].state == "COMPLETE"  # retrained, not cached
    # It clears the absolute bar; the comparison with the served model refuses it.
    assert 0.05 <= model.metrics["accuracy"] < served_run.models[0].metrics["accuracy"]
    assert model.metrics["accuracy_change"] < 0
    assert model.blessed is False and model.pushed_path is None
    assert versions == served_versions  # the version in service stays, no new one
