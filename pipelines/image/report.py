"""The image classifiers' part of the run report, read from the Evaluator's output.

TFMA writes, in the evaluation artifact: the eval config it applied (with the change
threshold only when a model was in service), the metrics per slice (overall and per true
class), the plots (the `MultiClassConfusionMatrixPlot` the image pipeline asks for) and
the validation result (which thresholds failed). This section turns them into the gate
table, the verdict, per-class accuracy and a confusion matrix; nothing is recomputed.
"""
from __future__ import annotations

import json
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.writers import eval_config_writer

from components.image import evaluator as image_evaluator
from pipelines.report import kit as report_kit
from pipelines.report.runs import ModelResult, RunReport
from pipelines.report.kit import GateCheck, TaskSection
from trainer.contract import CLASS_NAMES_PROPERTY, LABEL_KEY

CONFUSION_PLOT = "multi_class_confusion_matrix_plot"
BASELINE = image_evaluator.BASELINE

_FRAGMENT = """
<h4>Per-class accuracy (eval split)</h4>
{% if per_class %}
<table class="grid"><tr><th>class</th><th>examples</th><th>accuracy</th>
{% if has_baseline %}<th>baseline</th>{% endif %}</tr>
{% for row in per_class %}<tr><td>{{ row.name }}</td><td>{{ row.count }}</td>
<td>{{ row.accuracy }}</td>{% if has_baseline %}<td>{{ row.baseline }}</td>{% endif %}</tr>
{% endfor %}</table>
{% else %}<p>No per-class slices in this evaluation.</p>{% endif %}
{% for fig in figures %}<figure><img src="{{ fig.data_uri }}" alt="{{ fig.title }}">
<figcaption>{{ fig.title }}</figcaption></figure>{% endfor %}
{% if not confusion %}<p>No confusion matrix in this evaluation (the Evaluator ran
without MultiClassConfusionMatrixPlot).</p>{% endif %}
"""


def _is_candidate(key) -> bool:
    return key.model_name != BASELINE


def _overall_and_classes(evaluation_uri: str):
    """{(metric, model is baseline, is_diff): value} overall, and per class
    {class id: {metric: (candidate, baseline)}}."""
    overall: Dict[Tuple[str, bool, bool], float] = {}
    classes: Dict[int, Dict[str, List[Optional[float]]]] = {}
    for sm in tfma.load_metrics(evaluation_uri):
        keys = sm.slice_key.single_slice_keys
        for kv in sm.metric_keys_and_values:
            if not kv.value.HasField("double_value"):
                continue
            value = kv.value.double_value.value
            if not keys:
                overall[(kv.key.name, not _is_candidate(kv.key), kv.key.is_diff)] = value
            elif len(keys) == 1 and keys[0].column == LABEL_KEY and not kv.key.is_diff:
                row = classes.setdefault(int(keys[0].int64_value), {})
                row.setdefault(kv.key.name, [None, None])[
                    0 if _is_candidate(kv.key) else 1] = value
    return overall, classes


def _bar(threshold) -> str:
    if threshold.HasField("value_threshold"):
        t = threshold.value_threshold
        parts = []
        if t.HasField("lower_bound"):
            parts.append(f">= {t.lower_bound.value:g}")
        if t.HasField("upper_bound"):
            parts.append(f"<= {t.upper_bound.value:g}")
        return " and ".join(parts)
    t = threshold.change_threshold
    higher = t.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    parts = []
    if t.HasField("absolute"):
        allowed = abs(t.absolute.value)
        parts.append(("no drop below the baseline" if higher else "no rise above the baseline")
                     if allowed < 1e-6 else
                     f"at most {allowed:g} {'below' if higher else 'above'} the baseline")
    if t.HasField("relative"):
        parts.append(f"relative change {'>=' if higher else '<='} {t.relative.value:g}")
    return " and ".join(parts)


def gate_checks(evaluation_uri: str) -> Tuple[List[GateCheck], List[str]]:
    """The overall-slice thresholds the Evaluator applied, with the figures and the
    validation outcome; and the failures in words."""
    eval_config = eval_config_writer.load_eval_run(evaluation_uri)[0]
    overall, _ = _overall_and_classes(evaluation_uri)
    validation = tfma.load_validation_result(evaluation_uri)
    failed = {(f.metric_key.name, f.metric_key.model_name == BASELINE,
               f.metric_key.is_diff): f
              for per_slice in validation.metric_validations_per_slice
              if not per_slice.slice_key.single_slice_keys
              for f in per_slice.failures}
    checks, failures = [], []
    thresholds = tfma.metrics.metric_thresholds_from_metrics_specs(
        eval_config.metrics_specs, eval_config=eval_config)
    for key, slices in thresholds.items():
        if not _is_candidate(key):
            continue
        for slice_spec, threshold in slices:
            if slice_spec is not None and (slice_spec.feature_keys or slice_spec.feature_values):
                continue  # only the overall slice is gated
            wrapped = tfma.MetricThreshold()
            field = ("change_threshold" if isinstance(threshold, tfma.GenericChangeThreshold)
                     else "value_threshold")
            getattr(wrapped, field).CopyFrom(threshold)
            name = key.name + (" (change)" if key.is_diff else "")
            failure = failed.get((key.name, False, key.is_diff))
            check = GateCheck(
                metric=name, candidate=overall.get((key.name, False, key.is_diff)),
                baseline=overall.get((key.name, True, False)), bar=_bar(wrapped),
                passed=failure is None if validation.ByteSize() else None)
            checks.append(check)
            if failure is not None:
                failures.append(f"{name} {report_kit.fmt(check.candidate)} fails "
                                f"{check.bar}")
    return checks, failures


def confusion_matrix(evaluation_uri: str) -> Optional[np.ndarray]:
    """[true class, predicted class] counts of the candidate on the overall slice, from
    TFMA's MultiClassConfusionMatrixPlot at threshold 0 (the top class); None without."""
    for plots in tfma.load_plots(evaluation_uri):
        if plots.slice_key.single_slice_keys:
            continue
        for kv in plots.plot_keys_and_values:
            if kv.key.name != CONFUSION_PLOT or not _is_candidate(kv.key):
                continue
            matrices = kv.value.multi_class_confusion_matrix_at_thresholds.matrices
            if not matrices:
                continue
            entries = matrices[0].entries
            n = 1 + max(max(e.actual_class_id, e.predicted_class_id) for e in entries)
            out = np.zeros((n, n))
            for e in entries:
                # Class id -1: the top prediction fell under the threshold (none at 0).
                if e.actual_class_id >= 0 and e.predicted_class_id >= 0:
                    out[e.actual_class_id, e.predicted_class_id] += e.num_weighted_examples
            return out
    return None


def class_names(run: RunReport, n: int) -> List[str]:
    """Folder corpora carry their class names on the Examples; others are numbered."""
    for node in run.nodes.values():
        for art in node.outputs.get("examples", []):
            if node.node_id.endswith("ExampleGen") and CLASS_NAMES_PROPERTY in \
                    art.custom_properties:
                names = json.loads(art.custom_properties[CLASS_NAMES_PROPERTY].string_value)
                return [str(x) for x in names] + [str(i) for i in range(len(names), n)]
    return [str(i) for i in range(n)]


def section(run: RunReport, model: ModelResult) -> TaskSection:
    if not model.evaluation_uri:
        return TaskSection(checks=[], verdict="not evaluated (the Evaluator did not run)")
    checks, failures = gate_checks(model.evaluation_uri)
    if model.blessed:
        verdict = ("blessed: " + "; ".join(f"{c.metric} {report_kit.fmt(c.candidate)} "
                                           f"meets {c.bar}" for c in checks)
                   + ("" if model.baseline_uri else " (no model in service to compare with)"))
    elif model.blessed is False:
        verdict = "not blessed: " + ("; ".join(failures) or "see the validation result")
    else:
        verdict = "no blessing recorded"

    _, classes = _overall_and_classes(model.evaluation_uri)
    matrix = confusion_matrix(model.evaluation_uri)
    n = max([len(matrix) if matrix is not None else 0] + [c + 1 for c in classes])
    names = class_names(run, n)
    accuracy = "sparse_categorical_accuracy"
    per_class, figures = [], []
    for class_id in sorted(classes):
        row = classes[class_id]
        cand, base = row.get(accuracy, [None, None])
        per_class.append({"name": names[class_id], "accuracy": report_kit.fmt(cand),
                          "baseline": report_kit.fmt(base),
                          "count": report_kit.fmt(int(row.get("example_count", [0])[0] or 0))})
    has_baseline = any(classes[c].get(accuracy, [None, None])[1] is not None for c in classes)
    if per_class:
        series = {"candidate": [classes[c].get(accuracy, [0, 0])[0] or 0.0
                                for c in sorted(classes)]}
        if has_baseline:
            series["baseline"] = [classes[c].get(accuracy, [0, 0])[1] or 0.0
                                  for c in sorted(classes)]
        figures.append(report_kit.bar_chart(
            f"{model.model}: accuracy per true class", [names[c] for c in sorted(classes)],
            series, "accuracy", ylim=(0.0, 1.0)))
    if matrix is not None:
        figures.append(report_kit.heatmap(
            f"{model.model}: confusion matrix (eval split, {int(matrix.sum())} examples)",
            matrix, names[:len(matrix)], "predicted class", "true class"))
    html = report_kit.render(_FRAGMENT, per_class=per_class, has_baseline=has_baseline,
                             figures=figures, confusion=matrix is not None)
    return TaskSection(checks=checks, verdict=verdict, html=html, figures=figures)


def read_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The summary's figures: components/image/evaluator.py's overall accuracy."""
    return image_evaluator.read_metrics(evaluation_uri)


def describe_metrics(metrics: Dict[str, float]) -> str:
    acc = metrics.get("accuracy")
    return f"eval accuracy {acc:.4f}" if acc is not None else "eval accuracy n/a"
