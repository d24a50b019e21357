"""pipelines/image/report.py: the classifier section agrees with what the Evaluator
recorded (real runs, tests/report_fixtures.py), and class names come from the data."""
import json

import numpy as np
import pytest
from ml_metadata.proto import metadata_store_pb2

from pipelines.image import report as image_report
from pipelines.report import runs as report
from tests.report_fixtures import N_EVAL, PIPELINE


def _runs(demo_runs):
    return report.list_runs(demo_runs.metadata_path, PIPELINE,
                            read_metrics=image_report.read_metrics)


@pytest.mark.e2e
def test_confusion_matrix_and_per_class_accuracy_agree_with_the_evaluation(demo_runs):
    run = _runs(demo_runs)[0]
    model = run.models[0]
    matrix = image_report.confusion_matrix(model.evaluation_uri)
    assert matrix.shape == (10, 10) and matrix.sum() == N_EVAL
    assert np.trace(matrix) / matrix.sum() == pytest.approx(model.metrics["accuracy"], abs=1e-6)
    _, classes = image_report._overall_and_classes(model.evaluation_uri)
    for class_id, row in classes.items():
        count = matrix[class_id].sum()
        assert row["example_count"][0] == count
        assert row["sparse_categorical_accuracy"][0] == pytest.approx(
            matrix[class_id, class_id] / count, abs=1e-6)
    section = image_report.section(run, model)
    assert [f.title for f in section.figures] == [
        "softmax: accuracy per true class",
        f"softmax: confusion matrix (eval split, {N_EVAL} examples)"]


@pytest.mark.e2e
def test_gate_checks_and_verdicts(demo_runs):
    first, second = _runs(demo_runs)
    checks = image_report.gate_checks(first.models[0].evaluation_uri)[0]
    assert [(c.metric, c.bar, c.passed, c.baseline) for c in checks] == [
        ("sparse_categorical_accuracy", ">= 0.3", True, None)]
    assert checks[0].candidate == pytest.approx(first.models[0].metrics["accuracy"])
    verdict = image_report.section(first, first.models[0]).verdict
    assert verdict.startswith("blessed: sparse_categorical_accuracy") and "meets >= 0.3" in verdict

    # Second run: a bar of 0.99 refuses the model; the change threshold (applied because a
    # model was in service) passes, since the served model is the same model.
    m = second.models[0]
    checks, failures = image_report.gate_checks(m.evaluation_uri)
    by_metric = {c.metric: c for c in checks}
    value = by_metric["sparse_categorical_accuracy"]
    change = by_metric["sparse_categorical_accuracy (change)"]
    assert (value.bar, value.passed) == (">= 0.99", False)
    assert value.baseline == pytest.approx(m.metrics["baseline_accuracy"])
    assert (change.bar, change.passed) == ("no drop below the baseline", True)
    assert change.candidate == pytest.approx(0.0, abs=1e-9)
    assert failures == [f"sparse_categorical_accuracy {m.metrics['accuracy']:.4f} fails >= 0.99"]
    assert image_report.section(second, m).verdict == "not blessed: " + failures[0]


def test_class_names_come_from_the_examples():
    art = metadata_store_pb2.Artifact(uri="/x")
    art.custom_properties["class_names"].string_value = json.dumps(["cat", "dog"])
    node = report.NodeRun("ImageFolderExampleGen", "COMPLETE", 1.0, {"examples": [art]}, {})
    run = report.RunReport("r", {"ImageFolderExampleGen": node}, [])
    assert image_report.class_names(run, 3) == ["cat", "dog", "2"]
    assert image_report.class_names(report.RunReport("r", {}, []), 2) == ["0", "1"]
