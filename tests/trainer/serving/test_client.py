"""trainer/serving/client.py's REST path against answers TF Serving would not give: each
is one ServingError naming the URL and what is wrong (the CLI prints it as `error:`)."""
import http.server
import json
import threading

import numpy as np
import pytest

from trainer.serving import client


@pytest.fixture
def answering():
    """A local HTTP server (a stand-in for something at TF Serving's address) that
    answers every POST with the body set in `answer["body"]`; yields (url, answer)."""
    answer = {"body": b"{}"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer["body"])

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", answer
    server.shutdown()
    server.server_close()


IMAGES = np.zeros((2, 28, 28), np.uint8)


def test_row_format_answer_is_returned_per_instance(answering):
    url, answer = answering
    answer["body"] = json.dumps({"predictions": [{"class_ids": 3}, {"class_ids": 7}]}).encode()
    assert client.predict_rest(url, "mnist_cnn", images=IMAGES) == [
        {"class_ids": 3}, {"class_ids": 7}]


@pytest.mark.parametrize("body, problem", [
    (json.dumps({"outputs": {"class_ids": [3, 7]}}).encode(), 'no "predictions" list'),
    (json.dumps({"predictions": {"class_ids": [3]}}).encode(), 'no "predictions" list'),
    (json.dumps([1, 2]).encode(), 'no "predictions" list'),
    (b"<html>502 Bad Gateway</html>", "the answer is not JSON"),
    (json.dumps({"error": "Servable not found"}).encode(), "Servable not found"),
])
def test_an_answer_without_predictions_is_a_serving_error(answering, body, problem):
    url, answer = answering
    answer["body"] = body
    with pytest.raises(client.ServingError) as e:
        client.predict_rest(url, "mnist_cnn", images=IMAGES)
    assert str(e.value).startswith(f"{url}/v1/models/mnist_cnn:predict: ")
    assert problem in str(e.value)


def test_nobody_listening_is_a_serving_error():
    import socket
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(client.ServingError, match="Connection refused"):
        client.predict_rest(f"http://127.0.0.1:{port}", "mnist_cnn", images=IMAGES)


def test_an_http_error_page_becomes_one_line(answering, monkeypatch):
    import io
    import urllib.error

    def refuse(req, timeout):
        page = b"<html>\n<body>\n<h1>502 Bad Gateway</h1>\n</body>\n</html>\n"
        raise urllib.error.HTTPError(req.full_url, 502, "Bad Gateway", {}, io.BytesIO(page))

    monkeypatch.setattr(client.urllib.request, "urlopen", refuse)
    url, _ = answering
    with pytest.raises(client.ServingError) as e:
        client.predict_rest(url, "mnist_cnn", images=IMAGES)
    assert str(e.value) == (f"{url}/v1/models/mnist_cnn:predict: HTTP 502: <html> <body> "
                            "<h1>502 Bad Gateway</h1> </body> </html>")
