"""Transform outputs (graph + transformed gzip TFRecords) built with tf.Transform's Beam
implementation, for Trainer tests that run outside a pipeline."""
import os

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils

from tests.mnist_fixtures import synthetic_digits
from trainer.image.preprocessing import preprocessing_fn


def _raw(images, labels):
    return [{"image": img.reshape(-1).astype(np.int64), "label": np.array([y], np.int64)}
            for img, y in zip(images, labels)]


def write_transform_output(root: str, metadata, preprocessing_fn, train, evals):
    """Analyzes `train`, transforms both splits and writes them as TFX's Transform does:
    the graph (with the raw schema) and gzipped TFRecords per split. Returns
    (transform_graph_dir, train_pattern, eval_pattern)."""
    graph = os.path.join(root, "transform_graph")
    with tft_beam.Context(temp_dir=os.path.join(root, "tmp")):
        (train_xf, meta), transform_fn = (
            (train, metadata) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn))
        eval_xf, _ = ((evals, metadata), transform_fn) | tft_beam.TransformDataset()
        _ = transform_fn | tft_beam.WriteTransformFn(graph)
    # The raw schema, as TFX's Transform writes it: the serving signature parses with it.
    metadata_io.write_metadata(metadata, os.path.join(graph, tft.TFTransformOutput.RAW_METADATA_DIR))
    coder = tft.coders.ExampleProtoCoder(meta.schema)
    patterns = []
    for split, rows in (("train", train_xf), ("eval", eval_xf)):
        folder = os.path.join(root, "transformed", f"Split-{split}")
        os.makedirs(folder)
        with tf.io.TFRecordWriter(os.path.join(folder, "data.gz"), "GZIP") as w:
            for row in rows:
                w.write(coder.encode(row))
        patterns.append(os.path.join(folder, "*"))
    return graph, patterns[0], patterns[1]


def build(root: str, n_train: int = 400, n_eval: int = 100):
    """Returns (transform_graph_dir, train_pattern, eval_pattern)."""
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec({
        "image": tf.io.FixedLenFeature([784], tf.int64),
        "label": tf.io.FixedLenFeature([1], tf.int64)}))
    return write_transform_output(root, metadata, preprocessing_fn,
                                  _raw(*synthetic_digits(n_train, seed=1)),
                                  _raw(*synthetic_digits(n_eval, seed=2)))
