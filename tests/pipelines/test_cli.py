"""The `classics` command line: argument errors, data fetch, and a failing run's report."""
import bz2
import glob
import gzip
import hashlib
import json
import os
import sqlite3
import subprocess
import sys

import pytest

from components import datasets, mnist_example_gen
from pipelines import cli
from tests.mnist_fixtures import cut_off_during_the_job, synthetic_digits, write_mnist


def test_unknown_model_is_refused_before_anything_runs(tmp_path, capsys):
    rc = cli.main(["run", "mnist", "--models", "softmax,bogus", "--workspace", str(tmp_path)])
    assert rc == 2
    assert "unknown model(s) bogus" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_a_setting_of_another_task_is_refused_by_name(tmp_path, capsys):
    rc = cli.main(["run", "text", "--models", "lstm", "--min-accuracy", "0.5",
                   "--workspace", str(tmp_path)])
    assert rc == 2
    assert "lm pipelines have no setting(s) min_accuracy" in \
        capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_perplexity_ceiling_reaches_the_language_model_evaluator(tmp_path):
    args = cli.build_parser().parse_args(
        ["run", "text", "--models", "gru", "--max-perplexity", "250",
         "--workspace", str(tmp_path)])
    from pipelines import tasks  # pylint: disable=import-outside-toplevel
    config = tasks.make_config("text", args.models, **cli._run_settings(args))
    assert config.evaluator_thresholds("gru")["max_perplexity"] == 250.0


def test_beam_mode_reaches_the_local_run_beam_args(tmp_path):
    from pipelines import config as config_lib, tasks  # pylint: disable=import-outside-toplevel
    for argv, expected in (([], config_lib.IN_MEMORY_BEAM_ARGS),
                           (["--beam-mode", "multi_processing"],
                            config_lib.MULTI_PROCESSING_BEAM_ARGS)):
        args = cli.build_parser().parse_args(
            ["run", "mnist", "--workspace", str(tmp_path)] + argv)
        config = tasks.make_config("mnist", args.models, **cli._run_settings(args))
        assert config_lib.local_beam_args(config) == list(expected) + list(
            config_lib.DIRECT_RUNNER_DEPENDENCY_ARGS)


def test_missing_data_folder(tmp_path, capsys):
    rc = cli.main(["run", "mnist", "--data", str(tmp_path / "nope"),
                   "--workspace", str(tmp_path / "ws")])
    assert rc == 2 and "data folder does not exist" in capsys.readouterr().err


def test_data_fetch_from_a_local_mirror(tmp_path, monkeypatch, capsys, http_root):
    mirror, url = http_root
    files = {}
    for name in datasets.DATASETS["mnist"].files:
        payload = name.encode() * 10
        (mirror / name).write_bytes(payload)
        files[name] = (hashlib.sha256(payload).hexdigest(), len(payload))
    monkeypatch.setitem(datasets.DATASETS, "mnist", datasets.DatasetFiles(
        name="mnist", base_url="https://example.invalid/", files=files))
    rc = cli.main(["data", "fetch", "mnist", "--dest", str(tmp_path / "d"), "--base-url", url])
    assert rc == 0 and sorted(os.listdir(tmp_path / "d")) == sorted(files)
    assert "ready in" in capsys.readouterr().out


def _published_examples(ws, pipeline_name):
    db = sqlite3.connect(ws / "metadata" / f"{pipeline_name}.sqlite")
    return db.execute("SELECT COUNT(*) FROM Artifact a JOIN Type t ON a.type_id = t.id "
                      "WHERE t.name = 'Examples'").fetchone()[0]


@pytest.mark.e2e
def test_a_file_cut_off_during_ingestion_fails_the_run_and_leaves_nothing(
        tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(mnist_example_gen, "_SHARD_RECORDS", 7)
    x, y = synthetic_digits(60)
    data = write_mnist(str(tmp_path / "data"), x, y, "train")
    write_mnist(data, x[:21], y[:21], "t10k")
    images = os.path.join(data, "t10k-images-idx3-ubyte")
    ws = tmp_path / "ws"
    gen_root = ws / "pipelines" / "classics-mnist" / "MnistExampleGen"
    snapshot = str(tmp_path / "held.json")
    # Validated whole, then cut off while the Beam job reads it (a download still running).
    cut_off_during_the_job(monkeypatch, images, 14, str(gen_root), snapshot)
    rc = cli.main(["run", "mnist", "--models", "softmax", "--data", data, "--workspace", str(ws)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err[-1].startswith("error: component MnistExampleGen failed: " + images)
    assert "truncated" in err[-1]
    with open(snapshot) as f:  # the job had begun writing the splits when it failed
        assert any("Split-train" in p for p in json.load(f))
    # Nothing was published as Examples, and nothing was left on disk.
    assert _published_examples(ws, "classics-mnist") == 0
    assert [os.path.join(r, n) for r, ds, fs in os.walk(gen_root) for n in ds + fs
            if "Split-" in n or n.endswith(".gz")] == []


def _bad_text(folder, kind):
    """A corpus folder holding one bad file of `kind`; returns (folder, file, problem)."""
    folder.mkdir()
    if kind == "not-utf8":
        path = folder / "notes.txt"
        path.write_bytes(b"plain words here\nthen \xff\xfe bytes\n")
        return str(folder), str(path), "not UTF-8 text at line 2"
    body = b"<mediawiki><page><title>A</title><text>" + b"words " * 500 + b"</text></page>"
    if kind == "not-gzip":  # gzip magic bytes, then no valid deflate stream
        path, data = folder / "dump.xml.gz", gzip.compress(body)[:10] + b"\x00garbage" * 50
    else:  # bzip2 magic bytes, then garbage
        path, data = folder / "dump.xml.bz2", bz2.compress(body)[:10] + b"garbage" * 50
    path.write_bytes(data)
    return str(folder), str(path), "corrupt or truncated compressed data"


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["not-utf8", "not-gzip", "bad-bz2"])
def test_a_bad_text_file_is_named_on_the_last_line(tmp_path, capsys, kind):
    data, path, problem = _bad_text(tmp_path / "data", kind)
    ws = tmp_path / "ws"
    rc = cli.main(["run", "text", "--data", data, "--workspace", str(ws)])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.strip().splitlines()[-1].startswith(
        f"error: component TextExampleGen failed: {path}: {problem}"), err
    assert "Traceback" not in err
    assert _published_examples(ws, "classics-text") == 0


@pytest.mark.e2e
def test_the_terminal_gets_one_message_and_the_log_the_traceback(tmp_path):
    # A real process: the terminal is its stderr, whatever handlers the libraries install.
    data, path, problem = _bad_text(tmp_path / "data", "not-utf8")
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "classics"), "run", "text",
         "--data", data, "--workspace", str(tmp_path / "ws")],
        capture_output=True, text=True, timeout=900, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1
    assert lines[-1] == f"error: component TextExampleGen failed: {path}: {problem}: bytes " \
                        f"b'\\xff' (invalid start byte)", proc.stderr
    assert "Traceback" not in proc.stderr and "UnicodeDecodeError" not in proc.stderr
    logs = glob.glob(str(tmp_path / "ws" / "logs" / "*.log"))
    with open(logs[0]) as f:
        log = f.read()
    assert "Traceback" in log and "UnicodeDecodeError" in log


def test_literal_choice_lists_match_the_registries():
    from pipelines import tasks
    from pipelines.image.corpora import IMAGE_CORPORA
    assert all(corpus in cli.CORPUS_HELP for corpus in tasks.corpora())
    assert set(IMAGE_CORPORA) == set(tasks.TASKS["image"].corpora)
    assert sorted(cli.DATASET_NAMES) == sorted(datasets.DATASETS)
    from pipelines.config import BEAM_MODES
    assert cli.BEAM_MODE_NAMES == list(BEAM_MODES)


def test_image_size_argument():
    args = cli.build_parser().parse_args(["run", "folder", "--image-size", "64x48x3"])
    assert args.image_size == (64, 48, 3)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "folder", "--image-size", "64x48x2"])


def _refused_by_argparse(capsys, argv):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize("size, problem", [
    ("28", "expected H,W (two whole numbers, e.g. 28,28), got '28'"),
    ("28,x", "expected H,W (two whole numbers, e.g. 28,28), got '28,x'"),
    ("0,28", "height and width must be at least 1, got '0,28'"),
])
def test_predict_size_must_be_height_and_width(tmp_path, capsys, size, problem):
    last = _refused_by_argparse(capsys, ["predict", "--model", "m", "--rest", "http://x",
                                         "--size", size, str(tmp_path / "a.png")])
    assert last.endswith(f"error: argument --size: {problem}")
    assert cli.build_parser().parse_args(
        ["predict", "--model", "m", "--size", "28,32", "a.png"]).size == (28, 32)


def test_zero_epochs_are_refused(capsys):
    last = _refused_by_argparse(capsys, ["run", "mnist", "--epochs", "0"])
    assert last.endswith("error: argument --epochs: must be at least 1, got 0")


def _a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


@pytest.mark.parametrize("argv", [
    ["run", "mnist", "--workspace", "{file}/ws"],
    ["run", "mnist", "--workspace", "{file}"],
    ["data", "fetch", "mnist", "--dest", "{file}/mnist"],
    ["compile", "mnist", "--output-dir", "{file}/kfp"],
])
def test_a_folder_that_cannot_be_made_is_one_error_line(tmp_path, capsys, argv):
    file = _a_file(tmp_path)
    rc = cli.main([a.format(file=file) for a in argv])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot use {file}")
    assert last.endswith(("Not a directory", "File exists"))


def test_submit_to_an_unreachable_host_is_one_error_line(tmp_path, capsys):
    import socket
    package = tmp_path / "classics-mnist.yaml"
    package.write_text("pipelineInfo:\n  name: classics-mnist\n")
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{s.getsockname()[1]}"
    rc = cli.main(["submit", str(package), "--host", host])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"error: cannot reach Kubeflow Pipelines at {host}: [Errno 111] Connection refused")


def test_predict_against_something_that_is_not_tf_serving(tmp_path, capsys, http_root):
    from PIL import Image
    import numpy as np
    path = str(tmp_path / "digit.png")
    Image.fromarray(np.zeros((28, 28), np.uint8), mode="L").save(path)
    _, url = http_root  # a static file server: it has no model metadata to give
    rc = cli.main(["predict", "--model", "mnist_cnn", "--rest", url.rstrip("/"), path])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    ours = [l for l in err.splitlines() if not l.startswith("127.0.0.1 - - ")]  # server log
    assert len(ours) == 1
    assert ours[0].startswith(f"error: {url}v1/models/mnist_cnn/metadata: HTTP 404: ")


def test_predict_with_a_rest_address_that_is_no_url_is_one_error_line(capsys):
    rc = cli.main(["predict", "--model", "text_lstm", "--rest", "localhost:8501", "the"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [
        "error: localhost:8501/v1/models/text_lstm/metadata: not an http:// or https:// "
        "URL; REST wants e.g. http://localhost:8501"]


@pytest.mark.parametrize("flag", ["--rest", "--grpc"])
def test_predict_with_nobody_listening_is_one_error_line(tmp_path, capsys, flag):
    import socket
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
    endpoint = f"http://{address}" if flag == "--rest" else address
    rc = cli.main(["predict", "--model", "text_lstm", flag, endpoint, "the meaning of"])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {endpoint}")
    assert ("Connection refused" if flag == "--rest" else "UNAVAILABLE") in err


def test_report_runs_and_tensorboard_without_runs_name_the_folder(tmp_path, capsys):
    for command in (["report"], ["runs"], ["tensorboard", "--print"]):
        assert cli.main(command + ["--workspace", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert f"{tmp_path}/metadata: no pipeline runs here" in err, command
    assert os.listdir(tmp_path) == []  # nothing written


@pytest.mark.parametrize("command", ["run", "compile"])
def test_an_unknown_corpus_is_refused_with_the_task_tables_list(command, capsys):
    from pipelines import tasks  # pylint: disable=import-outside-toplevel
    assert cli.main([command, "mnst"]) == 2
    err = capsys.readouterr().err
    assert "unknown corpus 'mnst'" in err and ", ".join(tasks.corpora()) in err
    assert "Traceback" not in err


def test_a_full_disk_is_one_error_line_naming_the_folder(tmp_path, capsys, monkeypatch):
    from pipelines import console  # pylint: disable=import-outside-toplevel
    from pipelines.runners import local as local_runner  # pylint: disable=import-outside-toplevel

    def fail(config, echo=print):
        console.log_to(str(tmp_path / "run.log"))  # stderr is the log file from here on
        try:
            raise OSError(28, "No space left on device", f"{config.pipeline_root}/T/x.gz")
        except OSError as e:
            raise local_runner.PipelineRunError(
                "Trainer.softmax", local_runner.reported_cause(e), "run.log",
                config.pipeline_root) from e
    monkeypatch.setattr(local_runner, "run_pipeline", fail)
    ws = tmp_path / "ws"
    rc = cli.main(["run", "mnist", "--models", "softmax", "--workspace", str(ws)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err[-2] == "full log (with tracebacks): run.log"
    assert err[-1] == (f"error: component Trainer.softmax failed: no space left on device "
                       f"under {ws}/pipelines/classics-mnist/T; nothing was pushed (free "
                       f"space there, or give --workspace or --pipeline-root on another "
                       f"disk, and run again)")
    # Before any component: the run's own folders.
    monkeypatch.setattr(local_runner, "run_pipeline", lambda config, echo=print: (
        _ for _ in ()).throw(OSError(28, "No space left on device", str(ws / "logs"))))
    rc = cli.main(["run", "mnist", "--models", "softmax", "--workspace", str(ws)])
    assert rc == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"error: no space left on device under {ws / 'logs'}; nothing was pushed")


def test_a_report_that_cannot_be_written_is_a_warning_on_the_terminal(tmp_path, capsys,
                                                                       monkeypatch):
    from pipelines import console  # pylint: disable=import-outside-toplevel
    from pipelines.report import page  # pylint: disable=import-outside-toplevel

    def fail(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / "reports"))
    monkeypatch.setattr(page, "write", fail)
    with console.Quiet():  # as in a run: stderr is the log file by now
        console.log_to(str(tmp_path / "run.log"))
        cli._write_report(str(tmp_path), "classics-mnist", "1")  # pylint: disable=protected-access
    assert capsys.readouterr().err == (f"warning: no run report written: PermissionError: "
                                       f"[Errno 13] Permission denied: '{tmp_path}/reports'\n")


@pytest.fixture
def full_disk(tmp_path):
    """A 128 KiB tmpfs (root only; skipped where mounting is not allowed)."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


@pytest.mark.e2e
def test_a_run_whose_pipeline_root_fills_up_names_it(tmp_path, capsys, full_disk):
    data = tmp_path / "data"
    data.mkdir()
    words = [f"w{i:04d}x{i * 7919 % 10007}" for i in range(5000)]
    with open(data / "corpus.txt", "w") as f:  # 1.5 MB: its examples do not fit in 128 KiB
        for line in range(20000):
            f.write(" ".join(words[(line * 13 + k * 101) % 5000] for k in range(12)) + "\n")
    ws = tmp_path / "ws"
    rc = cli.main(["run", "text", "--models", "skipgram", "--data", str(data),
                   "--workspace", str(ws), "--pipeline-root", str(full_disk)])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.strip().splitlines()[-1] == (
        f"error: component TextExampleGen failed: no space left on device under "
        f"{full_disk}/classics-text; nothing was pushed (free space there, or give "
        f"--workspace or --pipeline-root on another disk, and run again)"), err
    assert "Traceback" not in err and "Errno" not in err
    assert _published_examples(ws, "classics-text") == 0
    assert os.listdir(ws / "serving") == []
