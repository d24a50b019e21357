"""The production loop's part of a run, read back from ML Metadata: each model's drift
gate (what its DistributionValidator measured against the data the served version was
trained on, and the verdict) and its warm start; and, from the serving repository, the
rollbacks recorded there.

Used by the end-of-run summary (pipelines/runners/local.py `format_summary`) and the HTML
report's "Drift gate" and "Rollbacks" sections (pipelines/report/page.py). The verdict
is rebuilt from the validator's published anomalies and the baseline statistics, so a
refused run (whose gate failed and published nothing) reads back like a passed one.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import markupsafe
import numpy as np
import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import statistics_pb2
from tfx.types import standard_artifacts

from components import drift_gate, served_statistics
from pipelines.nodes import node_ids
from pipelines.report import kit
from pipelines.report.runs import RunReport, ServedModel
from trainer import warm_start

_GATE = node_ids("")["drift_gate"]
_SERVED = "served version's training data"
_THIS_RUN = "this run's data"
# A string feature's plot shows this many values (the most frequent of either side).
TOP_VALUES_SHOWN = 15
NUMERIC_BINS = 10


@dataclasses.dataclass
class DriftResult:
    model: str
    state: str  # the gate node's: COMPLETE (passed), FAILED (refused or broken), ...
    verdict: drift_gate.Verdict
    statistics_uri: str  # this run's (StatisticsGen)
    baseline_uri: Optional[str]  # the served version's carried statistics (None: none)


def _artifact(cls, proto):
    art = cls()
    art.set_mlmd_artifact(proto)
    return art


def drift_results(run: RunReport) -> List[DriftResult]:
    """One per model whose drift gate node is in the run and whose validator finished."""
    out = []
    for node_id, node in run.nodes.items():
        if not node_id.startswith(_GATE):
            continue
        model = node_id[len(_GATE):]
        validator = run.nodes.get(node_ids(model)["drift_validator"])
        if not validator or not validator.outputs.get("anomalies"):
            continue
        anomalies = _artifact(standard_artifacts.ExampleAnomalies,
                              validator.outputs["anomalies"][0])
        baseline = _artifact(standard_artifacts.ExampleStatistics,
                             validator.inputs["baseline_statistics"][0])
        verdict = drift_gate.read_verdict(model, anomalies, baseline)
        out.append(DriftResult(
            model=model, state=node.state, verdict=verdict,
            statistics_uri=validator.inputs["statistics"][0].uri,
            baseline_uri=baseline.uri if drift_gate.has_statistics(baseline) else None))
    return sorted(out, key=lambda r: r.model)


def warm_start_lines(run: RunReport) -> List[str]:
    """`<model> warm start from version N` (or why not) for the models that asked."""
    lines = []
    for m in run.models:
        record = (m.training_stats or {}).get("warm_start")
        if not record:
            continue
        version = None
        trainer = run.nodes.get(node_ids(m.model)["trainer"])
        for art in (trainer.inputs.get("base_model", []) if trainer else []):
            if drift_gate.SERVED_VERSION in art.custom_properties:
                version = art.custom_properties[drift_gate.SERVED_VERSION].int_value
        lines.append(f"  {m.model:<10} {warm_start.describe(record, version)}")
    return lines


def summary_lines(run: RunReport) -> List[str]:
    """The summary's production-loop lines: the warm starts (each drift gate's verdict
    is already on the console, the line its node logged)."""
    return warm_start_lines(run)


# --------------------------------------------------------------------------- the report

def _load(uri: str) -> Dict[str, statistics_pb2.FeatureNameStatistics]:
    path = os.path.join(uri, f"{served_statistics.SPLIT_PREFIX}{drift_gate.SPLIT}",
                        served_statistics.STATISTICS_FILE)
    if not tf.io.gfile.exists(path):
        return {}
    dataset = tfdv.load_stats_binary(path).datasets[0]
    return {".".join(f.path.step) or f.name: f for f in dataset.features}


def _integer_shares(feature) -> Dict[int, float]:
    """Share of the values at each integer, from the standard histogram (a bucket's
    count split evenly over the integers it holds)."""
    counts: Dict[int, float] = {}
    for hist in feature.num_stats.histograms:
        if hist.type != hist.STANDARD:
            continue
        for b in hist.buckets:
            ints = list(range(math.ceil(b.low_value), math.floor(b.high_value) + 1)) or [
                round(b.low_value)]
            for v in ints:
                counts[v] = counts.get(v, 0.0) + b.sample_count / len(ints)
    total = sum(counts.values()) or 1.0
    return {k: v / total for k, v in counts.items()}


def _binned_shares(feature, edges: Sequence[float]) -> List[float]:
    """Share of the values in each [edges[i], edges[i+1]) bin, from the standard
    histogram (a bucket's count spread evenly over its width)."""
    shares = [0.0] * (len(edges) - 1)
    for hist in feature.num_stats.histograms:
        if hist.type != hist.STANDARD:
            continue
        for b in hist.buckets:
            width = b.high_value - b.low_value
            for i in range(len(shares)):
                lo, hi = edges[i], edges[i + 1]
                if width <= 0:
                    inside = 1.0 if lo <= b.low_value < hi or (i == len(shares) - 1
                                                               and b.low_value == hi) else 0.0
                else:
                    inside = max(0.0, min(hi, b.high_value) - max(lo, b.low_value)) / width
                shares[i] += b.sample_count * inside
    total = sum(shares) or 1.0
    return [s / total for s in shares]


def _string_shares(feature) -> Dict[str, float]:
    s = feature.string_stats
    total = s.common_stats.tot_num_values or sum(v.frequency for v in s.top_values) or 1.0
    return {v.value: v.frequency / total for v in s.top_values}


def distribution_figure(model: str, name: str, served, current) -> Optional[kit.Figure]:
    """Both distributions of one feature as grouped bars (share of values)."""
    title = f"{model}: {name}, {_SERVED} vs {_THIS_RUN}"
    kind = current.WhichOneof("stats")
    if kind != served.WhichOneof("stats"):
        return None
    if kind == "num_stats":
        integral = current.type == statistics_pb2.FeatureNameStatistics.INT
        lo = min(served.num_stats.min, current.num_stats.min)
        hi = max(served.num_stats.max, current.num_stats.max)
        if integral and hi - lo <= 20:
            a, b = _integer_shares(served), _integer_shares(current)
            keys = list(range(int(lo), int(hi) + 1))
            return kit.bar_chart(title, [str(k) for k in keys],
                                 {_SERVED: [a.get(k, 0.0) for k in keys],
                                  _THIS_RUN: [b.get(k, 0.0) for k in keys]}, "share")
        edges = _edges(lo, hi, NUMERIC_BINS + 1)
        labels = [f"{edges[i]:.3g}-{edges[i + 1]:.3g}" for i in range(NUMERIC_BINS)]
        return kit.bar_chart(title, labels, {_SERVED: _binned_shares(served, edges),
                                             _THIS_RUN: _binned_shares(current, edges)},
                             "share")
    if kind == "string_stats":
        a, b = _string_shares(served), _string_shares(current)
        keys = sorted(set(a) | set(b), key=lambda k: -max(a.get(k, 0.0), b.get(k, 0.0)))
        keys = keys[:TOP_VALUES_SHOWN]
        return kit.bar_chart(title, keys, {_SERVED: [a.get(k, 0.0) for k in keys],
                                           _THIS_RUN: [b.get(k, 0.0) for k in keys]},
                             "share of values")
    return None


def _edges(lo: float, hi: float, n: int) -> List[float]:
    """`n` bin edges from `lo` to `hi` (one value only: a bin one wide)."""
    return [float(e) for e in np.linspace(lo, hi if hi > lo else lo + 1.0, n)]


def drift_section(run: RunReport) -> Tuple[List[dict], List[kit.Figure]]:
    """The report's drift gate rows (one per model) and their figures."""
    rows, figures = [], []
    for r in drift_results(run):
        model_figures = []
        if r.verdict.compared and r.baseline_uri:
            served, current = _load(r.baseline_uri), _load(r.statistics_uri)
            for m in r.verdict.measurements:
                if m.feature in served and m.feature in current:
                    fig = distribution_figure(r.model, m.feature, served[m.feature],
                                              current[m.feature])
                    if fig is not None:
                        model_figures.append(fig)
        figures += model_figures
        rows.append({
            "model": r.model, "line": r.verdict.line(),
            "verdict": ("passed" if r.verdict.passed else "REFUSED") +
                       ("" if r.verdict.compared else " (nothing to compare with)"),
            "ok": r.verdict.passed,
            "measurements": [{"feature": m.feature,
                              "distance": drift_gate.DISTANCE_NAMES[m.distance],
                              "value": f"{m.value:.4g}", "bar": f"{m.bar:g}",
                              "passed": m.passed} for m in r.verdict.measurements],
            "problems": r.verdict.problems, "figures": model_figures})
    return rows, figures


# ------------------------------------------------------------------------- rollbacks

_ROLLBACKS = """<h3>Rollbacks</h3>
{% if rows %}<table class="grid"><tr><th>model name</th><th>from version</th>
<th>to version</th><th>by</th><th>at (UTC)</th><th>now</th></tr>
{% for r in rows %}<tr><td>{{ r.name }}</td><td>{{ r.from_version }}</td><td>{{ r.to_version }}</td><td>{{ r.user }}</td><td>{{ r.time }}</td><td class="{{ r.cls }}">{{ r.now }}</td></tr>
{% endfor %}</table>{% else %}<p>No rollback recorded.</p>{% endif %}
{% for e in errors %}<p class="bad">{{ e }}</p>{% endfor %}"""


def rollback_rows(served: Sequence[ServedModel]) -> List[dict]:
    """One row per rollback recorded in the serving repository (each model name's
    rollback.json, trainer/serving/rollback.py), oldest first: from and to which version,
    who, when, and whether its target is what TF Serving serves now."""
    rows = []
    for s in served:
        for entry in s.history:
            if entry is s.rollback:
                now, cls = f"in force: version {s.version} served", ""
            else:
                now, cls = f"ended: version {s.version} served now", "dim"
            rows.append({"name": s.name, "from_version": entry.from_version,
                         "to_version": entry.to_version, "user": entry.user,
                         "time": entry.time, "now": now, "cls": cls})
    return rows


def rollbacks_html(served: Sequence[ServedModel]) -> markupsafe.Markup:
    """The report's "Rollbacks" part, under what TF Serving serves now."""
    return kit.render(_ROLLBACKS, rows=rollback_rows(served),
                      errors=[s.record_error for s in served if s.record_error])
