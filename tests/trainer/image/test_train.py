"""trainer/image/train.py in this process: the phases every run logs and writes into its
stats; and AutoGraph leaving Keras' and tf.Transform's code as written (trainer/tf_env.py)
while still converting the model's own layers."""
import json
import logging
import os

import absl.logging
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from tests import transformed_fixtures
from trainer import epoch_log, tf_env
from trainer.contract import STATS_FILE
from trainer.image import data, train as image_train


@pytest.fixture(scope="module", autouse=True)
def absl_logger_kept():
    """Puts absl's logger back as it was: tf.saved_model.save (here and in tf.Transform)
    resets it to absl's verbosity, and later tests read INFO lines through it."""
    absl_logger = logging.getLogger("absl")
    saved = absl.logging.get_verbosity(), absl_logger.level
    yield
    absl.logging.set_verbosity(saved[0])
    absl_logger.setLevel(saved[1])


@pytest.fixture(scope="module")
def xf(tmp_path_factory):
    """(transform graph, train pattern, eval pattern) of 200 + 50 transformed digits."""
    return transformed_fixtures.build(str(tmp_path_factory.mktemp("xf")), n_train=200,
                                      n_eval=50)


@pytest.fixture(scope="module")
def trained(xf, tmp_path_factory):
    """(absl messages, training stats) of one softmax run."""
    graph, train_files, eval_files = xf
    out = tmp_path_factory.mktemp("trainer")
    args = FnArgs(train_files=[train_files], eval_files=[eval_files], transform_output=graph,
                  serving_model_dir=str(out / "serving"), model_run_dir=str(out / "model_run"),
                  custom_config={"model": "softmax", "image_shape": [28, 28, 1],
                                 "num_classes": 10, "epochs": 3, "batch_size": 20,
                                 "backup_dir": str(out / "backup")})
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    absl_logger = logging.getLogger("absl")
    absl_logger.addHandler(handler)
    # Through absl's own setting, which tf.saved_model.save sets its logger back to.
    absl.logging.set_verbosity(absl.logging.INFO)
    try:
        image_train.train(args)
    finally:
        absl_logger.removeHandler(handler)
    with open(os.path.join(args.model_run_dir, STATS_FILE)) as f:
        return [r.getMessage() for r in records], json.load(f)


def _phases_logged(lines):
    return [m.group(1) for m in map(epoch_log.PHASE_LINE.match, lines) if m]


def test_every_phase_is_logged_once_as_it_ends(trained):
    lines, _ = trained
    assert _phases_logged(lines) == list(image_train.PHASES)
    # Nothing after the last epoch goes unlogged: each later stretch ends with its line.
    last_epoch = max(i for i, line in enumerate(lines) if epoch_log.EPOCH_LINE.match(line))
    assert _phases_logged(lines[last_epoch:]) == [
        "steady_epochs", "train_end", "keras_save", "export"]
    first_epoch = next(i for i, line in enumerate(lines) if epoch_log.EPOCH_LINE.match(line))
    assert _phases_logged(lines[first_epoch:first_epoch + 2]) == ["first_epoch"]


def test_stats_break_the_run_into_its_phases(trained):
    _, stats = trained
    phases = stats["phase_seconds"]
    assert list(phases) == list(image_train.PHASES)
    assert all(phases[p] > 0 for p in ("input_start", "first_epoch", "steady_epochs", "export"))
    assert all(s >= 0 for s in phases.values())
    # The phases tile the run: fit lies within the epoch phases, all within the total.
    assert stats["fit_seconds"] <= (phases["first_epoch"] + phases["steady_epochs"]
                                    + phases["train_end"])
    assert sum(phases.values()) <= stats["trainer_seconds"]
    assert stats["train_examples"] == 200  # counted from the records, not parsed


def test_training_datasets_start_no_autotune_thread(xf):
    # Its cancellation can be missed when fit destroys the iterator: a wait of up to 60 s.
    graph, train_files, _ = xf
    ds = data.image_dataset([train_files], tft.TFTransformOutput(graph), [28, 28, 1], 20,
                            shuffle=True)
    assert ds.options().autotune.enabled is False
    assert data.count_examples([train_files]) == 200


def test_autograph_leaves_library_code_alone_but_converts_the_models_layers():
    from tensorflow.python.autograph.core import config
    from tensorflow.python.autograph.impl import conversion
    from tensorflow_transform import output_wrapper

    tf_env.keep_autograph_out_of_libraries()
    tf_env.keep_autograph_out_of_libraries()
    rules = [str(rule) for rule in config.CONVERSION_RULES]
    assert all(rules.count(f"DoNotConvert rule for {library}") == 1
               for library in tf_env.AUTOGRAPH_SKIPS)
    assert conversion.is_allowlisted(tf.keras.Model.train_step)
    assert conversion.is_allowlisted(output_wrapper.TransformFeaturesLayer.call)

    class ScaleDown(tf.keras.layers.Layer):
        def call(self, x):
            if tf.reduce_max(x) > 1.0:  # a Python `if` on a tensor: needs AutoGraph in fit
                x = x / tf.reduce_max(x)
            return x

    model = tf.keras.Sequential([tf.keras.Input((4,)), ScaleDown(), tf.keras.layers.Dense(2)])
    model.compile("sgd", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = np.random.RandomState(0).rand(32, 4).astype("float32") * 3
    history = model.fit(x, (x.sum(axis=1) > 6).astype("int64"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
