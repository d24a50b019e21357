"""TF Serving warm-up records: `assets.extra/tf_serving_warmup_requests` in a SavedModel.

TF Serving replays these PredictionLog records when it loads a version, so the first real
request does not pay for graph initialisation.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from trainer.contract import EXAMPLES_INPUT

WARMUP_DIR = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"


def warmup_log(model_name: str, signature: str, serialized: Optional[List[bytes]] = None,
               inputs: Optional[Dict[str, Any]] = None) -> prediction_log_pb2.PredictionLog:
    """One warm-up record: a PredictRequest for `signature` with either serialized
    tf.Examples (the `examples` input) or the given named inputs."""
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
    for name, value in (inputs or {EXAMPLES_INPUT: np.array(serialized, dtype=object)}).items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))


def write_warmup(model_dir: str, logs: List[prediction_log_pb2.PredictionLog]) -> str:
    """Writes `<model_dir>/assets.extra/tf_serving_warmup_requests` (a TFRecord of logs)."""
    tf.io.gfile.makedirs(os.path.join(model_dir, WARMUP_DIR))
    path = os.path.join(model_dir, WARMUP_DIR, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for log in logs:
            writer.write(log.SerializeToString())
    return path


def read_warmup(model_dir: str) -> List[prediction_log_pb2.PredictionLog]:
    """The warm-up records of a SavedModel folder, in file order."""
    path = os.path.join(model_dir, WARMUP_DIR, WARMUP_FILE)
    return [prediction_log_pb2.PredictionLog.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(path)]
