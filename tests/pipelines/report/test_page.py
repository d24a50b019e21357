"""pipelines/report/page.py and the demo's console: a real `classics run` (two runs of a
small MNIST pipeline, tests/report_fixtures.py) read back into an HTML report."""
import base64
import io
import os
import re
import shlex
import shutil

import pytest
from PIL import Image

from pipelines import cli
from pipelines.image import report as image_report
from pipelines.report import runs as report
from pipelines.report import page as report_page
from tests import headless_chromium
from tests.report_fixtures import EPOCHS, N_EVAL, N_TRAIN, PIPELINE

# What the demo used to print between its progress lines.
NOISE = re.compile(r"cuDNN factory|cuFFT factory|cuBLAS factory|deprecat|SavedModel saved "
                   r"prior|Instructions for updating|^WARNING|^W0000|^I0000|python-snappy",
                   re.IGNORECASE | re.MULTILINE)


def _page(demo_runs, which):
    runs = report.list_runs(demo_runs.metadata_path, PIPELINE)
    return report_page.build(demo_runs.metadata_path, PIPELINE, runs[which].run_id)


@pytest.mark.e2e
def test_demo_console_shows_progress_epochs_and_summary_only(demo_runs):
    for run in (demo_runs.first, demo_runs.second):
        terminal = run.stdout + run.stderr
        assert not NOISE.findall(terminal), NOISE.findall(terminal)
        assert run.stderr == ""
        for line in ("MnistExampleGen", "Transform", "Evaluator.softmax", "Pusher.softmax"):
            assert re.search(rf"\] {re.escape(line)} +(done|cached) in", run.stdout), line
        assert re.search(r"^run \S+:$", run.stdout, re.MULTILINE)
        assert re.search(r"^  softmax +eval accuracy \d\.\d{4}", run.stdout, re.MULTILINE)
        report_line = run.stdout.strip().splitlines()[-1]
        assert report_line.startswith("report: ") and os.path.isfile(report_line[8:])
    epochs = re.findall(r"\] Trainer\.softmax +epoch (\d+)/(\d+): loss \d", demo_runs.first.stdout)
    assert epochs == [(str(e), str(EPOCHS)) for e in range(1, EPOCHS + 1)]
    # The noise was not lost: it is in the run's log file, whose path was printed.
    log_path = re.search(r"full log (\S+\.log)", demo_runs.first.stdout).group(1)
    log = open(log_path, encoding="utf-8").read()
    assert "Instructions for updating" in log and "deprecated" in log


@pytest.mark.e2e
def test_report_holds_the_metrics_the_run_recorded(demo_runs):
    for which, bar in ((0, "0.3"), (1, "0.99")):
        page = _page(demo_runs, which)
        recorded = report.read_run(demo_runs.metadata_path, PIPELINE, page.run.run_id,
                                   read_metrics=image_report.read_metrics).models[0]
        html = page.html
        assert f"run {page.run.run_id}" in html
        assert f"eval accuracy {recorded.metrics['accuracy']:.4f}" in html
        assert f"&gt;= {bar}" in html  # the gate's bar as the Evaluator applied it
        assert f"{N_TRAIN:,} examples" in html and f"{N_EVAL:,} examples" in html
        assert f"Model #{recorded.model_id}" in html
        stats = recorded.training_stats
        assert f"{stats['final_train_loss']:.4f}" in html
        if recorded.blessed:
            assert recorded.pushed_path and \
                f"mnist_softmax/{os.path.basename(recorded.pushed_path)}" in html
        else:
            assert "NOT blessed" in html and "not pushed" in html
            assert f"served version {recorded.served_version}" in html
    assert _page(demo_runs, 0).run.models[0].blessed is True
    assert _page(demo_runs, 1).run.models[0].blessed is False


@pytest.mark.e2e
def test_every_figure_is_a_png_embedded_in_the_page(demo_runs):
    page = _page(demo_runs, 1)
    titles = [f.title for f in page.figures]
    assert any("training curves" in t for t in titles)
    assert any("confusion matrix" in t for t in titles)
    assert any("accuracy per true class" in t for t in titles)
    assert any("label histogram" in t for t in titles)
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page.html)
    assert len(embedded) == len(page.figures)
    for data in embedded:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.verify()
        assert image.format == "PNG"
    # Self-contained: nothing is fetched from anywhere.
    assert not re.search(r'(src|href)="(https?:|//|file:)', page.html)
    assert "<script" not in page.html


@pytest.mark.e2e
def test_report_renders_in_headless_chromium(demo_runs, tmp_path):
    path = demo_runs.second.stdout.strip().splitlines()[-1][len("report: "):]
    page = _page(demo_runs, 1)
    rendered = headless_chromium.render(path)
    assert rendered.errors == []
    assert rendered.images == len(page.figures) and rendered.broken_images == []
    assert rendered.title == f"{PIPELINE} run {page.run.run_id}"
    assert "NOT blessed" in rendered.text and "confusion matrix" in rendered.text
    shot = tmp_path / "report.png"
    shot.write_bytes(rendered.screenshot)
    image = Image.open(shot)
    assert image.width == 1200 and image.height > 2000
    print(f"screenshot of the rendered report: {shot}")


def test_the_browser_check_sees_errors_and_broken_images(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><head><title>bad</title></head><body>'
                   '<img alt="broken" src="data:image/png;base64,AAAA">'
                   '<script>console.error("boom"); undefinedFunction();</script></body></html>')
    rendered = headless_chromium.render(str(bad))
    assert any("boom" in e for e in rendered.errors)
    assert any("undefinedFunction" in e for e in rendered.errors)
    assert rendered.broken_images == ["broken"]


@pytest.mark.e2e
def test_report_and_tensorboard_commands(demo_runs, tmp_path, capsys):
    ws = demo_runs.workspace
    first = report.list_runs(demo_runs.metadata_path, PIPELINE)[0]
    out = tmp_path / "first.html"
    assert cli.main(["report", first.run_id[:-2], "--workspace", ws, "--output", str(out)]) == 0
    assert capsys.readouterr().out.strip() == f"report: {out}"
    assert f"run {first.run_id}" in out.read_text()

    # Default: the latest run of the pipeline that ran last.
    assert cli.main(["tensorboard", "--workspace", ws, "--print"]) == 0
    cmd = shlex.split(capsys.readouterr().out.strip())
    latest = report.read_run(demo_runs.metadata_path, PIPELINE)
    logs = os.path.join(latest.models[0].model_run_uri, "logs")
    assert cmd[1:] == ["-m", "tensorboard.main", "--logdir_spec", f"softmax:{logs}"]
    assert shutil.which(cmd[0]) and sorted(os.listdir(logs)) == ["train", "validation"]
    # TensorBoard's own flag parser accepts the command (no server is started).
    from tensorboard import program
    board = program.TensorBoard()
    board.configure(argv=[None] + cmd[3:])
    assert board.flags.logdir_spec == f"softmax:{logs}"


def test_tensorboard_command_refuses_what_it_cannot_express():
    with pytest.raises(ValueError, match="no TensorBoard logs"):
        report_page.tensorboard_command([])
    with pytest.raises(ValueError, match="cannot hold"):
        report_page.tensorboard_command([("cnn", "/data/a,b/logs")])
    cmd = report_page.tensorboard_command([("a", "/x/logs"), ("b", "/y/logs")], port=6010,
                                          python="python3")
    assert cmd == ["python3", "-m", "tensorboard.main", "--logdir_spec", "a:/x/logs,b:/y/logs",
                   "--port", "6010"]


def test_find_pipeline(tmp_path):
    with pytest.raises(FileNotFoundError, match="no pipeline runs"):
        report_page.find_pipeline(str(tmp_path))
    meta = tmp_path / "metadata"
    meta.mkdir()
    (meta / "classics-mnist.sqlite").write_bytes(b"")
    (meta / "mine.sqlite").write_bytes(b"")
    os.utime(meta / "classics-mnist.sqlite", (1, 1))
    assert report_page.find_pipeline(str(tmp_path))[0] == "mine"  # the one that ran last
    assert report_page.find_pipeline(str(tmp_path), "mnist")[0] == "classics-mnist"
    with pytest.raises(KeyError, match="known: classics-mnist, mine"):
        report_page.find_pipeline(str(tmp_path), "cifar10")


def test_the_trainer_steps_phases_are_shown_with_their_share():
    rows = dict(report_page._stats_rows({
        "epochs": 2, "trainer_seconds": 10.0,
        "phase_seconds": {"input_start": 1.0, "first_epoch": 4.0, "export": 5.0}}))
    assert rows["trainer_seconds"] == report_page.report_kit.fmt(10.0, 1)
    assert rows["phase first_epoch"] == "4.0 s (40%)"
    assert [k for k in rows if k.startswith("phase ")] == [
        "phase input_start", "phase first_epoch", "phase export"]
    assert "trainer_seconds" not in dict(report_page._stats_rows({"epochs": 2}))
