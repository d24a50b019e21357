"""preprocessing_fn through tf.Transform's Beam implementation."""
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from trainer.image.preprocessing import preprocessing_fn


def test_scales_pixels_to_unit_range_and_keeps_labels(tmp_path):
    raw = [
        {"image": [0, 255] + [128] * 782, "label": [7]},
        {"image": [255] * 784, "label": [3]},
        {"image": [0] * 784, "label": [0]},
    ]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec({
        "image": tf.io.FixedLenFeature([784], tf.int64),
        "label": tf.io.FixedLenFeature([1], tf.int64),
    }))
    with tft_beam.Context(temp_dir=str(tmp_path)):
        (out, out_meta), transform_fn = (
            (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn))
    out = sorted(out, key=lambda r: int(r["label"]))
    assert [int(r["label"]) for r in out] == [0, 3, 7]
    np.testing.assert_allclose(out[0]["image"], np.zeros(784))
    np.testing.assert_allclose(out[1]["image"], np.ones(784))
    np.testing.assert_allclose(out[2]["image"][:3], [0.0, 1.0, 128 / 255.0], rtol=1e-6)
    spec = out_meta.schema
    feature_spec = schema_utils.schema_as_feature_spec(spec).feature_spec
    assert feature_spec["image"].dtype == tf.float32 and feature_spec["image"].shape == [784]
    assert feature_spec["label"].shape == []  # scalar label for the Keras loss

    # The saved transform graph (what gets embedded in the served model) does the same.
    transform_dir = str(tmp_path / "tft")
    _ = transform_fn | tft_beam.WriteTransformFn(transform_dir)
    layer = tft.TFTransformOutput(transform_dir).transform_features_layer()
    got = layer({"image": tf.constant([[255] * 784], tf.int64)})
    np.testing.assert_allclose(got["image"].numpy(), np.ones((1, 784)))
