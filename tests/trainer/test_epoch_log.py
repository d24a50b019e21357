"""trainer/epoch_log.py: the one epoch line every Trainer logs, and the Keras callback."""
import logging

import numpy as np
import tensorflow as tf

from trainer import epoch_log


def test_epoch_line_format_matches_its_pattern():
    line = epoch_log.epoch_line(3, 12, {"loss": 0.31214, "val_accuracy": 0.9}, 2.06)
    assert line == "epoch 3/12: loss 0.3121, val_accuracy 0.9000 (2.1s)"
    assert epoch_log.EPOCH_LINE.match(line)
    assert not epoch_log.EPOCH_LINE.match("Epoch 3/12")  # Keras' own stdout line


def test_keras_fit_logs_one_absl_line_per_epoch_with_its_metrics():
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    absl_logger = logging.getLogger("absl")
    saved = absl_logger.level
    absl_logger.addHandler(handler)
    absl_logger.setLevel(logging.INFO)
    try:
        x = np.random.RandomState(0).rand(64, 4).astype("float32")
        y = (x.sum(axis=1) > 2).astype("int64")
        model = tf.keras.Sequential([tf.keras.layers.Dense(2, input_shape=(4,))])
        model.compile("sgd", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, batch_size=16, validation_data=(x, y),
                            verbose=0, callbacks=[epoch_log.EpochLogger(2)])
    finally:
        absl_logger.removeHandler(handler)
        absl_logger.setLevel(saved)
    lines = [r.getMessage() for r in records if epoch_log.EPOCH_LINE.match(r.getMessage())]
    assert [l.split(":")[0] for l in lines] == ["epoch 1/2", "epoch 2/2"]
    assert f"loss {history.history['loss'][1]:.4f}" in lines[1]
    assert f"val_accuracy {history.history['val_accuracy'][1]:.4f}" in lines[1]
