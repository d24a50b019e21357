"""The TF Serving stand-ins answer as TF Serving's REST API does (json_tensor.cc): string
outputs as JSON strings, `*_bytes` outputs as {"b64": ...}, invalid UTF-8 left invalid,
row and columnar formats, and model metadata over REST and gRPC."""
import base64
import json
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from tests.serving_standins import GrpcServer, RestServer
from trainer.serving import client


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    module = tf.Module()
    module.names = tf.Variable(["cat", "dög"], trainable=False)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def classify(examples):
        ids = tf.strings.length(examples) % 2
        return {"class_ids": tf.cast(ids, tf.int64), "class_names": tf.gather(module.names, ids),
                "raw_bytes": tf.fill(tf.shape(examples), b"\xff\x00"),
                "probabilities": tf.one_hot(ids, 2)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                  tf.TensorSpec([], tf.int32, name="k")])
    def repeat(words, k):
        return {"repeated": tf.tile(words[:, None], tf.stack([1, k]))}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def not_utf8(examples):
        return {"raw": tf.fill(tf.shape(examples), b"\xff"), "n": tf.strings.length(examples)}

    module.classify, module.repeat, module.not_utf8 = classify, repeat, not_utf8
    path = str(tmp_path_factory.mktemp("standin") / "1")
    tf.saved_model.save(module, path, signatures={"serving_default": classify,
                                                  "repeat": repeat, "not_utf8": not_utf8})
    rest, grpc_server = RestServer({"m": path}), GrpcServer({"m": path})
    yield rest, grpc_server
    rest.close()
    grpc_server.close()


def _post(url, body):
    req = urllib.request.Request(f"{url}/v1/models/m:predict", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_string_outputs_are_json_strings_and_bytes_outputs_base64(servers):
    rest, _ = servers
    code, raw = _post(rest.url, {"instances": [{"b64": base64.b64encode(b"ab").decode()},
                                               "abc"]})
    assert code == 200
    predictions = json.loads(raw)["predictions"]
    assert [p["class_names"] for p in predictions] == ["cat", "dög"]
    assert [p["raw_bytes"] for p in predictions] == [{"b64": "/wA="}] * 2
    assert predictions[1]["probabilities"] == [0.0, 1.0]


def test_invalid_utf8_in_a_string_output_is_not_repaired(servers):
    rest, _ = servers
    code, raw = _post(rest.url, {"signature_name": "not_utf8", "instances": ["a"]})
    assert code == 200 and b'"raw": "\xff"' in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")


def test_unbatched_inputs_need_the_columnar_format(servers):
    rest, _ = servers
    code, raw = _post(rest.url, {"signature_name": "repeat",
                                 "inputs": {"words": ["a", "b"], "k": 3}})
    assert code == 200
    assert json.loads(raw) == {"outputs": [["a"] * 3, ["b"] * 3]}  # one output: bare
    # Rows batch every input, `k` too: the signature's scalar refuses a [2] tensor.
    code, raw = _post(rest.url, {"signature_name": "repeat",
                                 "instances": [{"words": "a", "k": 3}, {"words": "b", "k": 3}]})
    assert code == 400 and "shape" in json.loads(raw)["error"]
    code, raw = _post(rest.url, {"signature_name": "repeat", "inputs": {"words": ["a"]}})
    assert code == 400 and json.loads(raw)["error"] == "Missing named input: k in 'inputs' object."
    code, raw = _post(rest.url, {"signature_name": "repeat",
                                 "inputs": {"words": ["a"], "k": 2.5}})
    assert code == 400 and "is not of expected type: int32" in json.loads(raw)["error"]


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_metadata_and_calls_through_the_client(servers, transport):
    rest, grpc_server = servers
    endpoint = client.Endpoint("m", **{transport: rest.url if transport == "rest"
                                       else grpc_server.target})
    signatures = endpoint.signatures()
    assert sorted(signatures) == ["not_utf8", "repeat", "serving_default"]
    assert signatures["repeat"] == {"inputs": ["k", "words"], "outputs": ["repeated"]}
    out = endpoint.call("repeat", {"words": np.array(["x", "ü"], object), "k": np.int32(2)})
    assert out == {("output" if transport == "rest" else "repeated"): [["x", "x"], ["ü", "ü"]]}
    out = endpoint.call("serving_default", {"examples": np.array([b"ab"], object)})
    assert out["class_names"] == ["cat"]
    assert out["raw_bytes"] == [b"\xff\x00"]  # b64 on REST, bytes on gRPC: bytes here
    rows = getattr(client, f"predict_{transport}")(
        rest.url if transport == "rest" else grpc_server.target, "m", examples=[b"abc"])
    assert rows[0]["class_names"] == "dög"
    with pytest.raises(client.ServingError, match="404" if transport == "rest" else "NOT_FOUND"):
        client.Endpoint("nope", **{transport: rest.url if transport == "rest"
                                   else grpc_server.target}).signatures()
