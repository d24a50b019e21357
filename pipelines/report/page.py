"""The HTML report of one pipeline run (`classics report`, and the end of `classics run`).

Everything comes from ML Metadata and the run's artifacts (pipelines/report/runs.py finds
them; files are read through tf.io.gfile, as the components wrote them): the components'
states and times; the data (StatisticsGen's statistics and ExampleValidator's
anomalies, loaded with TFDV); each model's drift gate with both distributions of every
checked feature (pipelines/report/production.py); per model the training curves (the
Trainer's TensorBoard event files), the training figures, the gate (candidate, served
baseline, bars, verdict), the pushed version, and the task's own section (the task
table's `report_section`: per-class accuracy and confusion matrix for classifiers, word
scores and neighbours for word2vec); and the lineage (input data, model artifacts, what
TF Serving serves now). One self-contained HTML file: images are PNG data: URIs, no
scripts, no external resources. Also the TensorBoard command for a run's Trainer logs
(`classics tensorboard`).
"""
from __future__ import annotations

import dataclasses
import glob
import json
import math
import os
import re
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf
import tensorflow_data_validation as tfdv
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util
from tensorflow_data_validation.utils import anomalies_util
from tensorflow_metadata.proto.v0 import statistics_pb2

from pipelines import tasks
from pipelines.report import production
from pipelines.report import runs as report
from pipelines.report import kit as report_kit
from pipelines.report.kit import Figure, TaskSection

STATISTICS_FILE = "FeatureStats.pb"  # tfx.components.statistics_gen.executor
ANOMALIES_FILE = "SchemaDiff.pb"  # tfx.components.example_validator.executor
# Training figures shown in the report (training_stats.json holds more).
STATS_SHOWN = ("strategy", "replicas", "epochs", "resumed_at_epoch", "global_batch_size",
               "train_examples", "train_tokens", "vocab_size", "params", "fit_seconds",
               "examples_per_sec", "words_per_sec", "final_train_loss",
               "final_eval_accuracy", "heldout_loss")


@dataclasses.dataclass
class Page:
    run: report.RunReport
    html: str
    figures: List[Figure]


# ----------------------------------------------------------------------- finding runs

def metadata_files(workspace: str) -> List[str]:
    return sorted(glob.glob(os.path.join(workspace, "metadata", "*.sqlite")))


def find_pipeline(workspace: str, pipeline: Optional[str] = None) -> Tuple[str, str]:
    """(pipeline name, metadata path): `pipeline` is a pipeline name or a corpus (`mnist`
    means `classics-mnist`); None picks the pipeline that ran last."""
    found = {os.path.splitext(os.path.basename(p))[0]: p for p in metadata_files(workspace)}
    if not found:
        raise FileNotFoundError(f"{os.path.join(workspace, 'metadata')}: no pipeline runs "
                                "here (run `classics run <corpus>` first, or pass --workspace)")
    if pipeline is None:
        name = max(found, key=lambda n: os.path.getmtime(found[n]))
        return name, found[name]
    for name in (pipeline, f"classics-{pipeline}"):
        if name in found:
            return name, found[name]
    raise KeyError(f"no runs of pipeline {pipeline!r} in {workspace}; "
                   f"known: {', '.join(sorted(found))}")


def task_of(run: report.RunReport) -> Optional[tasks.Task]:
    """The run's task, from its models' registry entries (None: no model trained)."""
    for m in run.models:
        try:
            return tasks.of_model(m.model)
        except KeyError:
            continue
    return None


def read(metadata_path: str, pipeline: str, run_id: Optional[str] = None
         ) -> Tuple[report.RunReport, Optional[tasks.Task]]:
    """A run with its task's metrics filled in."""
    run = report.read_run(metadata_path, pipeline, run_id)
    task = task_of(run)
    if task is not None:
        for m in run.models:
            if m.evaluation_uri:
                m.metrics = task.read_metrics(m.evaluation_uri)
    return run, task


def read_all(metadata_path: str, pipeline: str
             ) -> Tuple[List[report.RunReport], Optional[tasks.Task]]:
    """Every run of the pipeline, oldest first, with its task's metrics filled in."""
    runs = report.list_runs(metadata_path, pipeline)
    task = next((t for t in map(task_of, reversed(runs)) if t is not None), None)
    if task is not None:
        for m in (m for r in runs for m in r.models if m.evaluation_uri):
            m.metrics = task.read_metrics(m.evaluation_uri)
    return runs, task


def report_path(workspace: str, pipeline: str, run_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "", run_id)
    return os.path.join(workspace, "reports", f"{pipeline}-{safe}.html")


# ------------------------------------------------------------------------------- data

def _split_dirs(artifact) -> List[Tuple[str, str]]:
    names = json.loads(artifact.properties["split_names"].string_value) \
        if "split_names" in artifact.properties else []
    return [(n, os.path.join(artifact.uri, f"Split-{n}")) for n in names]


def _feature_row(feature) -> Dict[str, str]:
    kind = feature.WhichOneof("stats")
    common = (getattr(feature, kind).common_stats if kind in ("num_stats", "string_stats")
              else None)
    row = {"feature": feature.path.step[-1] if feature.path.step else feature.name,
           "type": statistics_pb2.FeatureNameStatistics.Type.Name(feature.type),
           "present": "", "missing": "", "per_example": "", "range": "", "top": ""}
    if common is not None:
        row["present"] = f"{common.num_non_missing:,}"
        row["missing"] = f"{common.num_missing:,}"
        row["per_example"] = (f"{common.avg_num_values:.1f} (min {common.min_num_values}, "
                         f"max {common.max_num_values})")
    if kind == "num_stats":
        s = feature.num_stats
        row["range"] = f"{s.min:g} .. {s.max:g} (mean {s.mean:.3g}, sd {s.std_dev:.3g})"
    elif kind == "string_stats":
        s = feature.string_stats
        row["range"] = f"{s.unique:,} unique, avg length {s.avg_length:.1f}"
        row["top"] = ", ".join(f"{v.value} ({int(v.frequency):,})" for v in s.top_values[:5])
    return row


def _histogram_figure(split: str, feature) -> Optional[Figure]:
    """Value histogram of a single-valued numeric feature (e.g. the label)."""
    if feature.WhichOneof("stats") != "num_stats" or \
            feature.num_stats.common_stats.max_num_values != 1:
        return None
    standard = [h for h in feature.num_stats.histograms if h.type == h.STANDARD]
    if not standard or not standard[0].buckets:
        return None
    buckets = standard[0].buckets
    integral = feature.type == statistics_pb2.FeatureNameStatistics.INT
    # Integer features (a class label): a bucket one wide holds one value.
    labels = [str(math.ceil(b.low_value)) if integral and b.high_value - b.low_value <= 1
              else f"{b.low_value:.3g}-{b.high_value:.3g}" for b in buckets]
    name = feature.path.step[-1] if feature.path.step else feature.name
    return report_kit.bar_chart(f"{split}: {name} histogram", labels,
                                {split: [b.sample_count for b in buckets]}, "examples")


def data_section(run: report.RunReport) -> Dict:
    """Per split: example count, feature table, histograms; and the anomalies."""
    out = {"splits": [], "anomalies": [], "figures": [], "validated": False}
    stats_node = run.nodes.get("StatisticsGen")
    if stats_node and stats_node.outputs.get("statistics"):
        for split, folder in _split_dirs(stats_node.outputs["statistics"][0]):
            path = os.path.join(folder, STATISTICS_FILE)
            if not tf.io.gfile.exists(path):
                continue
            dataset = tfdv.load_stats_binary(path).datasets[0]
            figures = [f for f in (_histogram_figure(split, feat) for feat in dataset.features)
                       if f is not None]
            out["splits"].append({"name": split, "examples": f"{dataset.num_examples:,}",
                                  "features": [_feature_row(f) for f in dataset.features],
                                  "figures": figures})
            out["figures"] += figures
    validator = run.nodes.get("ExampleValidator")
    if validator and validator.outputs.get("anomalies"):
        for split, folder in _split_dirs(validator.outputs["anomalies"][0]):
            path = os.path.join(folder, ANOMALIES_FILE)
            if not tf.io.gfile.exists(path):
                continue
            out["validated"] = True
            anomalies = anomalies_util.load_anomalies_binary(path)
            for feature, info in sorted(anomalies.anomaly_info.items()):
                out["anomalies"].append({
                    "split": split, "feature": feature,
                    "severity": type(info).Severity.Name(info.severity),
                    "description": info.description or info.short_description})
            if anomalies.HasField("dataset_anomaly_info"):
                info = anomalies.dataset_anomaly_info
                out["anomalies"].append({
                    "split": split, "feature": "(dataset)",
                    "severity": type(info).Severity.Name(info.severity),
                    "description": info.description or info.short_description})
    return out


# --------------------------------------------------------------------------- training

def training_curves(model_run_uri: str) -> Dict[str, Dict[str, List[Tuple[float, float]]]]:
    """`{tag: {run: [(step, value)]}}` of the scalars under `<model_run>/logs/<run>/`
    (Keras' TensorBoard callback: `train`, `validation`)."""
    curves: Dict[str, Dict[str, List[Tuple[float, float]]]] = {}
    logs = os.path.join(model_run_uri, "logs")
    if not tf.io.gfile.isdir(logs):
        return curves
    for run_name in sorted(n.rstrip("/") for n in tf.io.gfile.listdir(logs)):
        folder = os.path.join(logs, run_name)
        if not tf.io.gfile.isdir(folder):
            continue
        acc = event_accumulator.EventAccumulator(
            folder, size_guidance={event_accumulator.TENSORS: 0,
                                   event_accumulator.SCALARS: 0})
        acc.Reload()
        tags = acc.Tags()
        for tag in tags.get("tensors", []):
            points = []
            for event in acc.Tensors(tag):
                value = tensor_util.make_ndarray(event.tensor_proto)
                if value.shape == () and value.dtype.kind == "f":
                    points.append((event.step, float(value)))
            if points:
                curves.setdefault(tag, {})[run_name] = points
        for tag in tags.get("scalars", []):
            curves.setdefault(tag, {})[run_name] = [(e.step, e.value)
                                                    for e in acc.Scalars(tag)]
    return curves


def curve_figures(model: str, curves) -> List[Figure]:
    """Per-epoch metrics (`epoch_*`, x = epoch from 1) in one figure; per-step scalars
    in another. Keras' `*_vs_iteration` evaluation tags and the learning rate repeat
    what the epoch curves show, so they are left out."""
    per_epoch = {tag[len("epoch_"):]: {run: [(s + 1, v) for s, v in pts]
                                       for run, pts in series.items()}
                 for tag, series in sorted(curves.items())
                 if tag.startswith("epoch_") and tag != "epoch_learning_rate"}
    per_step = {tag: series for tag, series in sorted(curves.items())
                if not tag.startswith("epoch_") and "_vs_iteration" not in tag}
    figures = []
    if per_epoch:
        figures.append(report_kit.line_chart(f"{model}: training curves", per_epoch))
    if per_step:
        figures.append(report_kit.line_chart(f"{model}: per-step training scalars",
                                             per_step, xlabel="optimizer step"))
    return figures


# ------------------------------------------------------------------------------- page

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ run.pipeline }} run {{ run.run_id }}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1100px;
       color: #1d232b; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { border-bottom: 1px solid #d8dde3;
  padding-bottom: 4px; margin-top: 32px; } h3 { margin-bottom: 6px; }
table.grid { border-collapse: collapse; margin: 8px 0 12px; }
table.grid td, table.grid th { border: 1px solid #d8dde3; padding: 3px 8px;
  text-align: left; vertical-align: top; }
table.grid th { background: #f3f5f7; }
.ok { color: #11703a; font-weight: 600; } .bad { color: #b3261e; font-weight: 600; }
.dim { color: #6b7480; } figure { margin: 8px 0 16px; } img { max-width: 100%; }
figcaption { color: #6b7480; font-size: 12px; }
.model { border: 1px solid #d8dde3; border-radius: 6px; padding: 4px 16px 12px;
  margin: 16px 0; }
</style></head><body>
<h1>{{ run.pipeline }}: run {{ run.run_id }}</h1>
<p class="dim">started {{ started }}; read from {{ metadata_path }}; written {{ written }}</p>

<h2>Models</h2>
<table class="grid"><tr><th>model</th><th>{{ metric_title }}</th><th>gate</th>
<th>compared with</th><th>pushed</th></tr>
{% for m in models %}<tr><td><a href="#model-{{ m.name }}">{{ m.name }}</a></td>
<td>{{ m.summary }}</td>
<td class="{{ m.bless_class }}">{{ m.bless }}</td><td>{{ m.baseline }}</td>
<td>{{ m.pushed }}</td></tr>{% endfor %}
</table>

<h2>Data</h2>
{% if data_source %}<p>ExampleGen read <code>{{ data_source.input_base }}</code>
(span {{ data_source.span }}, input fingerprint {{ data_source.fingerprint_digest or "n/a" }},
Examples artifact #{{ data_source.examples_id }}, {{ data_source.how }}).</p>{% endif %}
{% for split in data.splits %}
<h3>split {{ split.name }}: {{ split.examples }} examples</h3>
<table class="grid"><tr><th>feature</th><th>type</th><th>present</th><th>missing</th>
<th>values per example</th><th>range / unique</th><th>top values</th></tr>
{% for f in split.features %}<tr><td>{{ f.feature }}</td><td>{{ f.type }}</td>
<td>{{ f.present }}</td><td>{{ f.missing }}</td><td>{{ f.per_example }}</td>
<td>{{ f.range }}</td><td>{{ f.top }}</td></tr>{% endfor %}
</table>
{% for fig in split.figures %}<figure><img src="{{ fig.data_uri }}" alt="{{ fig.title }}">
<figcaption>{{ fig.title }}</figcaption></figure>{% endfor %}
{% else %}<p>No statistics in this run.</p>{% endfor %}
<h3>Anomalies (ExampleValidator against the inferred schema)</h3>
{% if data.anomalies %}
<table class="grid"><tr><th>split</th><th>feature</th><th>severity</th><th>description</th></tr>
{% for a in data.anomalies %}<tr><td>{{ a.split }}</td><td>{{ a.feature }}</td>
<td class="bad">{{ a.severity }}</td><td>{{ a.description }}</td></tr>{% endfor %}
</table>
{% elif data.validated %}<p class="ok">No anomalies.</p>
{% else %}<p>ExampleValidator did not run.</p>{% endif %}

<h2>Drift gate</h2>
{% for d in drift %}
<h3>{{ d.model }}: <span class="{{ 'ok' if d.ok else 'bad' }}">{{ d.verdict }}</span></h3>
<p>{{ d.line }}</p>
{% if d.measurements %}<table class="grid"><tr><th>feature</th><th>distance</th>
<th>measured</th><th>bar</th><th>result</th></tr>
{% for m in d.measurements %}<tr><td>{{ m.feature }}</td><td>{{ m.distance }}</td>
<td>{{ m.value }}</td><td>{{ m.bar }}</td>
<td class="{{ 'ok' if m.passed else 'bad' }}">{{ 'pass' if m.passed else 'FAIL' }}</td></tr>
{% endfor %}</table>{% endif %}
{% for p in d.problems %}<p class="bad">{{ p }}</p>{% endfor %}
{% for fig in d.figures %}<figure><img src="{{ fig.data_uri }}" alt="{{ fig.title }}">
<figcaption>{{ fig.title }}</figcaption></figure>{% endfor %}
{% else %}<p>No drift gate ran in this run.</p>{% endfor %}

{% for m in models %}
<div class="model" id="model-{{ m.name }}">
<h2>{{ m.name }}</h2>
<p><span class="{{ m.bless_class }}">{{ m.verdict }}</span></p>
<table class="grid">
<tr><th>model artifact</th><td>{{ m.artifact }}</td></tr>
<tr><th>compared with</th><td>{{ m.baseline }}</td></tr>
<tr><th>pushed</th><td>{{ m.pushed }}</td></tr>
</table>
<h4>Gate</h4>
{% if m.checks %}
<table class="grid"><tr><th>metric</th><th>candidate</th><th>baseline</th><th>bar</th>
<th>result</th></tr>
{% for c in m.checks %}<tr><td>{{ c.metric }}</td><td>{{ fmt(c.candidate) }}</td>
<td>{{ fmt(c.baseline) }}</td><td>{{ c.bar }}</td>
<td class="{{ 'ok' if c.passed else ('bad' if c.passed is sameas false else 'dim') }}">
{{ 'pass' if c.passed else ('FAIL' if c.passed is sameas false else 'n/a') }}</td></tr>
{% endfor %}</table>
{% else %}<p>No gate checks recorded.</p>{% endif %}
<h4>Training</h4>
{% for fig in m.curves %}<figure><img src="{{ fig.data_uri }}" alt="{{ fig.title }}">
<figcaption>{{ fig.title }}</figcaption></figure>
{% else %}<p>No TensorBoard logs for this model.</p>{% endfor %}
{% if m.stats %}<table class="grid">
{% for k, v in m.stats %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
</table>{% endif %}
{{ m.section_html }}
</div>
{% endfor %}

<h2>Lineage</h2>
<table class="grid"><tr><th>model</th><th>trained from</th><th>model artifact</th>
<th>blessed</th><th>pushed</th></tr>
{% for m in models %}<tr><td>{{ m.name }}</td><td>{{ m.data }}</td><td>{{ m.artifact }}</td>
<td>{{ m.bless }}</td><td>{{ m.pushed }}</td></tr>{% endfor %}
</table>
<h3>What TF Serving serves now ({{ serving_root or "no serving repository" }})</h3>
{% if served %}<table class="grid"><tr><th>model name</th><th>version</th>
<th>pushed by</th></tr>
{% for s in served %}<tr><td>{{ s.name }}</td><td>{{ s.version }}</td><td>{{ s.origin }}</td></tr>
{% endfor %}</table>{% else %}<p>Nothing pushed yet.</p>{% endif %}
{{ rollbacks }}

<h2>Components</h2>
<table class="grid"><tr><th>node</th><th>state</th><th>seconds</th></tr>
{% for n in nodes %}<tr><td>{{ n.node_id }}</td><td>{{ n.state }}</td>
<td>{{ "%.1f"|format(n.seconds) }}</td></tr>{% endfor %}
</table>
</body></html>
"""


def _generic_section(task: Optional[tasks.Task], model: report.ModelResult) -> TaskSection:
    """For a task without its own section: the metrics its `read_metrics` gives."""
    rows = [(k, report_kit.fmt(v)) for k, v in sorted(model.metrics.items())]
    html = report_kit.render(
        '<table class="grid">{% for k, v in rows %}<tr><th>{{ k }}</th><td>{{ v }}</td>'
        '</tr>{% endfor %}</table>', rows=rows)
    verdict = {True: "blessed", False: "not blessed", None: "not evaluated"}[model.blessed]
    return TaskSection(checks=[], verdict=verdict, html=html)


def _describe_source(source: Optional[report.DataSource]) -> Optional[dict]:
    if source is None:
        return None
    how = ("ingested in this run" if source.state == "COMPLETE"
           else "the same files as an earlier run, cached")
    return {**dataclasses.asdict(source), "how": how}


def _stats_rows(stats: Optional[dict]) -> List[Tuple[str, str]]:
    if not stats:
        return []
    rows = [(k, report_kit.fmt(stats[k], 4 if isinstance(stats[k], float) and
                               abs(stats[k]) < 100 else 1))
            for k in STATS_SHOWN if k in stats and stats[k] is not None]
    # Where the Trainer step's time went (trainer/epoch_log.py Phases), phase by phase.
    total = stats.get("trainer_seconds")
    if total:
        rows.append(("trainer_seconds", report_kit.fmt(total, 1)))
        rows += [(f"phase {name}", f"{seconds:.1f} s ({seconds / total:.0%})")
                 for name, seconds in (stats.get("phase_seconds") or {}).items()]
    return rows


def build(metadata_path: str, pipeline: str, run_id: Optional[str] = None) -> Page:
    run, task = read(metadata_path, pipeline, run_id)
    runs = report.list_runs(metadata_path, pipeline)
    serving_root = report.serving_root_of(runs)
    served = report.serving_now(serving_root, runs) if serving_root else []
    data_source = run.data_source()
    figures: List[Figure] = []
    data = data_section(run)
    figures += data["figures"]
    drift, drift_figures = production.drift_section(run)
    figures += drift_figures
    models = []
    for m in run.models:
        section = (task.report_section(run, m) if task is not None and
                   task.report_section is not None else _generic_section(task, m))
        curves = curve_figures(m.model, training_curves(m.model_run_uri)) \
            if m.model_run_uri else []
        figures += curves + section.figures
        bless = {True: "blessed", False: "NOT blessed", None: "not evaluated"}[m.blessed]
        version = os.path.basename(m.pushed_path.rstrip("/")) if m.pushed_path else None
        models.append({
            "name": m.model, "verdict": section.verdict or bless, "bless": bless,
            "bless_class": {True: "ok", False: "bad", None: "dim"}[m.blessed],
            "summary": task.describe_metrics(m.metrics) if task else "",
            "checks": section.checks, "section_html": section.html, "curves": curves,
            "stats": _stats_rows(m.training_stats),
            "artifact": (f"Model #{m.model_id} ("
                         + ("trained in this run" if m.trained else "cached from an earlier run")
                         + ")" if m.model_id is not None else "not trained"),
            "baseline": (f"served version {m.served_version}" if m.baseline_uri
                         else "no model in service"),
            "pushed": f"{m.serving_name}/{version}" if version else "not pushed",
            "data": (f"Examples #{data_source.examples_id} ({data_source.input_base}, "
                     f"fingerprint {data_source.fingerprint_digest or 'n/a'})"
                     if data_source else "n/a")})
    html = report_kit.render(
        _PAGE, run=run, models=models, data=data, drift=drift, fmt=report_kit.fmt,
        metric_title="evaluation" if task is None else f"evaluation ({task.name})",
        data_source=_describe_source(data_source),
        served=[{"name": s.name, "version": s.version,
                 "origin": (f"Model #{s.model_id} ({s.model}), run {s.run_id}" if s.run_id
                            else "not a run of this pipeline")} for s in served],
        rollbacks=production.rollbacks_html(served),
        serving_root=serving_root, nodes=sorted(run.nodes.values(), key=lambda n: n.node_id),
        metadata_path=metadata_path,
        started=time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.created_ms / 1000)),
        written=time.strftime("%Y-%m-%d %H:%M:%S"))
    return Page(run=run, html=str(html), figures=figures)


def write(workspace: str, pipeline: Optional[str] = None, run_id: Optional[str] = None,
          output: Optional[str] = None) -> str:
    """Writes the report of a run (default: the latest run of the pipeline that ran
    last) to `output` (default <workspace>/reports/<pipeline>-<run>.html); the path."""
    name, metadata_path = find_pipeline(workspace, pipeline)
    page = build(metadata_path, name, run_id)
    path = output or report_path(workspace, name, page.run.run_id)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(page.html)
    os.replace(tmp, path)  # never a half-written report under the final name
    return path


def tensorboard_logdirs(run: report.RunReport) -> List[Tuple[str, str]]:
    """(model, `<model_run>/logs`) of the run's Trainers that wrote TensorBoard logs."""
    return [(m.model, os.path.join(m.model_run_uri, "logs")) for m in run.models
            if m.model_run_uri and tf.io.gfile.isdir(os.path.join(m.model_run_uri, "logs"))]


def tensorboard_command(logdirs: Sequence[Tuple[str, str]], port: Optional[int] = None,
                        python: Optional[str] = None) -> List[str]:
    """`python -m tensorboard.main --logdir_spec name:path,...` (TensorBoard's own
    syntax for several named runs)."""
    if not logdirs:
        raise ValueError("no TensorBoard logs in this run (no Trainer ran)")
    for name, path in logdirs:
        if "," in path or "," in name or ":" in name:
            raise ValueError(f"{path}: TensorBoard's --logdir_spec cannot hold ',' in a "
                             "path or ':' in a name")
    cmd = [python or sys.executable, "-m", "tensorboard.main",
           "--logdir_spec", ",".join(f"{name}:{path}" for name, path in logdirs)]
    if port is not None:
        cmd += ["--port", str(port)]
    return cmd
