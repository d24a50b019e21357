"""What TF Serving does with a PredictRequest once it has one: look the signature up by
name, insist the request names exactly the signature's inputs with their dtypes and
shapes, run it, and answer with every output.

The ServabilityCheck gate and the test stand-ins of TF Serving (tests/serving_standins.py)
both call models through `run`, so the gate refuses what a served model would refuse.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Mapping

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from trainer.contract import SERVING_DEFAULT


class PredictError(ValueError):
    """What TF Serving answers as INVALID_ARGUMENT / NOT_FOUND (REST: {"error": ...})."""


def signature(loaded, name: str):
    """The concrete function of signature `name` ("" = serving_default, as in TF Serving)."""
    name = name or SERVING_DEFAULT
    if name not in loaded.signatures:
        raise PredictError(f"Serving signature name: \"{name}\" not found in signature def "
                           f"(has {sorted(loaded.signatures)})")
    return loaded.signatures[name]


def input_specs(fn) -> Dict[str, tf.TensorSpec]:
    """The signature's named inputs (the aliases a request uses)."""
    return dict(fn.structured_input_signature[1])


def request_inputs(request: predict_pb2.PredictRequest) -> Dict[str, np.ndarray]:
    return {k: tf.make_ndarray(v) for k, v in request.inputs.items()}


def run(fn, inputs: Mapping[str, Any]) -> Dict[str, np.ndarray]:
    """Calls signature `fn` with `inputs` (name -> array) as TF Serving's Predict does."""
    specs = input_specs(fn)
    if set(inputs) != set(specs):
        extra, missing = sorted(set(inputs) - set(specs)), sorted(set(specs) - set(inputs))
        raise PredictError(f"input size does not match signature: {len(inputs)}!="
                           f"{len(specs)} len({sorted(specs)}). Sent extra: {extra}. "
                           f"Missing but required: {missing}.")
    tensors = {}
    for name, spec in specs.items():
        value = inputs[name]
        tensor = value if isinstance(value, tf.Tensor) else tf.constant(
            np.asarray(value, dtype=object) if spec.dtype == tf.string
            else np.asarray(value))
        if tensor.dtype != spec.dtype:
            raise PredictError(f"input {name!r}: expects {spec.dtype.name}, "
                               f"{tensor.dtype.name} was provided")
        if not spec.shape.is_compatible_with(tensor.shape):
            raise PredictError(f"input {name!r}: shape {tensor.shape} does not match the "
                               f"signature's {spec.shape}")
        tensors[name] = tensor
    try:
        outputs = fn(**tensors)
    except (tf.errors.OpError, ValueError, TypeError) as e:
        message = _op_message(e.message) if isinstance(e, tf.errors.OpError) else str(e)
        raise PredictError(" ".join(message.split())[:500]) from e
    return {k: v.numpy() for k, v in outputs.items()}


def _op_message(message: str) -> str:
    """The op's own words, as TF Serving's session run reports them: without eager
    execution's "Graph execution error", node and Op-name wrapping."""
    message = re.sub(r"Graph execution error:\s*", "", message)
    message = re.sub(r"Detected at node .*?<stack traces unavailable>", "", message,
                     flags=re.S)
    message = re.sub(r"\[\[\{\{node [^}]*\}\}\]\]|\[Op:[^\]]*\]", "", message)
    return message.strip()


def run_request(loaded, request: predict_pb2.PredictRequest) -> Dict[str, np.ndarray]:
    """A whole PredictRequest (gRPC, or a warm-up record) against a loaded SavedModel."""
    return run(signature(loaded, request.model_spec.signature_name), request_inputs(request))
