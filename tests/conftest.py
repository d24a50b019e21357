"""Shared pytest set-up. Importing `trainer` first fixes TF_USE_LEGACY_KERAS for the run."""
import functools
import http.server
import os
import threading

import pytest

import trainer  # noqa: F401  (sets the TensorFlow environment before any test imports TF)
from tests.report_fixtures import demo_runs  # noqa: F401  (one session-wide pair of CLI runs)

pytest_plugins = ["tests.xdist_groups", "tests.suite_time"]


@pytest.fixture(scope="session", autouse=True)
def session_tmpdir(tmp_path_factory):
    """Temporary files of the code under test (TensorFlow's AutoGraph modules, Beam's and
    TFX's scratch folders), in this process and the processes it starts, go where a local
    run puts its own: a folder that is removed at the end."""
    import shutil
    import tempfile
    from pipelines.runners import scratch
    del tmp_path_factory
    # A short path: programs put sockets there (Chromium's), capped at 107 bytes.
    base = tempfile.mkdtemp(prefix="classics-tests-")
    try:
        with scratch.run_scratch(base) as folder:
            yield folder
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def workspace(tmp_path):
    """A fresh CLASSICS_HOME-style workspace folder."""
    ws = tmp_path / "workspace"
    ws.mkdir()
    return str(ws)


@pytest.fixture
def http_root(tmp_path):
    """A static file server on 127.0.0.1 (a stand-in for a dataset mirror):
    yields (folder it serves, base URL)."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def pytest_configure(config):
    # Beam and TF spawn threads; keep tests on the 2-core machines predictable.
    os.environ.setdefault("OMP_NUM_THREADS", "2")
