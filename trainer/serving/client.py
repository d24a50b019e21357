"""A TF Serving client for the pushed models: REST (JSON) and gRPC (PredictionService).

Images go to the `serving_images` signature as uint8 pixels; serialized tf.Examples go to
`serving_default`. Both paths return the same structure: one dict per instance with
`class_ids` and `probabilities` (and whatever else the signature outputs).
"""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Dict, List, Sequence

import numpy as np

from trainer.contract import SERVING_DEFAULT, SERVING_IMAGES


class ServingError(RuntimeError):
    pass


def load_images(paths: Sequence[str], size=None, channels: int = 1) -> np.ndarray:
    """Decodes PNG/JPEG files to uint8 [N, H, W] (channels=1) or [N, H, W, 3]."""
    from PIL import Image  # pylint: disable=import-outside-toplevel

    arrays = []
    for path in paths:
        try:
            with Image.open(path) as img:
                img = img.convert("L" if channels == 1 else "RGB")
                if size:
                    img = img.resize((size[1], size[0]))
                arrays.append(np.asarray(img, dtype=np.uint8))
        except OSError as e:
            raise ServingError(f"{path}: not a readable image: {e}") from e
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise ServingError(f"images have different sizes {sorted(shapes)}: pass --size H,W")
    return np.stack(arrays)


def _rows(outputs: Dict[str, np.ndarray]) -> List[dict]:
    n = len(next(iter(outputs.values())))
    return [{k: v[i].tolist() for k, v in outputs.items()} for i in range(n)]


def predict_rest(url: str, model: str, images: np.ndarray | None = None,
                 examples: Sequence[bytes] | None = None, timeout: float = 30.0) -> List[dict]:
    """POST {url}/v1/models/{model}:predict in TF Serving's row ("instances") format."""
    import base64  # pylint: disable=import-outside-toplevel

    if images is not None:
        body = {"signature_name": SERVING_IMAGES, "instances": images.tolist()}
    else:
        # Binary strings travel as {"b64": ...} in TF Serving's JSON API.
        body = {"signature_name": SERVING_DEFAULT,
                "instances": [{"b64": base64.b64encode(e).decode()} for e in examples or []]}
    req = urllib.request.Request(f"{url.rstrip('/')}/v1/models/{model}:predict",
                                 data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        payload = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ServingError(f"{req.full_url}: the answer is not JSON ({e}): "
                           f"{raw[:200]!r}") from e
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace")
        try:  # TF Serving answers errors as {"error": "..."}
            detail = json.loads(body)["error"]
        except (ValueError, KeyError, TypeError):  # anything else: one line of its text
            detail = " ".join(body.split())[:200]
        raise ServingError(f"{req.full_url}: HTTP {e.code}: {detail}") from None
    except urllib.error.URLError as e:
        raise ServingError(f"{req.full_url}: {e.reason}") from e
    except OSError as e:  # the connection broke or timed out while the answer was read
        raise ServingError(f"{req.full_url}: {e}") from e
    if isinstance(payload, dict) and "error" in payload:
        raise ServingError(f"{req.full_url}: {payload['error']}")
    preds = payload.get("predictions") if isinstance(payload, dict) else None
    if not isinstance(preds, list):
        # Not TF Serving's row-format answer (a proxy's page, the columnar "outputs").
        raise ServingError(f"{req.full_url}: the answer has no \"predictions\" list: "
                           f"{json.dumps(payload)[:200]}")
    return preds if preds and isinstance(preds[0], dict) else [{"output": p} for p in preds]


def predict_grpc(target: str, model: str, images: np.ndarray | None = None,
                 examples: Sequence[bytes] | None = None, timeout: float = 30.0) -> List[dict]:
    """PredictionService.Predict over gRPC (tensorflow-serving-api)."""
    import grpc  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from tensorflow_serving.apis import (  # pylint: disable=import-outside-toplevel
        predict_pb2, prediction_service_pb2_grpc)

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    if images is not None:
        request.model_spec.signature_name = SERVING_IMAGES
        request.inputs["images"].CopyFrom(tf.make_tensor_proto(images, dtype=tf.uint8))
    else:
        request.model_spec.signature_name = SERVING_DEFAULT
        request.inputs["examples"].CopyFrom(
            tf.make_tensor_proto(list(examples or []), dtype=tf.string))
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            response = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as e:
            raise ServingError(f"{target}: {e.code().name}: {e.details()}") from e
    return _rows({k: tf.make_ndarray(v) for k, v in response.outputs.items()})
