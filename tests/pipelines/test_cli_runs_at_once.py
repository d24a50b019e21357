"""Two `classics run` at once on one workspace, with TMPDIR an empty folder of the test's.

Each run reports itself: its summary and its HTML report name its own run id and say, of
its model, what ML Metadata recorded for that run and what the serving repository holds
(not what the other run, still going or finished later, did). And the runs leave nothing
outside their workspace: TMPDIR is as empty afterwards as before, and no Beam component
built TFX's `tfx_ephemeral` package (the local DirectRunner needs none).
"""
import dataclasses
import glob
import os
import re
import subprocess
import time
from typing import List, Tuple

import pytest

from components.serving_baseline import served_versions
from pipelines.image import report as image_report
from pipelines.report import page as report_page
from pipelines.report import runs as report
from pipelines.runners import scratch
from tests.mnist_fixtures import real_digits, write_mnist
from tests.report_fixtures import PIPELINE, classics_argv, user_env

pytestmark = pytest.mark.e2e

# The second run starts while the first is still importing TensorFlow, so each run's
# pipeline-run context appears in ML Metadata before the other run ends.
START_GAP_SECONDS = 3


@dataclasses.dataclass
class RunsAtOnce:
    workspace: str
    tmpdir: str
    outputs: List[Tuple[str, str]]  # (stdout, stderr) of each run, in starting order

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.workspace, "metadata", f"{PIPELINE}.sqlite")


@pytest.fixture(scope="module")
def runs_at_once(tmp_path_factory) -> RunsAtOnce:
    root = tmp_path_factory.mktemp("at-once")
    (train_x, train_y), (test_x, test_y) = real_digits(200, 100)
    data = write_mnist(str(root / "data"), train_x, train_y, "train")
    write_mnist(data, test_x, test_y, "t10k")
    ws, tmpdir = str(root / "workspace"), root / "tmpdir"
    tmpdir.mkdir()
    argv = classics_argv("run", "mnist", "--models", "softmax", "--epochs", "1",
                         "--data", data, "--workspace", ws, "--min-accuracy", "0.3")
    procs = []
    for _ in range(2):
        procs.append(subprocess.Popen(argv, cwd=str(root), env=user_env(TMPDIR=str(tmpdir)),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
        time.sleep(START_GAP_SECONDS)
    outputs = [p.communicate(timeout=1800) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, out + err
    return RunsAtOnce(workspace=ws, tmpdir=str(tmpdir), outputs=outputs)


def test_two_runs_at_once_on_one_workspace_each_report_their_own_run(runs_at_once):
    ws, metadata_path = runs_at_once.workspace, runs_at_once.metadata_path
    said = []
    for out, _ in runs_at_once.outputs:
        run_id = re.search(r"^run (\S+):$", out, re.MULTILINE).group(1)
        model_line = re.search(r"^  softmax .*$", out, re.MULTILINE).group(0)
        report_file = re.search(r"^report: (.+)$", out, re.MULTILINE).group(1)
        said.append((run_id, model_line, report_file))
    assert said[0][0] != said[1][0], "both runs reported the same run"
    assert {r.run_id for r in report.list_runs(metadata_path, PIPELINE)} == {
        run_id for run_id, _, _ in said}

    pushed = []
    for run_id, model_line, report_file in said:
        run = report.read_run(metadata_path, PIPELINE, run_id,
                              read_metrics=image_report.read_metrics)
        # Each run went to its end: its Pusher ran (or was served from the cache).
        assert run.nodes["Pusher.softmax"].state in ("COMPLETE", "CACHED"), run_id
        model = run.models[0]
        bless = {True: "blessed", False: "NOT blessed", None: "not evaluated"}[model.blessed]
        assert f"eval accuracy {model.metrics['accuracy']:.4f}  {bless} (" in model_line
        assert model_line.endswith(f"-> {model.pushed_path or 'not pushed'}"), (
            model_line, model.pushed_path)
        assert report_file == report_page.report_path(ws, PIPELINE, run_id)
        html = open(report_file, encoding="utf-8").read()
        assert f"<h1>{PIPELINE}: run {run_id}</h1>" in html
        if model.pushed_path:
            assert os.path.isfile(os.path.join(model.pushed_path, "saved_model.pb"))
            assert f"mnist_softmax/{os.path.basename(model.pushed_path)}" in html
            pushed.append(int(os.path.basename(model.pushed_path)))
        else:
            assert "not pushed" in html
    # The serving repository holds exactly the versions the runs say they pushed, one
    # each (components/pusher.py: never one version for two pushes in the same second).
    assert len(pushed) == len(set(pushed))
    assert served_versions(os.path.join(ws, "serving", "mnist_softmax")) == sorted(pushed)
    # And each run wrote its own log.
    logs = [re.search(r"full log (\S+)$", out, re.MULTILINE).group(1)
            for out, _ in runs_at_once.outputs]
    assert logs[0] != logs[1]


def test_the_runs_leave_nothing_outside_their_workspace(runs_at_once):
    assert os.listdir(runs_at_once.tmpdir) == []
    # Their temporary files went to folders of their own in the workspace, now removed.
    assert os.listdir(os.path.join(runs_at_once.workspace, scratch.TMP_FOLDER)) == []
    logs = glob.glob(os.path.join(runs_at_once.workspace, "logs", "*.log"))
    assert logs
    for log in logs:
        text = open(log, encoding="utf-8").read()
        # TFX's dependency check ran for the Beam components and found the image named.
        assert "Nonempty beam arg sdk_container_image already includes dependency" in text
        assert "tfx_ephemeral" not in text and "Attempting to infer TFX Python" not in text
