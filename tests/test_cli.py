"""The `classics` command line: argument errors, data fetch, and a failing run's report."""
import hashlib
import os
import sqlite3

import pytest

from components import datasets
from pipelines import cli
from tests.mnist_fixtures import synthetic_digits, write_mnist


def test_unknown_model_is_refused_before_anything_runs(tmp_path, capsys):
    rc = cli.main(["run", "mnist", "--models", "softmax,bogus", "--workspace", str(tmp_path)])
    assert rc == 2
    assert "unknown model(s) bogus" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


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


@pytest.mark.e2e
def test_bad_idx_file_fails_the_run_naming_the_file(tmp_path, capsys):
    x, y = synthetic_digits(30)
    data = write_mnist(str(tmp_path / "data"), x, y, "train")
    images = os.path.join(data, "train-images-idx3-ubyte")
    with open(images, "r+b") as f:
        f.truncate(os.path.getsize(images) - 50)  # a cut-off download
    ws = tmp_path / "ws"
    rc = cli.main(["run", "mnist", "--models", "softmax", "--data", data, "--workspace", str(ws)])
    err = capsys.readouterr().err
    assert rc == 1
    assert "component MnistExampleGen failed" in err and images in err and "truncated" in err
    # Nothing was published as Examples, and no split files were left on disk.
    db = sqlite3.connect(ws / "metadata" / "classics-mnist.sqlite")
    published = db.execute("SELECT COUNT(*) FROM Artifact a JOIN Type t ON a.type_id = t.id "
                           "WHERE t.name = 'Examples'").fetchone()[0]
    assert published == 0
    leftovers = [os.path.join(r, f) for r, _, fs in os.walk(ws / "pipelines") for f in fs
                 if f.endswith(".gz")]
    assert leftovers == []


def test_literal_choice_lists_match_the_registries():
    from pipelines import tasks
    from pipelines.corpora import IMAGE_CORPORA
    assert cli.RUN_CORPUS_NAMES == tasks.corpora()
    assert set(IMAGE_CORPORA) == set(tasks.TASKS["image"].corpora)
    assert sorted(cli.DATASET_NAMES) == sorted(datasets.DATASETS)


def test_image_size_argument():
    args = cli.build_parser().parse_args(["run", "folder", "--image-size", "64x48x3"])
    assert args.image_size == (64, 48, 3)
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "folder", "--image-size", "64x48x2"])
