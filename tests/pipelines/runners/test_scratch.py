"""pipelines/runners/scratch.py: a run's temporary files go under its workspace and are
gone when it ends."""
import os
import subprocess
import sys
import tempfile

import pytest

from pipelines.runners import scratch


def _child_tempdir() -> str:
    return subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.gettempdir())"],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("tmpdir_before", [None, "elsewhere"])
def test_temporary_files_go_under_the_workspace_and_are_removed(tmp_path, monkeypatch,
                                                                tmpdir_before):
    outside = tmp_path / "outside"
    outside.mkdir()
    if tmpdir_before is None:
        monkeypatch.delenv("TMPDIR", raising=False)
    else:
        monkeypatch.setenv("TMPDIR", str(outside))
    monkeypatch.setattr(tempfile, "tempdir", str(outside))
    ws = tmp_path / "ws"
    with scratch.run_scratch(str(ws)) as folder:
        assert os.path.dirname(folder) == str(ws / scratch.TMP_FOLDER)
        made = tempfile.mkdtemp()
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(b"left behind")
        assert os.path.dirname(made) == folder and os.path.dirname(f.name) == folder
        assert _child_tempdir() == folder  # processes the run starts (Beam's workers)
    assert not os.path.exists(folder) and os.listdir(ws / scratch.TMP_FOLDER) == []
    assert list(outside.iterdir()) == []
    assert tempfile.gettempdir() == str(outside)
    assert os.environ.get("TMPDIR") == (None if tmpdir_before is None else str(outside))


def test_runs_at_once_get_their_own_folders_and_a_failed_run_cleans_up(tmp_path):
    ws = str(tmp_path / "ws")
    with scratch.run_scratch(ws) as first:
        with pytest.raises(RuntimeError):
            with scratch.run_scratch(ws) as second:
                assert second != first
                open(os.path.join(second, "partial"), "w").close()
                raise RuntimeError("a component failed")
        assert not os.path.exists(second) and os.path.isdir(first)
        assert tempfile.gettempdir() == first
    assert not os.path.exists(first)


def test_a_relative_workspace_gives_an_absolute_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with scratch.run_scratch("ws") as folder:
        assert os.path.isabs(folder) and folder.startswith(str(tmp_path / "ws"))
