"""End to end on colour corpora: every registered image model trains through the pipeline
on a small CIFAR-10-format fixture, and a PNG folder corpus (with one corrupt file) is
served with class names."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from pipelines import cli
from pipelines.runners import local as local_runner
from pipelines.image.config import ImagePipelineConfig
from tests.image_fixtures import colour_images, write_cifar, write_png_folder
from tests.serving_standins import GrpcServer, RestServer
from trainer.serving import client as serving_client
from trainer.image import specs

pytestmark = pytest.mark.e2e


def test_every_image_model_trains_through_the_cifar_pipeline(tmp_path):
    data = write_cifar(str(tmp_path / "cifar"), n_train=120, n_test=40)
    models = list(specs.MODELS)
    config = ImagePipelineConfig(corpus="cifar10", models=models, data_dir=data,
                            workspace=str(tmp_path / "ws"), epochs=1, batch_size=40,
                            min_accuracy=0.0)
    result = local_runner.run_pipeline(config, echo=lambda line: None)
    assert result.nodes["CifarExampleGen"].state == "COMPLETE"
    for m in result.models:
        assert result.nodes[f"Trainer.{m.model}"].state == "COMPLETE", m.model
        assert m.training_stats["train_examples"] == 120
        assert m.pushed_path and os.path.dirname(m.pushed_path).endswith(f"cifar10_{m.model}")
        served = tf.saved_model.load(m.pushed_path)
        out = served.signatures["serving_images"](images=tf.zeros([2, 32, 32, 3], tf.uint8))
        assert out["probabilities"].shape == (2, 10), m.model


def _add_class_that_hashes_into_eval(root, name, names, image_shape, wanted=3):
    """Writes images of class `name` (id names.index(name)) that TFX's own hash split
    puts in eval (4:1 buckets, as ImageFolderExampleGen configures it), and no other."""
    from PIL import Image
    from components import image_folder
    from components.image_folder_example_gen import _to_record
    from tfx.components.example_gen.base_example_gen_executor import _PartitionFn
    from tfx.proto import example_gen_pb2

    folder = os.path.join(root, name)
    os.makedirs(folder)
    options = image_folder.FolderOptions.from_shape(image_shape)
    x, _ = colour_images(60, 16, size=32, seed=11)
    kept = 0
    for i, img in enumerate(x):
        path = os.path.join(folder, f"{i}.png")
        Image.fromarray(img).resize((24, 20)).save(path)
        record = _to_record((path, names.index(name)), options, names)
        if _PartitionFn(record, 2, [4, 5], example_gen_pb2.SplitConfig()) == 1 and kept < wanted:
            kept += 1
        else:
            os.remove(path)
    assert kept == wanted


def _label_names(examples_uri, split):
    from tests.example_gen_harness import read_examples
    return {ex.features.feature["label_name"].bytes_list.value[0].decode()
            for ex in read_examples(examples_uri, split)}


NAMES = ["aardvark", "cat", "dog", "emu"]


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    # "aardvark" sorts first (class id 0) and all its images land in the eval split: its
    # name must still be id 0's, and the other classes' names must not shift.
    tmp_path = tmp_path_factory.mktemp("folder")
    names = NAMES
    root = write_png_folder(str(tmp_path / "pets"), names[1:], per_class=30)
    _add_class_that_hashes_into_eval(root, "aardvark", names, (16, 16, 3))
    with open(os.path.join(root, "dog", "broken.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not really a png")
    config = ImagePipelineConfig(corpus="folder", models=["softmax"], data_dir=root,
                            workspace=str(tmp_path / "ws"), epochs=8, min_accuracy=0.0,
                            image_shape=(16, 16, 3))
    return config, local_runner.run_pipeline(config, echo=lambda line: None)


def _served_images():
    x, _ = colour_images(30, 3, size=32, seed=5)
    return tf.image.resize(x, (16, 16), method="bilinear").numpy().round().astype(np.uint8)


def test_folder_corpus_counts_skips_and_serves_class_names(folder_run):
    config, result = folder_run
    names = NAMES
    examples = result.nodes["ImageFolderExampleGen"].outputs["examples"][0].uri
    assert _label_names(examples, "train") == set(names[1:])  # the premise holds
    assert "aardvark" in _label_names(examples, "eval")
    assert result.skipped_files() == 1
    summary = local_runner.format_summary(config, result)
    assert "1 file(s) skipped" in summary and "skipped_files.txt" in summary
    pushed = result.models[0].pushed_path
    assert os.path.basename(os.path.dirname(pushed)) == "folder_softmax"
    served = tf.saved_model.load(pushed).signatures["serving_images"]
    out = served(images=tf.constant(_served_images()))
    got = [n.decode() for n in out["class_names"].numpy()]
    ids = out["class_ids"].numpy()
    assert set(ids) - {0}  # the trained classes are predicted ...
    assert got == [names[i] for i in ids]  # ... under their own names


@pytest.fixture(scope="module")
def servers(folder_run):
    _, result = folder_run
    models = {"folder_softmax": result.models[0].pushed_path}
    rest, grpc_server = RestServer(models), GrpcServer(models)
    yield {"--rest": rest.url, "--grpc": grpc_server.target}
    rest.close()
    grpc_server.close()


@pytest.mark.parametrize("flag", ["--rest", "--grpc"])
def test_predict_prints_the_class_names_the_served_model_answers(folder_run, servers, flag,
                                                                 tmp_path, capsys):
    from PIL import Image
    _, result = folder_run
    images = _served_images()[:6]
    want = tf.saved_model.load(result.models[0].pushed_path).signatures["serving_images"](
        images=tf.constant(images))
    # Every signature answered the ServabilityCheck before the push.
    blessing = result.nodes["ServabilityCheck.softmax"].outputs["blessing"][0]
    assert blessing.custom_properties["blessed"].int_value == 1
    # The class names travel over REST as JSON strings, over gRPC as string tensors.
    by_client = (serving_client.predict_rest(servers[flag], "folder_softmax", images=images)
                 if flag == "--rest" else
                 serving_client.predict_grpc(servers[flag], "folder_softmax", images=images))
    assert [p["class_names"] for p in by_client] == [
        n.decode() for n in want["class_names"].numpy()]
    paths = []
    for i, img in enumerate(images):
        paths.append(str(tmp_path / f"pet{i}.png"))
        Image.fromarray(img).save(paths[-1])
    assert cli.main(["predict", "--model", "folder_softmax", flag, servers[flag],
                     "--channels", "3"] + paths) == 0
    lines = [json.loads(l) for l in capsys.readouterr().out.strip().splitlines()]
    assert [l["input"] for l in lines] == paths
    assert [l["class_id"] for l in lines] == want["class_ids"].numpy().tolist()
    assert [l["class_name"] for l in lines] == [n.decode() for n in want["class_names"].numpy()]
    assert {l["class_name"] for l in lines} <= set(NAMES)
    np.testing.assert_allclose([l["probability"] for l in lines],
                               want["probabilities"].numpy().max(-1), atol=1e-4)
