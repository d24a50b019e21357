"""ServabilityCheck: a Kubeflow-compilable stand-in for InfraValidator.

TFX's InfraValidator cannot be compiled by the Kubeflow V2 runner, so this component
does the part of its job that needs no model server: it loads the candidate SavedModel
the way TF Serving does (`tf.saved_model.load`), sends every signature one request the
way TF Serving's Predict would (trainer/serving/predict.py: exactly the signature's
inputs, their dtypes and shapes), checks the outputs are finite and batched like the
request, and then stamps a copy of the model with those requests as TF Serving warm-up
records (`assets.extra/tf_serving_warmup_requests`). A signature that fails refuses the
model, by name. Like InfraValidator with `make_warmup`, its `InfraBlessing` output carries
that stamped model, and the stock Pusher pushes it from there.

Requests are built from real eval examples where the signature's inputs allow it (the
`examples` string input takes them serialized, a uint8 input their `image` pixels);
other signatures (text models' `sentences`, `prefix` and `k`, ...) get the request the
export wrote for them as a warm-up record.
"""
# No `from __future__ import annotations`: @component reads the annotations at runtime.

import os
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from absl import logging
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2
# TFX's own modules, not tfx.v1 (which re-exports them): importing tfx.v1 loads its
# Google Cloud extensions, about 3.5 s in every container that runs these executors.
from tfx.dsl.component.experimental.annotations import (InputArtifact, OutputArtifact,
                                                        Parameter)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts

from trainer.contract import EXAMPLES_INPUT, IMAGE_KEY, SERVING_DEFAULT
from trainer.serving import predict as tf_predict
from trainer.serving.warmup import WARMUP_DIR, WARMUP_FILE, read_warmup, write_warmup

STAMPED_MODEL_DIR = "stamped_model"  # where Pusher looks in an InfraBlessing (path_utils)


class ServabilityError(RuntimeError):
    pass


def read_eval_examples(examples_uri: str, split: str, count: int) -> List[bytes]:
    files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    if not files:
        raise ServabilityError(f"{examples_uri}: no files in split {split!r}")
    ds = tf.data.TFRecordDataset(sorted(files), compression_type="GZIP").take(count)
    return [r.numpy() for r in ds]


def _pixels(serialized: List[bytes], spec: tf.TensorSpec) -> Optional[np.ndarray]:
    """The examples' `image` pixels in the input's shape, or None if they do not fit it."""
    rows = []
    for record in serialized:
        feature = tf.train.Example.FromString(record).features.feature
        if IMAGE_KEY not in feature:
            return None
        rows.append(feature[IMAGE_KEY].int64_list.value)
    shape = spec.shape[1:]
    if not shape.is_fully_defined() or any(len(r) != shape.num_elements() for r in rows):
        return None
    return np.asarray(rows, np.int64).reshape([len(rows)] + shape.as_list()).astype(np.uint8)


def inputs_from_examples(fn, serialized: List[bytes]) -> Optional[Dict[str, np.ndarray]]:
    """Inputs for signature `fn` made of the eval examples, or None if some input is
    neither the serialized examples nor their pixels."""
    inputs = {}
    for name, spec in tf_predict.input_specs(fn).items():
        if name == EXAMPLES_INPUT and spec.dtype == tf.string:
            inputs[name] = np.array(serialized, dtype=object)
        elif spec.dtype == tf.uint8 and spec.shape.rank and spec.shape.rank >= 2:
            pixels = _pixels(serialized, spec)
            if pixels is None:
                return None
            inputs[name] = pixels
        else:
            return None
    return inputs


def _request(model_name: str, signature: str, inputs) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest(
        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def build_requests(model_dir: str, loaded, model_name: str,
                   serialized: List[bytes]) -> Dict[str, predict_pb2.PredictRequest]:
    """One PredictRequest per signature of the SavedModel (see the module docstring)."""
    exported = {}
    if tf.io.gfile.exists(os.path.join(model_dir, WARMUP_DIR, WARMUP_FILE)):
        for log in read_warmup(model_dir):
            request = log.predict_log.request
            exported.setdefault(request.model_spec.signature_name, request)
    requests = {}
    for signature in sorted(loaded.signatures):
        inputs = inputs_from_examples(loaded.signatures[signature], serialized)
        if inputs is not None:
            requests[signature] = _request(model_name, signature, inputs)
        elif signature in exported:
            request = predict_pb2.PredictRequest()
            request.CopyFrom(exported[signature])
            request.model_spec.name = model_name
            requests[signature] = request
        else:
            specs = tf_predict.input_specs(loaded.signatures[signature])
            raise ServabilityError(
                f"{model_dir}: no request can be built for signature {signature!r} (inputs "
                f"{ {k: f'{v.dtype.name}{v.shape}' for k, v in specs.items()} } are not "
                f"eval examples or their pixels, and the export wrote no warm-up request "
                f"for it)")
    return requests


def check_request(loaded, request: predict_pb2.PredictRequest) -> Dict[str, np.ndarray]:
    """Sends `request` as TF Serving would; raises ServabilityError naming the signature."""
    signature = request.model_spec.signature_name
    try:
        outputs = tf_predict.run_request(loaded, request)
    except tf_predict.PredictError as e:
        raise ServabilityError(f"signature {signature!r} failed: {e}") from e
    batched = [v for v in tf_predict.request_inputs(request).values() if v.ndim]
    n = len(batched[0]) if batched else None
    for name, value in outputs.items():
        if value.ndim == 0 or (n is not None and value.shape[0] != n):
            raise ServabilityError(f"signature {signature!r}: output {name!r} has shape "
                                   f"{list(value.shape)}, not a batch of {n}")
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ServabilityError(f"signature {signature!r}: output {name!r} is not finite")
    return outputs


def check_model(model_dir: str, model_name: str,
                serialized: List[bytes]) -> Dict[str, predict_pb2.PredictRequest]:
    """Calls every signature of the SavedModel once; returns the requests that passed.
    Raises ServabilityError on anything unservable."""
    try:
        loaded = tf.saved_model.load(model_dir)
    except Exception as e:  # pylint: disable=broad-except
        raise ServabilityError(f"{model_dir}: SavedModel does not load: {e}") from e
    if SERVING_DEFAULT not in loaded.signatures:
        # TF Serving calls it for every request that names no signature.
        raise ServabilityError(f"{model_dir}: no signature {SERVING_DEFAULT!r} "
                               f"(has {sorted(loaded.signatures)})")
    requests = build_requests(model_dir, loaded, model_name, serialized)
    for request in requests.values():
        try:
            check_request(loaded, request)
        except ServabilityError as e:
            raise ServabilityError(f"{model_dir}: {e}") from e
    return requests


def warmup_logs(requests: Dict[str, predict_pb2.PredictRequest],
                ) -> List[prediction_log_pb2.PredictionLog]:
    return [prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=requests[name]))
        for name in sorted(requests)]


def stamp_model(model_dir: str, stamped_dir: str,
                logs: List[prediction_log_pb2.PredictionLog]) -> str:
    """Copies the SavedModel and writes the warm-up TFRecord into its assets.extra/
    (replacing any the export wrote: the checked requests include theirs)."""
    tmp = stamped_dir + ".tmp"
    if tf.io.gfile.exists(tmp):
        tf.io.gfile.rmtree(tmp)
    for src_dir, _, files in tf.io.gfile.walk(model_dir):
        rel = os.path.relpath(src_dir, model_dir)
        dst_dir = os.path.join(tmp, rel) if rel != "." else tmp
        tf.io.gfile.makedirs(dst_dir)
        for f in files:
            tf.io.gfile.copy(os.path.join(src_dir, f), os.path.join(dst_dir, f), overwrite=True)
    write_warmup(tmp, logs)
    tf.io.gfile.rename(tmp, stamped_dir, overwrite=True)
    return stamped_dir


@component
def ServabilityCheck(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    blessing: OutputArtifact[standard_artifacts.InfraBlessing],
    serving_model_name: Parameter[str],
    num_examples: Parameter[int] = 8,
    split: Parameter[str] = "eval",
) -> None:
    """Blesses the model for serving only if every signature answers a request."""
    model_dir = os.path.join(model.uri, "Format-Serving")
    if not tf.io.gfile.exists(model_dir):
        model_dir = model.uri
    try:
        serialized = read_eval_examples(examples.uri, split, num_examples)
        requests = check_model(model_dir, serving_model_name, serialized)
        stamp_model(model_dir, os.path.join(blessing.uri, STAMPED_MODEL_DIR),
                    warmup_logs(requests))
    except ServabilityError as e:
        logging.error("ServabilityCheck: NOT blessed: %s", e)
        blessing.set_int_custom_property("blessed", 0)
        blessing.set_int_custom_property("has_model", 0)
        blessing.set_string_custom_property("reason", str(e))
        return
    logging.info("ServabilityCheck: signatures %s answered; warm-up written",
                 ", ".join(sorted(requests)))
    blessing.set_int_custom_property("blessed", 1)
    blessing.set_int_custom_property("has_model", 1)  # Pusher pushes the stamped copy
