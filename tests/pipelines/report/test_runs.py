"""pipelines/report/runs.py: runs read back from ML Metadata, and their lineage, checked
against two real `classics run` invocations (tests/report_fixtures.py)."""
import os

import pytest

from pipelines import cli
from pipelines.image import report as image_report
from pipelines.report import runs as report
from tests.report_fixtures import PIPELINE

pytestmark = pytest.mark.e2e


def _runs(demo_runs):
    return report.list_runs(demo_runs.metadata_path, PIPELINE,
                            read_metrics=image_report.read_metrics)


def test_runs_and_their_lineage(demo_runs):
    first, second = _runs(demo_runs)
    assert first.created_ms <= second.created_ms and first.pipeline == PIPELINE
    # Same input files: the second run's ExampleGen and Trainer were served from the cache,
    # so the same Examples produced the same Model.
    d1, d2 = first.data_source(), second.data_source()
    assert (d1.state, d2.state) == ("COMPLETE", "CACHED")
    assert d1.examples_id == d2.examples_id and d1.input_base == demo_runs.data
    assert d1.span == 0 and d1.fingerprint and d1.fingerprint == d2.fingerprint
    m1, m2 = first.models[0], second.models[0]
    assert (m1.model, m1.trained, m2.trained) == ("softmax", True, False)
    assert m1.model_id == m2.model_id and m1.model_uri == m2.model_uri
    assert m1.blessed and m1.pushed_path and m1.baseline_uri is None
    assert m2.blessed is False and m2.pushed_path is None
    # The second run was compared with the version the first one pushed.
    assert m2.served_version == int(os.path.basename(m1.pushed_path))
    assert m2.metrics["baseline_accuracy"] == pytest.approx(m1.metrics["accuracy"])
    assert m1.serving_name == m2.serving_name == "mnist_softmax"

    root = report.serving_root_of([first, second])
    assert root == os.path.join(demo_runs.workspace, "serving")
    served = report.serving_now(root, [first, second])
    assert [(s.name, s.version, s.run_id, s.model_id) for s in served] == [
        ("mnist_softmax", m2.served_version, first.run_id, m1.model_id)]


def test_runs_command_prints_the_lineage(demo_runs, capsys):
    first, second = _runs(demo_runs)
    assert cli.main(["runs", "--workspace", demo_runs.workspace, "--pipeline", "mnist"]) == 0
    out = capsys.readouterr().out
    text = report.format_runs([first, second], report.serving_now(
        report.serving_root_of([first, second]), [first, second]),
        image_report.describe_metrics)
    assert out.endswith(text + "\n")
    lines = out.splitlines()
    # Newest first; each run says which data made which model and what became of it.
    assert lines[1].startswith(f"run {second.run_id}")
    assert lines[1 + 3].startswith(f"run {first.run_id}")
    version = os.path.basename(first.models[0].pushed_path)
    m = first.models[0]
    assert f"Examples #{first.data_source().examples_id} from {demo_runs.data}" in lines[2]
    assert f"Model #{m.model_id} cached" in lines[3] and "NOT blessed; not pushed" in lines[3]
    assert (f"Model #{m.model_id} trained; eval accuracy {m.metrics['accuracy']:.4f}; "
            f"blessed; pushed mnist_softmax/{version} (serving now)") in lines[6]
    assert lines[-1] == (f"  mnist_softmax    version {version}  Model #{m.model_id} "
                         f"(softmax) from run {first.run_id}")


def test_read_run_by_id_or_prefix(demo_runs):
    first, second = _runs(demo_runs)
    assert report.read_run(demo_runs.metadata_path, PIPELINE).run_id == second.run_id
    assert report.read_run(demo_runs.metadata_path, PIPELINE,
                           first.run_id[:-3]).run_id == first.run_id
    with pytest.raises(KeyError, match="2 runs match"):
        report.read_run(demo_runs.metadata_path, PIPELINE, first.run_id[:4])
    with pytest.raises(KeyError, match="no run 'nope'"):
        report.read_run(demo_runs.metadata_path, PIPELINE, "nope")
    with pytest.raises(LookupError, match="no runs of pipeline"):
        report.read_run(demo_runs.metadata_path, "classics-cifar10")
