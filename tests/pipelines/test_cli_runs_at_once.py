"""Two `classics run` at once on one workspace: each reports itself. Its summary and its
HTML report name its own run id and say, of its model, what ML Metadata recorded for that
run and what the serving repository holds (not what the other run, still going or
finished later, did)."""
import os
import re
import subprocess
import time

import pytest

from components.serving_baseline import served_versions
from pipelines.image import report as image_report
from pipelines.report import page as report_page
from pipelines.report import runs as report
from tests.mnist_fixtures import real_digits, write_mnist
from tests.report_fixtures import PIPELINE, classics_argv, user_env

pytestmark = pytest.mark.e2e

# The second run starts while the first is still importing TensorFlow, so each run's
# pipeline-run context appears in ML Metadata before the other run ends.
START_GAP_SECONDS = 3


def test_two_runs_at_once_on_one_workspace_each_report_their_own_run(tmp_path):
    (train_x, train_y), (test_x, test_y) = real_digits(200, 100)
    data = write_mnist(str(tmp_path / "data"), train_x, train_y, "train")
    write_mnist(data, test_x, test_y, "t10k")
    ws = str(tmp_path / "workspace")
    argv = classics_argv("run", "mnist", "--models", "softmax", "--epochs", "1",
                         "--data", data, "--workspace", ws, "--min-accuracy", "0.3")
    procs = []
    for _ in range(2):
        procs.append(subprocess.Popen(argv, cwd=str(tmp_path), env=user_env(),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
        time.sleep(START_GAP_SECONDS)
    outputs = [p.communicate(timeout=1800) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, out + err

    said = []
    for out, _ in outputs:
        run_id = re.search(r"^run (\S+):$", out, re.MULTILINE).group(1)
        model_line = re.search(r"^  softmax .*$", out, re.MULTILINE).group(0)
        report_file = re.search(r"^report: (.+)$", out, re.MULTILINE).group(1)
        said.append((run_id, model_line, report_file))
    metadata_path = os.path.join(ws, "metadata", f"{PIPELINE}.sqlite")
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
    # The serving repository holds exactly the versions the runs say they pushed.
    assert served_versions(os.path.join(ws, "serving", "mnist_softmax")) == sorted(pushed)
