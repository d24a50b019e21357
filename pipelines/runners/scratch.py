"""A local run's temporary files: in a folder of its own under <workspace>/tmp, removed
when the run ends.

Libraries write temporary files wherever Python's `tempfile` and the TMPDIR variable
point (TensorFlow's AutoGraph, Beam, tf.Transform, TFX; the processes Beam starts inherit
TMPDIR). Some never delete them, and a run that is killed deletes nothing; pointed into the
workspace, whatever a run leaves stays there, next to the run's other files, and a finished
run leaves none of it.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Iterator

TMP_FOLDER = "tmp"


@contextlib.contextmanager
def run_scratch(workspace: str) -> Iterator[str]:
    """For the duration of the block, this process's temporary folder (and TMPDIR, for the
    processes it starts) is a new folder under <workspace>/tmp, one per run so that runs
    at once on one workspace keep apart; the folder and what is in it are removed after."""
    # Absolute: some libraries change the working directory (TFX does to build packages).
    base = os.path.join(os.path.abspath(workspace), TMP_FOLDER)
    os.makedirs(base, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="run-", dir=base)
    saved_env, saved_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = folder
    tempfile.tempdir = folder
    try:
        yield folder
    finally:
        tempfile.tempdir = saved_tempdir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env
        # <workspace>/tmp itself stays: another run on the workspace may be using it.
        shutil.rmtree(folder, ignore_errors=True)
