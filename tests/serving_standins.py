"""In-process stand-ins for tensorflow_model_server on 127.0.0.1 (no model server binary
exists on these machines). They answer TF Serving's REST predict API and gRPC
PredictionService.Predict by loading the real pushed SavedModel exactly as TF Serving
does: by signature name, with the request's named input tensors."""
import base64
import http.server
import json
import re
import threading
from concurrent import futures

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc


class _Models:
    def __init__(self, models):  # name -> SavedModel dir
        self.loaded = {name: tf.saved_model.load(path) for name, path in models.items()}

    def call(self, name, signature, inputs):
        fn = self.loaded[name].signatures[signature or "serving_default"]
        return {k: v.numpy() for k, v in fn(**inputs).items()}


def _decode_instances(fn, instances):
    """Row format -> {input name: tensor}, with {"b64": ...} for strings."""
    (name, spec), = fn.structured_input_signature[1].items()
    if spec.dtype == tf.string:
        values = [base64.b64decode(i["b64"]) for i in instances]
    else:
        values = np.asarray(instances, dtype=spec.dtype.as_numpy_dtype)
    return {name: tf.constant(values, dtype=spec.dtype)}


class RestServer:
    def __init__(self, models):
        store = _Models(models)

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):  # noqa: N802
                m = re.fullmatch(r"/v1/models/([^/:]+):predict", self.path)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if not m or m.group(1) not in store.loaded:
                    return self._send(404, {"error": f"Servable not found for {self.path}"})
                sig = body.get("signature_name", "serving_default")
                fn = store.loaded[m.group(1)].signatures[sig]
                out = store.call(m.group(1), sig, _decode_instances(fn, body["instances"]))
                n = len(next(iter(out.values())))
                preds = [{k: v[i].tolist() for k, v in out.items()} for i in range(n)]
                return self._send(200, {"predictions": preds})

            def _send(self, code, payload):
                data = json.dumps(payload).encode()
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


class GrpcServer:
    def __init__(self, models):
        store = _Models(models)

        class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request, context):  # noqa: N802
                if request.model_spec.name not in store.loaded:
                    context.abort(grpc.StatusCode.NOT_FOUND,
                                  f"Servable not found: {request.model_spec.name}")
                inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
                out = store.call(request.model_spec.name, request.model_spec.signature_name,
                                 inputs)
                response = predict_pb2.PredictResponse()
                response.model_spec.CopyFrom(request.model_spec)
                for k, v in out.items():
                    response.outputs[k].CopyFrom(tf.make_tensor_proto(v))
                return response

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(),
                                                                            self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.target = f"127.0.0.1:{port}"

    def close(self):
        self.server.stop(0)
