"""End to end on colour corpora: every registered image model trains through the pipeline
on a small CIFAR-10-format fixture, and a PNG folder corpus (with one corrupt file) is
served with class names."""
import os

import numpy as np
import pytest
import tensorflow as tf

from pipelines import local_runner
from pipelines.config import ImagePipelineConfig
from tests.image_fixtures import colour_images, write_cifar, write_png_folder
from trainer import registry

pytestmark = pytest.mark.e2e


def test_every_image_model_trains_through_the_cifar_pipeline(tmp_path):
    data = write_cifar(str(tmp_path / "cifar"), n_train=120, n_test=40)
    models = registry.names(registry.IMAGE)
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


def test_folder_corpus_counts_skips_and_serves_class_names(tmp_path):
    names = ["cat", "dog", "emu"]
    root = write_png_folder(str(tmp_path / "pets"), names, per_class=30)
    with open(os.path.join(root, "dog", "broken.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not really a png")
    config = ImagePipelineConfig(corpus="folder", models=["softmax"], data_dir=root,
                            workspace=str(tmp_path / "ws"), epochs=8, min_accuracy=0.0,
                            image_shape=(16, 16, 3))
    result = local_runner.run_pipeline(config, echo=lambda line: None)
    assert result.skipped_files() == 1
    summary = local_runner.format_summary(config, result)
    assert "1 file(s) skipped" in summary and "skipped_files.txt" in summary
    pushed = result.models[0].pushed_path
    assert os.path.basename(os.path.dirname(pushed)) == "folder_softmax"
    served = tf.saved_model.load(pushed).signatures["serving_images"]
    x, y = colour_images(30, 3, size=32, seed=5)
    x = tf.image.resize(x, (16, 16), method="bilinear").numpy().round().astype(np.uint8)
    out = served(images=tf.constant(x))
    got = [n.decode() for n in out["class_names"].numpy()]
    ids = out["class_ids"].numpy()
    assert got == [names[i] for i in ids]  # names follow the ids
    assert set(got) <= set(names)
