"""In-process stand-ins for tensorflow_model_server on 127.0.0.1 (no model server binary
exists on these machines). They answer TF Serving's REST predict and metadata API and gRPC
PredictionService.Predict / GetModelMetadata by loading the real pushed SavedModel and
calling it as TF Serving does: by signature name, with the request's named input tensors
(trainer/serving/predict.py, the path the ServabilityCheck gate calls models by too).

The REST side follows TF Serving's JSON mapping (tensorflow_serving/util/json_tensor.cc)
and is no more forgiving: the row ("instances") format batches every input, the columnar
("inputs") format takes tensors whole; string outputs are JSON strings, base64 objects
({"b64": ...}) only for outputs whose name ends in `_bytes`; a row-format answer needs
every output batched alike."""
import base64
import http.server
import json
import os
import re
import threading
import urllib.request
from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (get_model_metadata_pb2, predict_pb2,
                                     prediction_service_pb2_grpc)

from components import servability_check
from trainer.serving import predict as tf_predict
from trainer.serving.warmup import read_warmup

SIGNATURE_DEF = "signature_def"


def latest_version_dir(base_path: str) -> str:
    """The folder TF Serving loads for `base_path` under its default version policy,
    `latest { num_versions: 1 }`: the child with the highest name that parses as an
    integer; other names are skipped, and completeness is not checked
    (tensorflow_serving/sources/storage_path/file_system_storage_path_source.cc,
    IndexChildrenByVersion and AspireLatestVersions). No such child: FileNotFoundError,
    as TF Serving finds no version to load."""
    versions = {}
    for child in os.listdir(base_path):
        if re.fullmatch(r"[+-]?[0-9]+", child):  # absl::SimpleAtoi into an int64
            versions[int(child)] = child
    if not versions:
        raise FileNotFoundError(f"No versions of servable found under base path {base_path}")
    return os.path.join(base_path, versions[max(versions)])


class _Models:
    def __init__(self, models):  # name -> SavedModel dir
        self.paths = dict(models)
        self.loaded = {name: tf.saved_model.load(path) for name, path in models.items()}

    def call(self, name, signature, inputs):
        return tf_predict.run(tf_predict.signature(self.loaded[name], signature), inputs)

    def signature_defs(self, name) -> get_model_metadata_pb2.SignatureDefMap:
        """The SignatureDefs of the MetaGraph, as TF Serving's metadata API returns them."""
        saved = saved_model_pb2.SavedModel()
        with open(os.path.join(self.paths[name], "saved_model.pb"), "rb") as f:
            saved.ParseFromString(f.read())
        defs = get_model_metadata_pb2.SignatureDefMap()
        for key, value in saved.meta_graphs[0].signature_def.items():
            defs.signature_def[key].CopyFrom(value)
        return defs

    def metadata(self, name) -> get_model_metadata_pb2.GetModelMetadataResponse:
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = name
        folder = os.path.basename(self.paths[name].rstrip("/"))  # <model>/<version>/
        response.model_spec.version.value = int(folder) if folder.isdigit() else 1
        response.metadata[SIGNATURE_DEF].Pack(self.signature_defs(name))
        return response


# --------------------------------------------------------------------- JSON -> tensors
def _is_b64(value):
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _leaf(value, dtype):
    if dtype == tf.string:
        if _is_b64(value):
            try:
                return base64.b64decode(value["b64"], validate=True)
            except ValueError:
                raise tf_predict.PredictError("Unable to base64 decode") from None
        if isinstance(value, str):
            return value.encode("utf-8")
    elif dtype == tf.bool:
        if isinstance(value, bool):
            return value
    elif dtype.is_integer:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif dtype.is_floating:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
    raise tf_predict.PredictError(f"JSON Value: {json.dumps(value)} is not of expected "
                                  f"type: {dtype.name}")


def _to_array(value, dtype):
    """A dense tensor from nested JSON lists; every list of a level the same length."""
    def shape_of(v):
        return [len(v)] + (shape_of(v[0]) if v else []) if isinstance(v, list) else []

    shape, flat = shape_of(value), []

    def fill(v, level):
        if not isinstance(v, list):
            if level != len(shape):
                raise tf_predict.PredictError(f"JSON Value: {json.dumps(v)} found at "
                                              f"incorrect level: {level + 1}")
            flat.append(_leaf(v, dtype))
            return
        if level >= len(shape) or len(v) != shape[level]:
            raise tf_predict.PredictError(f"Encountered list at unexpected size: {len(v)} "
                                          f"at level: {level}")
        for item in v:
            fill(item, level + 1)

    fill(value, 0)
    np_dtype = object if dtype == tf.string else dtype.as_numpy_dtype
    return np.array(flat, dtype=np_dtype).reshape(shape)


def decode_request(body, specs):
    """A REST predict body -> ({input name: array}, "row" | "columnar")."""
    if not isinstance(body, dict):
        raise tf_predict.PredictError("JSON Value: is not object")
    if ("instances" in body) == ("inputs" in body):
        raise tf_predict.PredictError("Missing 'inputs' or 'instances' key" if not (
            "instances" in body) else "expecting only one of 'inputs' or 'instances'")
    if "instances" in body:
        instances = body["instances"]
        if not isinstance(instances, list) or not instances:
            raise tf_predict.PredictError("Excepting 'instances' to be a non-empty list")
        objects = isinstance(instances[0], dict) and not _is_b64(instances[0])
        if not objects and len(specs) > 1:
            raise tf_predict.PredictError(
                "instances is a plain list, but expecting list of objects as multiple "
                "input tensors required as per tensorinfo_map")
        rows = {name: [] for name in specs}
        for i, item in enumerate(instances):
            if objects != (isinstance(item, dict) and not _is_b64(item)):
                raise tf_predict.PredictError(f"item {i} of 'instances' is not like item 0")
            item = item if objects else {next(iter(specs)): item}
            if set(item) != set(specs):
                raise tf_predict.PredictError(
                    f"Failed to process element: {i} of 'instances' list. JSON object: "
                    f"keys must be equal to: {','.join(sorted(specs))}")
            for name, value in item.items():
                rows[name].append(_to_array(value, specs[name].dtype))
        inputs = {}
        for name, values in rows.items():
            if len({v.shape for v in values}) != 1:
                raise tf_predict.PredictError(f"Expecting shape {list(values[0].shape)} for "
                                              f"every instance of {name!r}")
            inputs[name] = np.stack(values)
        return inputs, "row"
    given = body["inputs"]
    if not isinstance(given, dict) or _is_b64(given):
        if len(specs) > 1:
            raise tf_predict.PredictError(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map")
        given = {next(iter(specs)): given}
    inputs = {}
    for name, spec in specs.items():
        if name not in given:
            raise tf_predict.PredictError(f"Missing named input: {name} in 'inputs' object.")
        inputs[name] = _to_array(given[name], spec.dtype)
    return inputs, "columnar"


# --------------------------------------------------------------------- tensors -> JSON
def _json_value(value, as_bytes):
    if isinstance(value, np.ndarray):
        return [_json_value(v, as_bytes) for v in value]
    if isinstance(value, bytes):
        if as_bytes:
            return {"b64": base64.b64encode(value).decode("ascii")}
        # TF Serving writes the bytes as they are; surrogateescape keeps invalid UTF-8
        # invalid in the answer instead of repairing it.
        return value.decode("utf-8", "surrogateescape")
    return value.item() if isinstance(value, np.generic) else value


def encode_outputs(outputs, fmt) -> bytes:
    names = sorted(outputs)  # TF Serving's output map is ordered by name
    if fmt == "row":
        batch = None
        for name in names:
            if outputs[name].ndim == 0:
                raise tf_predict.PredictError(f"Tensor name: {name} has no shape information")
            if batch is not None and outputs[name].shape[0] != batch:
                raise tf_predict.PredictError(
                    f"Tensor name: {name} has inconsistent batch size: "
                    f"{outputs[name].shape[0]} expecting: {batch}")
            batch = outputs[name].shape[0]
        columns = {n: _json_value(outputs[n], n.endswith("_bytes")) for n in names}
        rows = [{n: columns[n][i] for n in names} if len(names) > 1 else columns[names[0]][i]
                for i in range(batch)]
        payload = {"predictions": rows}
    else:
        columns = {n: _json_value(outputs[n], n.endswith("_bytes")) for n in names}
        payload = {"outputs": columns if len(names) > 1 else columns[names[0]]}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogateescape")


class RestServer:
    def __init__(self, models):
        store = _Models(models)

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _model(self, pattern):
                m = re.fullmatch(pattern, self.path)
                if not m or m.group(1) not in store.loaded:
                    self._send(404, json.dumps(
                        {"error": f"Servable not found for {self.path}"}).encode())
                    return None
                return m.group(1)

            def do_GET(self):  # noqa: N802
                name = self._model(r"/v1/models/([^/:]+)/metadata")
                if name:
                    self._send(200, json_format.MessageToJson(
                        store.metadata(name), preserving_proto_field_name=True).encode())

            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                name = self._model(r"/v1/models/([^/:]+):predict")
                if not name:
                    return
                try:
                    body = json.loads(raw)
                    sig = body.get("signature_name", "") if isinstance(body, dict) else ""
                    fn = tf_predict.signature(store.loaded[name], sig)
                    inputs, fmt = decode_request(body, tf_predict.input_specs(fn))
                    answer = encode_outputs(tf_predict.run(fn, inputs), fmt)
                except json.JSONDecodeError as e:
                    return self._send(400, json.dumps({"error": f"JSON Parse error: {e}"}).encode())
                except tf_predict.PredictError as e:
                    return self._send(400, json.dumps({"error": str(e)}).encode())
                return self._send(200, answer)

            def _send(self, code, data):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def predict_class_ids(url: str, name: str, images, signature: str = "serving_images"):
    """The class ids a REST server at `url` answers for `images` (TF Serving's row format),
    as a client of the pushed image models would ask."""
    body = {"signature_name": signature, "instances": np.asarray(images).tolist()}
    request = urllib.request.Request(
        f"{url}/v1/models/{name}:predict", data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        predictions = json.loads(response.read())["predictions"]
    return np.array([p["class_ids"] for p in predictions]).reshape(-1)


class GrpcServer:
    def __init__(self, models):
        store = _Models(models)

        class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request, context):  # noqa: N802
                if request.model_spec.name not in store.loaded:
                    context.abort(grpc.StatusCode.NOT_FOUND,
                                  f"Servable not found: {request.model_spec.name}")
                try:
                    out = tf_predict.run_request(store.loaded[request.model_spec.name],
                                                 request)
                except tf_predict.PredictError as e:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
                response = predict_pb2.PredictResponse()
                response.model_spec.CopyFrom(request.model_spec)
                for k, v in out.items():
                    response.outputs[k].CopyFrom(tf.make_tensor_proto(v))
                return response

            def GetModelMetadata(self, request, context):  # noqa: N802
                if request.model_spec.name not in store.loaded:
                    context.abort(grpc.StatusCode.NOT_FOUND,
                                  f"Servable not found: {request.model_spec.name}")
                if list(request.metadata_field) != [SIGNATURE_DEF]:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                  "Metadata field signature_def must be requested")
                return store.metadata(request.model_spec.name)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(),
                                                                            self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.target = f"127.0.0.1:{port}"

    def close(self):
        self.server.stop(0)


def assert_every_signature_was_checked(result, serving_prefix: str) -> None:
    """Every pushed model of run `result` (a RunReport) passes the ServabilityCheck on each
    signature, and the pipeline's own check ran: it blessed the model and the Pusher
    pushed its stamped copy, one warm-up record per signature."""
    for m in result.models:
        signatures = sorted(tf.saved_model.load(m.pushed_path).signatures)
        requests = servability_check.check_model(m.pushed_path, serving_prefix + m.model, [])
        assert sorted(requests) == signatures
        check = result.nodes[f"ServabilityCheck.{m.model}"]
        assert check.state == "COMPLETE" and check.outputs["blessing"], m.model
        stamped = read_warmup(m.pushed_path)
        assert sorted(log.predict_log.request.model_spec.signature_name
                      for log in stamped) == signatures
