"""`classics rollback` on a local serving repository, its refusals, and what
`classics runs` says is served after it (runs.format_runs on runs built here; the full
command on real runs is tests/pipelines/report/test_runs.py)."""
import os

import pytest

from pipelines import cli
from pipelines import config as pipelines_config
from pipelines.report import runs as report
from trainer.serving import rollback as rb


def _version(root, model, version, complete=True):
    folder = os.path.join(root, model, str(version))
    os.makedirs(folder)
    if complete:
        with open(os.path.join(folder, "saved_model.pb"), "w") as f:
            f.write(str(version))
    return folder


def _listing(root):
    return sorted(os.path.relpath(os.path.join(d, n), root)
                  for d, dirs, files in os.walk(root) for n in dirs + files)


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("LOGNAME", "carol")  # getpass.getuser() reads LOGNAME first
    ws = tmp_path / "ws"
    for version in (10, 20, 30):
        _version(str(ws / "serving"), "mnist_cnn", version)
    _version(str(ws / "serving"), "mnist_cnn", 5, complete=False)
    return str(ws)


def test_rollback_command(workspace, capsys):
    root = os.path.join(workspace, "serving")
    assert cli.main(["rollback", "mnist_cnn", "--workspace", workspace]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"mnist_cnn: now serving version 20 (was 30); set aside in "
                      f"{root}/.rolled-back/mnist_cnn: 30")
    assert out[1].startswith(f"recorded in {root}/mnist_cnn/rollback.json (carol, ")
    assert rb.served_version(root, "mnist_cnn") == 20

    assert cli.main(["rollback", "mnist_cnn", "--to", "10", "--serving-root",
                     os.path.relpath(root)]) == 0
    assert rb.active_rollback(root, "mnist_cnn").from_version == 20


def test_default_workspace_is_the_pipelines(tmp_path, monkeypatch, capsys):
    """Without --serving-root: <workspace>/serving, the workspace found as every other
    command finds it."""
    monkeypatch.setenv("CLASSICS_HOME", str(tmp_path / "home"))
    _version(str(tmp_path / "home" / "serving"), "m", 1)
    _version(str(tmp_path / "home" / "serving"), "m", 2)
    assert pipelines_config.default_workspace() == str(tmp_path / "home")
    assert cli.main(["rollback", "m"]) == 0
    assert rb.served_version(str(tmp_path / "home" / "serving"), "m") == 1


@pytest.mark.parametrize("argv, message", [
    (["mnist_nope"], "error: no model 'mnist_nope' in the serving repository {root} "
                     "(models there: mnist_cnn)"),
    (["mnist_cnn", "--to", "15"], "error: mnist_cnn: no version 15 in {root}/mnist_cnn; "
                                  "complete versions: 10, 20, 30"),
    (["mnist_cnn", "--to", "5"], "error: mnist_cnn: version 5 is incomplete (no "
                                 "saved_model.pb in {root}/mnist_cnn/5): TF Serving "
                                 "cannot load it"),
    (["mnist_cnn", "--to", "30"], "error: mnist_cnn: version 30 is the one served now; a "
                                  "rollback goes to an older version"),
])
def test_refusals(workspace, capsys, argv, message):
    root = os.path.join(workspace, "serving")
    before = _listing(workspace)
    assert cli.main(["rollback", *argv, "--workspace", workspace]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [message.format(root=root)]
    assert captured.out == ""
    assert _listing(workspace) == before


def test_nothing_earlier_is_refused(workspace, capsys):
    root = os.path.join(workspace, "serving")
    assert cli.main(["rollback", "mnist_cnn", "--to", "10", "--workspace", workspace]) == 0
    capsys.readouterr()
    before = _listing(workspace)
    assert cli.main(["rollback", "mnist_cnn", "--workspace", workspace]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: mnist_cnn: version 10 is served and no complete version older than it is "
        "left to roll back to"]
    assert _listing(workspace) == before
    assert rb.served_version(root, "mnist_cnn") == 10


def test_a_version_that_is_no_number_is_refused(workspace, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["rollback", "mnist_cnn", "--to", "latest", "--workspace", workspace])
    assert e.value.code == 2
    assert "argument --to: expected a version number" in capsys.readouterr().err


def _run(run_id, root, version, model_id, created_ms):
    model = report.ModelResult(
        model="cnn", metrics={}, baseline_uri=None, blessed=True,
        pushed_path=os.path.join(root, "mnist_cnn", str(version)), training_stats=None,
        model_id=model_id, trained=True, serving_name="mnist_cnn")
    return report.RunReport(run_id=run_id, nodes={}, models=[model],
                            pipeline="classics-mnist", created_ms=created_ms)


def test_runs_shows_what_is_served_after_a_rollback_and_after_the_next_push(workspace):
    root = os.path.join(workspace, "serving")
    runs = [_run("run-a", root, 20, 1, 1000), _run("run-b", root, 30, 2, 2000)]
    describe = lambda metrics: "no evaluation"  # noqa: E731

    before = report.format_runs(runs, report.serving_now(root, runs), describe)
    assert "pushed mnist_cnn/30 (serving now)" in before
    assert before.splitlines()[-1] == ("  mnist_cnn        version 30  Model #2 (cnn) from "
                                       "run run-b")

    done = rb.rollback(root, "mnist_cnn", user="carol")
    text = report.format_runs(runs, report.serving_now(root, runs), describe)
    lines = text.splitlines()
    assert "pushed mnist_cnn/30 (set aside by a rollback)" in lines[1]
    assert "pushed mnist_cnn/20 (serving now)" in lines[3]
    assert lines[-1] == ("  mnist_cnn        version 20  Model #1 (cnn) from run run-a; "
                         f"rolled back from version 30 by carol at {done.time}")

    # A later push is served: the rollback is history, no longer what is served.
    _version(root, "mnist_cnn", 40)
    runs.append(_run("run-c", root, 40, 3, 3000))
    after = report.format_runs(runs, report.serving_now(root, runs), describe)
    assert after.splitlines()[-1] == ("  mnist_cnn        version 40  Model #3 (cnn) from "
                                      "run run-c")


def test_runs_names_a_damaged_rollback_record(workspace):
    root = os.path.join(workspace, "serving")
    with open(rb.record_path(root, "mnist_cnn"), "w") as f:
        f.write("[]")
    runs = [_run("run-b", root, 30, 2, 2000)]
    (served,) = report.serving_now(root, runs)
    assert served.rollback is None and "rollback.json: not a rollback record" in \
        served.record_error
    text = report.format_runs(runs, [served], lambda metrics: "")
    assert text.splitlines()[-1].endswith(served.record_error)
