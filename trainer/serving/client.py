"""A TF Serving client for the pushed models: REST (JSON) and gRPC (PredictionService).

Images go to the `serving_images` signature as uint8 pixels; serialized tf.Examples go to
`serving_default`. Both paths return the same structure: one dict per instance with
`class_ids` and `probabilities` (and `class_names`, as str, for folder corpora).

`Endpoint` asks a served model which signatures it has (TF Serving's model metadata) and
calls any of them with named inputs; `next_words` and `nearest` call the language models'
and word2vec's signatures of those names.
"""
from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from trainer.contract import (NEAREST_SIGNATURE, NEXT_WORDS_SIGNATURE, SERVING_DEFAULT,
                               SERVING_IMAGES)


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


def _text(value):
    """Strings as str, whichever transport brought them: gRPC gives bytes, REST JSON
    strings, or {"b64": ...} for outputs named `*_bytes` (bytes are left as bytes)."""
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def _json_input(value):
    """Binary strings travel as {"b64": ...} in TF Serving's JSON API; text as strings."""
    if isinstance(value, list):
        return [_json_input(v) for v in value]
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    return value


def _rows(outputs: Dict[str, np.ndarray]) -> List[dict]:
    n = len(next(iter(outputs.values())))
    return [{k: _text(np.asarray(v[i]).tolist()) for k, v in outputs.items()} for i in range(n)]


def predict_rest(url: str, model: str, images: np.ndarray | None = None,
                 examples: Sequence[bytes] | None = None, timeout: float = 30.0) -> List[dict]:
    """POST {url}/v1/models/{model}:predict in TF Serving's row ("instances") format."""
    if images is not None:
        body = {"signature_name": SERVING_IMAGES, "instances": images.tolist()}
    else:
        # Binary strings travel as {"b64": ...} in TF Serving's JSON API.
        body = {"signature_name": SERVING_DEFAULT,
                "instances": _json_input(list(examples or []))}
    url = f"{url.rstrip('/')}/v1/models/{model}:predict"
    payload = _rest_json(url, body, timeout)
    preds = payload.get("predictions") if isinstance(payload, dict) else None
    if not isinstance(preds, list):
        # Not TF Serving's row-format answer (a proxy's page, the columnar "outputs").
        raise ServingError(f"{url}: the answer has no \"predictions\" list: "
                           f"{json.dumps(payload)[:200]}")
    rows = preds if preds and isinstance(preds[0], dict) else [{"output": p} for p in preds]
    return [{k: _text(v) for k, v in row.items()} for row in rows]


def _rest_json(url: str, body: dict | None, timeout: float):
    """POSTs `body` (GET if None) and returns the JSON answer; TF Serving's {"error": ...}
    answers, HTTP errors and anything that is not JSON are one ServingError each."""
    if not url.startswith(("http://", "https://")):  # e.g. host:port, gRPC's form
        raise ServingError(f"{url}: not an http:// or https:// URL; REST wants e.g. "
                           "http://localhost:8501")
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    raw = b""
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        payload = json.loads(raw)
    except ValueError as e:  # not JSON, or not UTF-8 text at all
        raise ServingError(f"{url}: the answer is not JSON ({e}): {raw[:200]!r}") from e
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        try:  # TF Serving answers errors as {"error": "..."}
            detail = json.loads(text)["error"]
        except (ValueError, KeyError, TypeError):  # anything else: one line of its text
            detail = " ".join(text.split())[:200]
        raise ServingError(f"{url}: HTTP {e.code}: {detail}") from None
    except urllib.error.URLError as e:
        raise ServingError(f"{url}: {e.reason}") from e
    except OSError as e:  # the connection broke or timed out while the answer was read
        raise ServingError(f"{url}: {e}") from e
    if isinstance(payload, dict) and "error" in payload:
        raise ServingError(f"{url}: {payload['error']}")
    return payload


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


class Endpoint:
    """One served model over REST (`rest` = http://host:8501) or gRPC (`grpc` =
    host:8500): its signatures, and calls to any of them with named inputs."""

    def __init__(self, model: str, rest: str | None = None, grpc: str | None = None,
                 timeout: float = 30.0):
        if bool(rest) == bool(grpc):
            raise ValueError("give exactly one of a REST URL or a gRPC address")
        self.model, self.rest, self.grpc, self.timeout = model, rest, grpc, timeout
        self.where = rest.rstrip("/") if rest else grpc

    def signatures(self) -> Dict[str, Dict[str, List[str]]]:
        """{signature: {"inputs": [names], "outputs": [names]}} from the model's metadata
        (TF Serving's GetModelMetadata; internal `__...` entries left out)."""
        from google.protobuf import json_format  # pylint: disable=import-outside-toplevel
        from tensorflow_serving.apis import (  # pylint: disable=import-outside-toplevel
            get_model_metadata_pb2)

        defs = get_model_metadata_pb2.SignatureDefMap()
        if self.rest:
            url = f"{self.where}/v1/models/{self.model}/metadata"
            payload = _rest_json(url, None, self.timeout)
            try:
                found = payload["metadata"]["signature_def"]
                found = {k: v for k, v in found.items() if k != "@type"}
                json_format.ParseDict(found, defs, ignore_unknown_fields=True)
            except (KeyError, TypeError, json_format.ParseError) as e:
                raise ServingError(f"{url}: the answer holds no signature_def metadata: "
                                   f"{json.dumps(payload)[:200]}") from e
        else:
            request = get_model_metadata_pb2.GetModelMetadataRequest(
                metadata_field=["signature_def"])
            request.model_spec.name = self.model
            response = self._grpc_call("GetModelMetadata", request)
            if not response.metadata["signature_def"].Unpack(defs):
                raise ServingError(f"{self.where}: the metadata of {self.model} holds no "
                                   "signature_def map")
        return {name: {"inputs": sorted(d.inputs), "outputs": sorted(d.outputs)}
                for name, d in sorted(defs.signature_def.items())
                if not name.startswith("__")}

    def call(self, signature: str, inputs: Dict[str, Any]) -> Dict[str, Any]:
        """The signature's outputs, {name: value as nested lists, strings as str}.
        REST sends TF Serving's columnar format: unlike rows, it carries unbatched
        inputs such as `k`."""
        if self.rest:
            url = f"{self.where}/v1/models/{self.model}:predict"
            body = {"signature_name": signature,
                    "inputs": {k: _json_input(np.asarray(v).tolist())
                               for k, v in inputs.items()}}
            payload = _rest_json(url, body, self.timeout)
            outputs = payload.get("outputs") if isinstance(payload, dict) else None
            if outputs is None:
                raise ServingError(f"{url}: the answer has no \"outputs\": "
                                   f"{json.dumps(payload)[:200]}")
            if not isinstance(outputs, dict):  # a signature of one output: its value alone
                outputs = {"output": outputs}
            return {k: _text(v) for k, v in outputs.items()}
        import tensorflow as tf  # pylint: disable=import-outside-toplevel
        from tensorflow_serving.apis import predict_pb2  # pylint: disable=import-outside-toplevel

        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model
        request.model_spec.signature_name = signature
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        response = self._grpc_call("Predict", request)
        return {k: _text(tf.make_ndarray(v).tolist()) for k, v in response.outputs.items()}

    def _grpc_call(self, method: str, request):
        import grpc  # pylint: disable=import-outside-toplevel
        from tensorflow_serving.apis import (  # pylint: disable=import-outside-toplevel
            prediction_service_pb2_grpc)

        with grpc.insecure_channel(self.grpc) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            try:
                return getattr(stub, method)(request, timeout=self.timeout)
            except grpc.RpcError as e:
                raise ServingError(f"{self.grpc}: {e.code().name}: {e.details()}") from e


class NotInVocabulary(ServingError):
    pass


def next_words(endpoint: Endpoint, prefixes: Sequence[str],
               k: int) -> List[List[Tuple[str, float]]]:
    """A language model's k most probable next words after each prefix, with their
    probabilities, most probable first. A prefix with words the model does not know (it
    would read them as <unk>) is refused, naming them."""
    out = endpoint.call(NEXT_WORDS_SIGNATURE, {"prefix": np.array(prefixes, dtype=object),
                                               "k": np.int32(k)})
    for prefix, unknown in zip(prefixes, out.get("unknown_words", [""] * len(prefixes))):
        if unknown:
            raise NotInVocabulary(f"{prefix!r}: not in {endpoint.model}'s vocabulary: "
                                  f"{', '.join(unknown.split())}")
    return [list(zip(words, probs)) for words, probs in zip(out["words"],
                                                             out["probabilities"])]


def nearest(endpoint: Endpoint, words: Sequence[str],
            k: int) -> List[List[Tuple[str, float]]]:
    """word2vec's k nearest neighbours of each word with their cosine similarities,
    most similar first. A word not in the vocabulary is refused by name."""
    out = endpoint.call(NEAREST_SIGNATURE, {"words": np.array(words, dtype=object),
                                            "k": np.int32(k)})
    unknown = [w for w, known in zip(words, out["in_vocabulary"]) if not known]
    if unknown:
        raise NotInVocabulary(f"not in {endpoint.model}'s vocabulary: {', '.join(unknown)}")
    return [list(zip(names, scores)) for names, scores in zip(out["neighbours"],
                                                               out["scores"])]
