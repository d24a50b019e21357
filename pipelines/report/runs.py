"""What a pipeline run did, read back from ML Metadata (not from logs).

Used by the CLI's end-of-run summary, the HTML run report (pipelines/report/page.py),
the run listing with lineage (`classics runs`), the benchmark (per-component wall time)
and tests. How a task's evaluation artifact reads back is the task's business
(pipelines/tasks.py): callers pass its `read_metrics` / `describe_metrics`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from typing import Callable, Dict, List, Optional, Tuple

import tensorflow as tf

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from components.serving_baseline import HAS_MODEL, SERVED_VERSION, served_versions
from pipelines.nodes import node_ids
from trainer.contract import SKIPPED_FILES_FILE, SKIPPED_FILES_PROPERTY, STATS_FILE
from trainer.runtime import object_store
from trainer.serving import rollback as serving_rollback

_STATES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}


@dataclasses.dataclass
class NodeRun:
    node_id: str
    state: str  # COMPLETE | CACHED | FAILED | ...
    seconds: float
    outputs: Dict[str, List[metadata_store_pb2.Artifact]]
    inputs: Dict[str, List[metadata_store_pb2.Artifact]]
    # The execution's recorded properties (e.g. an ExampleGen's input_base and span).
    properties: Dict[str, object] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ModelResult:
    model: str
    metrics: Dict[str, float]  # the evaluator's figures for the candidate (task-specific)
    baseline_uri: Optional[str]  # the served model's copy the evaluator compared with
    blessed: Optional[bool]
    pushed_path: Optional[str]
    training_stats: Optional[dict]
    # The TF Serving version the candidate was compared with; None: no model in service.
    served_version: Optional[int] = None
    # Where the candidate's artifacts are (None: that node did not run).
    model_id: Optional[int] = None  # the Trainer's Model artifact in ML Metadata
    model_uri: Optional[str] = None
    model_run_uri: Optional[str] = None  # TensorBoard logs, training_stats.json
    evaluation_uri: Optional[str] = None
    trained: bool = False  # trained in this run (False: the Trainer's cached output)
    serving_name: Optional[str] = None  # the Pusher's model name in the serving repository


@dataclasses.dataclass
class RunReport:
    run_id: str
    nodes: Dict[str, NodeRun]
    models: List[ModelResult]
    pipeline: str = ""
    created_ms: int = 0  # when the run started (ms since the epoch)

    def skipped_files(self) -> Optional[int]:
        """Input files the ExampleGen skipped as unreadable (None: not applicable)."""
        for node in self.nodes.values():
            for art in node.outputs.get("examples", []):
                if node.node_id.endswith("ExampleGen"):
                    value = _prop(art, SKIPPED_FILES_PROPERTY)
                    if value is not None:
                        return int(value)
        return None

    def examples_uri(self) -> Optional[str]:
        for node in self.nodes.values():
            if node.node_id.endswith("ExampleGen") and node.outputs.get("examples"):
                return node.outputs["examples"][0].uri
        return None

    def data_source(self) -> Optional["DataSource"]:
        """What this run's ExampleGen read (None: no ExampleGen in the run)."""
        for node in self.nodes.values():
            if node.node_id.endswith("ExampleGen") and node.outputs.get("examples"):
                art = node.outputs["examples"][0]
                fingerprint = str(_prop(art, "input_fingerprint") or "")
                return DataSource(
                    node_id=node.node_id, state=node.state, examples_id=art.id,
                    examples_uri=art.uri, input_base=str(node.properties.get("input_base", "")),
                    span=_prop(art, "span"), fingerprint=fingerprint,
                    fingerprint_digest=hashlib.sha256(fingerprint.encode()).hexdigest()[:12]
                    if fingerprint else "")
        return None


@dataclasses.dataclass
class DataSource:
    """An ExampleGen's input: the folder, the span and the fingerprint TFX took of the
    files (sizes and checksums), which changes whenever the data does."""
    node_id: str
    state: str  # COMPLETE: ingested in this run; CACHED: same files as an earlier run
    examples_id: int
    examples_uri: str
    input_base: str
    span: Optional[int]
    fingerprint: str
    fingerprint_digest: str  # short sha256 of `fingerprint`, to compare runs at a glance


def _store(metadata_path: str) -> metadata_store.MetadataStore:
    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = metadata_path
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(cfg)


def _events(store, execution_id: int):
    inputs: Dict[str, List] = {}
    outputs: Dict[str, List] = {}
    events = store.get_events_by_execution_ids([execution_id])
    arts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    for e in events:
        side = outputs if e.type in (e.OUTPUT, e.DECLARED_OUTPUT) else inputs
        # One event lists every input key an artifact was passed under (e.g. the same
        # model as both `model` and `baseline_model`).
        for key in [s.key for s in e.path.steps if s.key] or [""]:
            side.setdefault(key, []).append(arts[e.artifact_id])
    return inputs, outputs


def _prop(artifact, name):
    if name not in artifact.custom_properties:
        return None
    v = artifact.custom_properties[name]
    if v.HasField("double_value"):  # numbers recorded by Kubeflow's launcher
        return int(v.double_value) if v.double_value.is_integer() else v.double_value
    return v.int_value if v.HasField("int_value") else v.string_value


def _value(v: metadata_store_pb2.Value):
    return v.int_value if v.HasField("int_value") else (
        v.double_value if v.HasField("double_value") else v.string_value)


def _pipeline_runs(store, metadata_path: str, pipeline_name: str):
    """[(run context, [(node name, execution)])] of `pipeline_name`, oldest first."""
    pipeline_ctx = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if pipeline_ctx is None:
        raise LookupError(f"{metadata_path}: no runs of pipeline {pipeline_name!r}")
    run_type = store.get_context_type("pipeline_run").id
    node_type = store.get_context_type("node").id
    by_run: Dict[int, list] = {}
    run_ctxs = {}
    for x in store.get_executions_by_context(pipeline_ctx.id):
        ctxs = store.get_contexts_by_execution(x.id)
        run = next((c for c in ctxs if c.type_id == run_type), None)
        node = next((c for c in ctxs if c.type_id == node_type), None)
        if run is None or node is None:
            continue
        run_ctxs[run.id] = run
        by_run.setdefault(run.id, []).append((node.name, x))
    if not by_run:
        raise LookupError(f"{metadata_path}: no runs of pipeline {pipeline_name!r}")
    runs = sorted(run_ctxs.values(), key=lambda c: (c.create_time_since_epoch, c.id))
    return [(run, by_run[run.id]) for run in runs]


def _run_report(store, pipeline_name: str, run, executions,
                models: Optional[List[str]],
                read_metrics: Optional[Callable[[str], Dict[str, float]]]) -> RunReport:
    prefix = f"{pipeline_name}."
    nodes: Dict[str, NodeRun] = {}
    for node_name, x in executions:
        node = node_name[len(prefix):] if node_name.startswith(prefix) else node_name
        inputs, outputs = _events(store, x.id)
        nodes[node] = NodeRun(
            node_id=node, state=_STATES.get(x.last_known_state, "UNKNOWN"),
            seconds=(x.last_update_time_since_epoch - x.create_time_since_epoch) / 1000.0,
            inputs=inputs, outputs=outputs,
            properties={k: _value(v) for k, v in x.custom_properties.items()})
    if models is None:  # the run's own Trainers, in pipeline order
        trainer = node_ids("")["trainer"]
        models = [n[len(trainer):] for n in nodes if n.startswith(trainer)]
    results = [_model_result(nodes, m, read_metrics) for m in models]
    return RunReport(run_id=run.name, nodes=nodes, models=results, pipeline=pipeline_name,
                     created_ms=run.create_time_since_epoch)


def list_runs(metadata_path: str, pipeline_name: str,
              read_metrics: Optional[Callable[[str], Dict[str, float]]] = None
              ) -> List[RunReport]:
    """Every run of `pipeline_name`, oldest first; each with the models its Trainers
    trained (metrics left empty without `read_metrics`)."""
    store = _store(metadata_path)
    return [_run_report(store, pipeline_name, run, xs, None, read_metrics)
            for run, xs in _pipeline_runs(store, metadata_path, pipeline_name)]


def read_run(metadata_path: str, pipeline_name: str, run_id: Optional[str] = None,
             models: Optional[List[str]] = None,
             read_metrics: Optional[Callable[[str], Dict[str, float]]] = None) -> RunReport:
    """One run of `pipeline_name`: the latest, or the one whose id is (or, uniquely,
    starts with) `run_id`. `models` default to the run's Trainers."""
    store = _store(metadata_path)
    runs = _pipeline_runs(store, metadata_path, pipeline_name)
    if run_id is None:
        run, xs = runs[-1]
    else:
        found = [r for r in runs if r[0].name == run_id] or [
            r for r in runs if r[0].name.startswith(run_id)]
        if len(found) != 1:
            known = ", ".join(r[0].name for r in runs[-5:])
            why = "no" if not found else f"{len(found)} runs match; no unique"
            raise KeyError(f"{why} run {run_id!r} of pipeline {pipeline_name!r} "
                           f"(latest runs: {known})")
        run, xs = found[0]
    return _run_report(store, pipeline_name, run, xs, models, read_metrics)


def _model_result(nodes: Dict[str, NodeRun], model: str,
                  read_metrics: Optional[Callable[[str], Dict[str, float]]]) -> ModelResult:
    ids = node_ids(model)
    baseline = blessed = pushed = stats = served = None
    evaluation_uri = serving_name = None
    metrics: Dict[str, float] = {}
    ev = nodes.get(ids["evaluator"])
    if ev:
        if ev.outputs.get("evaluation"):
            evaluation_uri = ev.outputs["evaluation"][0].uri
            if read_metrics is not None:
                metrics = read_metrics(evaluation_uri)
        if ev.outputs.get("blessing"):
            blessed = bool(_prop(ev.outputs["blessing"][0], "blessed"))
        # An empty baseline (nothing in service) is an input the evaluator ignored.
        for art in ev.inputs.get("baseline_model", []):
            if _prop(art, HAS_MODEL):
                baseline, served = art.uri, _prop(art, SERVED_VERSION)
    pu = nodes.get(ids["pusher"])
    if pu and pu.outputs.get("pushed_model"):
        art = pu.outputs["pushed_model"][0]
        if _prop(art, "pushed"):
            pushed = _prop(art, "pushed_destination")
    if pu:
        serving_name = _push_base(pu)[1]
    tr = nodes.get(ids["trainer"])
    if tr and tr.outputs.get("model_run"):
        path = os.path.join(tr.outputs["model_run"][0].uri, STATS_FILE)
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path) as f:
                stats = json.load(f)
    model_art = (tr.outputs.get("model") or [None])[0] if tr else None
    return ModelResult(model=model, metrics=metrics, baseline_uri=baseline,
                       blessed=blessed, pushed_path=pushed, training_stats=stats,
                       served_version=served,
                       model_id=model_art.id if model_art else None,
                       model_uri=model_art.uri if model_art else None,
                       model_run_uri=(tr.outputs["model_run"][0].uri
                                      if tr and tr.outputs.get("model_run") else None),
                       evaluation_uri=evaluation_uri,
                       trained=bool(tr and tr.state == "COMPLETE"),
                       serving_name=serving_name)


def _push_base(pusher: NodeRun) -> Tuple[Optional[str], Optional[str]]:
    """(serving root, model name) of a filesystem Pusher's destination."""
    try:
        base = json.loads(str(pusher.properties.get("push_destination") or "{}"))[
            "filesystem"]["base_directory"]
    except (ValueError, KeyError, TypeError):
        return None, None
    base = base.rstrip("/")
    return os.path.dirname(base), os.path.basename(base)


def format_summary(report: RunReport,
                   describe_metrics: Callable[[Dict[str, float]], str]) -> str:
    lines = [f"run {report.run_id}:"]
    skipped = report.skipped_files()
    if skipped is not None:
        lines.append(f"  ingest: {skipped} file(s) skipped as unreadable"
                     + (f" (see {report.examples_uri()}/{SKIPPED_FILES_FILE})" if skipped else ""))
    for m in report.models:
        bless = {True: "blessed", False: "NOT blessed", None: "not evaluated"}[m.blessed]
        base = (f"vs served version {m.served_version}" if m.baseline_uri
                else "no model in service")
        where = m.pushed_path or "not pushed"
        lines.append(f"  {m.model:<10} {describe_metrics(m.metrics)}  {bless} ({base})  -> {where}")
    return "\n".join(lines)


# ------------------------------------------------------------------ lineage (`classics runs`)

@dataclasses.dataclass
class ServedModel:
    """A model name in the serving repository and the version TF Serving serves (the
    highest complete one, its default policy), traced back to the run that pushed it."""
    name: str
    version: int
    path: str
    run_id: Optional[str]  # None: not pushed by any run of this pipeline
    model: Optional[str] = None
    model_id: Optional[int] = None
    # The rollback that made `version` the served one (None: the newest push is served).
    rollback: Optional[serving_rollback.Rollback] = None
    set_aside: Tuple[int, ...] = ()  # versions rollbacks moved out of TF Serving's sight
    record_error: Optional[str] = None  # the rollback record could not be read
    # Every rollback of the name (its rollback.json), oldest first.
    history: Tuple[serving_rollback.Rollback, ...] = ()


def serving_root_of(runs: List[RunReport]) -> Optional[str]:
    """The serving repository the runs' Pushers wrote to (the latest run's first)."""
    for run in reversed(runs):
        for node in run.nodes.values():
            root = _push_base(node)[0] if node.node_id.startswith(
                node_ids("")["pusher"]) else None
            if root:
                return root
    return None


def serving_now(serving_root: str, runs: List[RunReport]) -> List[ServedModel]:
    """Every model name of the runs' Pushers with what it serves now (names with no
    complete version are left out). The repository is read the way ServingBaseline
    reads it, so s3:// and gs:// repositories work too."""
    if object_store.is_s3(serving_root):
        # tensorflow-io's plugin, and the process then ends through
        # object_store.exit_process (pipelines/cli.py main) instead of aborting at exit.
        object_store.enable_s3()
    names = {m.serving_name for r in runs for m in r.models if m.serving_name}
    pushed_by = {os.path.normpath(m.pushed_path): (r, m) for r in runs for m in r.models
                 if m.pushed_path}
    out = []
    for name in sorted(names):
        versions = served_versions(os.path.join(serving_root, name))
        if not versions:
            continue
        version = versions[-1]
        path = os.path.join(serving_root, name, str(version))
        run, model = pushed_by.get(os.path.normpath(path), (None, None))
        try:
            history, error = tuple(serving_rollback.read_record(serving_root, name)), None
        except serving_rollback.RollbackError as e:
            history, error = (), str(e)
        # The last rollback describes what is served only while its target is served
        # (serving_rollback.active_rollback; a later push ends it).
        active = history[-1] if history and history[-1].to_version == version else None
        out.append(ServedModel(name=name, version=version, path=path,
                               run_id=run.run_id if run else None,
                               model=model.model if model else None,
                               model_id=model.model_id if model else None,
                               rollback=active, record_error=error, history=history,
                               set_aside=tuple(serving_rollback.set_aside_versions(
                                   serving_root, name))))
    return out


def format_runs(runs: List[RunReport], served: List[ServedModel],
                describe_metrics: Callable[[Dict[str, float]], str]) -> str:
    """Runs newest first with their lineage: which data (ExampleGen input, span,
    fingerprint) produced which model artifact, the gate's verdict, the pushed version;
    then what each serving name holds now."""
    lines = []
    serving = {(s.name, s.version) for s in served}
    set_aside = {(s.name, v) for s in served for v in s.set_aside}
    for run in reversed(runs):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.created_ms / 1000))
        failed = sorted(n.node_id for n in run.nodes.values() if n.state == "FAILED")
        lines.append(f"run {run.run_id}  (started {when})"
                     + (f"  FAILED at {', '.join(failed)}" if failed else ""))
        data = run.data_source()
        if data:
            how = "ingested" if data.state == "COMPLETE" else data.state.lower()
            lines.append(f"  data     Examples #{data.examples_id} from {data.input_base} "
                         f"span {data.span}, fingerprint {data.fingerprint_digest or 'n/a'} "
                         f"({how})")
        for m in run.models:
            made = ("not trained" if m.model_id is None
                    else f"Model #{m.model_id} {'trained' if m.trained else 'cached'}")
            bless = {True: "blessed", False: "NOT blessed", None: "not evaluated"}[m.blessed]
            if m.pushed_path:
                version = os.path.basename(m.pushed_path.rstrip("/"))
                pushed = f"pushed {m.serving_name}/{version}"
                key = (m.serving_name, int(version) if version.isdigit() else -1)
                if key in serving:
                    pushed += " (serving now)"
                elif key in set_aside:
                    pushed += " (set aside by a rollback)"
            else:
                pushed = "not pushed"
            lines.append(f"  {m.model:<8} {made}; {describe_metrics(m.metrics)}; {bless}; "
                         f"{pushed}")
    lines.append("serving now:" if served else "serving now: nothing pushed yet")
    for s in served:
        origin = (f"Model #{s.model_id} ({s.model}) from run {s.run_id}" if s.run_id
                  else "not pushed by a run of this pipeline")
        lines.append(f"  {s.name:<16} version {s.version}  {origin}"
                     + (f"; {serving_rollback.describe(s.rollback)}" if s.rollback else "")
                     + (f"; {s.record_error}" if s.record_error else ""))
    return "\n".join(lines)
