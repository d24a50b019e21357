"""trainer/epoch_log.py: the epoch and phase lines every Trainer logs, and their Keras callbacks."""
import logging

import numpy as np
import pytest
import tensorflow as tf

from trainer import epoch_log


def test_epoch_line_format_matches_its_pattern():
    line = epoch_log.epoch_line(3, 12, {"loss": 0.31214, "val_accuracy": 0.9}, 2.06)
    assert line == "epoch 3/12: loss 0.3121, val_accuracy 0.9000 (2.1s)"
    assert epoch_log.EPOCH_LINE.match(line)
    assert not epoch_log.EPOCH_LINE.match("Epoch 3/12")  # Keras' own stdout line


def test_keras_fit_logs_one_absl_line_per_epoch_with_its_metrics():
    x = np.random.RandomState(0).rand(64, 4).astype("float32")
    y = (x.sum(axis=1) > 2).astype("int64")
    model = tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(4,))])
    model.compile("sgd", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    fitted = []
    messages = _absl_messages(lambda: fitted.append(model.fit(
        x, y, epochs=2, batch_size=16, validation_data=(x, y), verbose=0,
        callbacks=[epoch_log.EpochLogger(2)])))
    history = fitted[0]
    lines = [m for m in messages if epoch_log.EPOCH_LINE.match(m)]
    assert [l.split(":")[0] for l in lines] == ["epoch 1/2", "epoch 2/2"]
    assert f"loss {history.history['loss'][1]:.4f}" in lines[1]
    assert f"val_accuracy {history.history['val_accuracy'][1]:.4f}" in lines[1]


def _absl_messages(run):
    """absl records' messages while `run()` runs."""
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    absl_logger = logging.getLogger("absl")
    saved = absl_logger.level
    absl_logger.addHandler(handler)
    absl_logger.setLevel(logging.INFO)
    try:
        run()
    finally:
        absl_logger.removeHandler(handler)
        absl_logger.setLevel(saved)
    return [r.getMessage() for r in records]


def test_phase_line_format_matches_its_pattern():
    line = epoch_log.phase_line("export", 2.06, "SavedModel")
    assert line == "phase export: 2.1s (SavedModel)"
    assert epoch_log.PHASE_LINE.match(line).groups() == ("export", "2.1")
    assert not epoch_log.EPOCH_LINE.match(line)
    assert epoch_log.phase_line("export", 0.04) == "phase export: 0.0s"


def test_phases_log_each_as_it_ends_and_add_up_to_the_whole():
    phases = epoch_log.Phases(("a", "b", "c"))
    lines = _absl_messages(lambda: (phases.end("a"), phases.end("b", "note")))
    assert [epoch_log.PHASE_LINE.match(l).group(1) for l in lines] == ["a", "b"]
    assert lines[1].endswith("(note)")
    assert list(phases.seconds) == ["a", "b", "c"] and phases.seconds["c"] == 0.0
    assert 0 <= sum(phases.seconds.values()) <= phases.total()
    with pytest.raises(KeyError, match="unknown phase 'd'"):
        phases.end("d")


def test_epoch_phases_end_the_first_epoch_and_the_steady_ones_during_fit():
    x = np.random.RandomState(0).rand(64, 4).astype("float32")
    y = (x.sum(axis=1) > 2).astype("int64")
    model = tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(4,))])
    model.compile("sgd", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    phases = epoch_log.Phases(("first_epoch", "steady_epochs"))
    lines = _absl_messages(lambda: model.fit(
        x, y, epochs=3, batch_size=16, verbose=0,
        callbacks=[epoch_log.EpochLogger(3), epoch_log.EpochPhases(phases)]))
    # The first phase ends right after epoch 1's own line, the steady one after the last.
    assert [l.split(":")[0] for l in lines] == [
        "epoch 1/3", "phase first_epoch", "epoch 2/3", "epoch 3/3", "phase steady_epochs"]
    assert lines[-1].endswith("(2 epoch(s))")
    assert all(s > 0 for s in phases.seconds.values())
