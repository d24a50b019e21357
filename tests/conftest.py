"""Shared pytest set-up. Importing `trainer` first fixes TF_USE_LEGACY_KERAS for the run."""
import functools
import http.server
import os
import threading

import pytest

import trainer  # noqa: F401  (sets the TensorFlow environment before any test imports TF)
from tests.report_fixtures import demo_runs  # noqa: F401  (one session-wide pair of CLI runs)


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


def pytest_collection_modifyitems(config, items):
    """Groups for pytest-xdist's `--dist loadgroup` (make test): a group runs on one worker,
    so a module's tests share its module-scoped fixtures (one pipeline run, not one per
    worker), and the modules that read the session's demo runs share those."""
    del config
    demo_modules = {item.module.__name__ for item in items
                    if "demo_runs" in getattr(item, "fixturenames", ())}
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            module = item.module.__name__
            item.add_marker(pytest.mark.xdist_group(
                "demo_runs" if module in demo_modules else module))


def pytest_configure(config):
    # Beam and TF spawn threads; keep tests on the 2-core machines predictable.
    os.environ.setdefault("OMP_NUM_THREADS", "2")
