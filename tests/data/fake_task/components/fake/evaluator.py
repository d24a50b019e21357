"""Blesses a line whose f(3) is within the bar of 7 (the data follow y = 2x + 1)."""
import json
import os

import tensorflow as tf
from tfx import v1 as tfx
from tfx.types import standard_artifacts

METRICS_FILE = "metrics.json"


@tfx.dsl.components.component
def LineEvaluator(  # pylint: disable=invalid-name
        examples: tfx.dsl.components.InputArtifact[standard_artifacts.Examples],
        model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
        baseline_model: tfx.dsl.components.InputArtifact[standard_artifacts.Model],
        evaluation: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelEvaluation],
        blessing: tfx.dsl.components.OutputArtifact[standard_artifacts.ModelBlessing],
        max_error: tfx.dsl.components.Parameter[float] = 0.5):
    del examples, baseline_model
    loaded = tf.saved_model.load(os.path.join(model.uri, "Format-Serving"))
    y = loaded.signatures["serving_default"](x=tf.constant([[3.0]]))["y"]
    error = abs(float(y.numpy().ravel()[0]) - 7.0)
    with tf.io.gfile.GFile(os.path.join(evaluation.uri, METRICS_FILE), "w") as f:
        json.dump({"error": error}, f)
    blessing.set_int_custom_property("blessed", int(error <= max_error))


def read_metrics(evaluation_uri: str):
    with tf.io.gfile.GFile(os.path.join(evaluation_uri, METRICS_FILE)) as f:
        return json.load(f)
