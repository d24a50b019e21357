"""End to end: `classics run mnist` on a data folder of two span folders reads the newest,
and `classics runs` and the HTML report say which span; `--span 1` pins the first under
LocalDagRunner too (its range_config reaching TFX's driver through the pipeline IR)."""
import glob
import os

import pytest
from tfx import v1 as tfx

from components import mnist_example_gen
from pipelines import cli
from pipelines.report import runs as report
from tests.mnist_fixtures import real_digits, write_mnist

pytestmark = pytest.mark.e2e

SIZES = {1: (30, 10), 2: (50, 10)}  # span -> (train, t10k) digits


@pytest.fixture(scope="module")
def span_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("spans")
    data = str(root / "data")
    for span, (n_train, n_test) in SIZES.items():
        (x, y), (tx, ty) = real_digits(n_train, n_test)
        write_mnist(os.path.join(data, f"span-{span}"), x, y, "train", gz=True)
        write_mnist(os.path.join(data, f"span-{span}"), tx, ty, "t10k", gz=True)
    return root, data


@pytest.fixture(scope="module")
def newest_run(span_data):
    root, data = span_data
    ws = str(root / "ws")
    rc = cli.main(["run", "mnist", "--models", "softmax", "--epochs", "1", "--data", data,
                   "--workspace", ws, "--min-accuracy", "0"])
    assert rc == 0
    return ws, data


def test_the_newest_span_is_read_and_shown_by_runs_and_the_report(newest_run, capsys):
    ws, data = newest_run
    metadata = os.path.join(ws, "metadata", "classics-mnist.sqlite")
    run = report.read_run(metadata, "classics-mnist")
    source = run.data_source()
    assert (source.input_base, source.span) == (data, 2)
    assert run.models[0].training_stats["train_examples"] == SIZES[2][0]
    capsys.readouterr()
    assert cli.main(["runs", "--workspace", ws, "--pipeline", "mnist"]) == 0
    out = capsys.readouterr().out
    assert f"from {data} span 2, fingerprint " in out
    pages = glob.glob(os.path.join(ws, "reports", "classics-mnist-*.html"))  # this run's
    assert len(pages) == 1
    with open(pages[0]) as f:
        assert f"<code>{data}</code>\n(span 2, input fingerprint" in f.read()


def test_a_pinned_span_under_local_dag_runner(span_data):
    """Only the ExampleGen, so that the run is short: the span pinned at construction
    is what TFX's driver reads and records in ML Metadata."""
    root, data = span_data
    metadata = str(root / "pinned.sqlite")
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="spans-pinned", pipeline_root=str(root / "pinned"),
        components=[mnist_example_gen.create(data, span=1)],
        metadata_connection_config=tfx.orchestration.metadata
        .sqlite_metadata_connection_config(metadata))
    tfx.orchestration.LocalDagRunner().run(pipeline)
    source = report.read_run(metadata, "spans-pinned").data_source()
    assert source.span == 1
    assert "num_files:2,total_bytes:" in source.fingerprint
    assert os.path.getsize(os.path.join(data, "span-1", "train-images-idx3-ubyte.gz")) \
        != os.path.getsize(os.path.join(data, "span-2", "train-images-idx3-ubyte.gz"))
    fingerprint = {
        split: sum(os.path.getsize(p) for p in glob.glob(os.path.join(
            data, "span-1", f"{prefix}-*-idx[13]-ubyte*")))
        for split, prefix in (("train", "train"), ("eval", "t10k"))}
    for split, size in fingerprint.items():
        assert f"split:{split},num_files:2,total_bytes:{size}," in source.fingerprint
