"""Shared pytest set-up. Importing `trainer` first fixes TF_USE_LEGACY_KERAS for the run."""
import os

import pytest

import trainer  # noqa: F401  (sets the TensorFlow environment before any test imports TF)


@pytest.fixture
def workspace(tmp_path):
    """A fresh CLASSICS_HOME-style workspace folder."""
    ws = tmp_path / "workspace"
    ws.mkdir()
    return str(ws)


def pytest_configure(config):
    # Beam and TF spawn threads; keep tests on the 2-core machines predictable.
    os.environ.setdefault("OMP_NUM_THREADS", "2")
