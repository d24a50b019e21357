"""What a pipeline run did, read back from ML Metadata (not from logs).

Used by the CLI's end-of-run summary, the benchmark (per-component wall time) and tests.
How a task's evaluation artifact reads back is the task's business (pipelines/tasks.py):
callers pass its `read_metrics` / `describe_metrics`.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable, Dict, List, Optional

import tensorflow as tf

from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2

from pipelines.nodes import node_ids
from trainer.contract import SKIPPED_FILES_FILE, SKIPPED_FILES_PROPERTY, STATS_FILE

_STATES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}


@dataclasses.dataclass
class NodeRun:
    node_id: str
    state: str  # COMPLETE | CACHED | FAILED | ...
    seconds: float
    outputs: Dict[str, List[metadata_store_pb2.Artifact]]
    inputs: Dict[str, List[metadata_store_pb2.Artifact]]


@dataclasses.dataclass
class ModelResult:
    model: str
    metrics: Dict[str, float]  # the evaluator's figures for the candidate (task-specific)
    baseline_uri: Optional[str]
    blessed: Optional[bool]
    pushed_path: Optional[str]
    training_stats: Optional[dict]


@dataclasses.dataclass
class RunReport:
    run_id: str
    nodes: Dict[str, NodeRun]
    models: List[ModelResult]

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
    return v.int_value if v.HasField("int_value") else v.string_value


def latest_run(metadata_path: str, pipeline_name: str, models: List[str],
               read_metrics: Callable[[str], Dict[str, float]]) -> RunReport:
    """The most recent run of `pipeline_name`: each node's state, duration and artifacts."""
    store = _store(metadata_path)
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
    run = max(run_ctxs.values(), key=lambda c: (c.create_time_since_epoch, c.id))
    prefix = f"{pipeline_name}."
    nodes: Dict[str, NodeRun] = {}
    for node_name, x in by_run[run.id]:
        node = node_name[len(prefix):] if node_name.startswith(prefix) else node_name
        inputs, outputs = _events(store, x.id)
        nodes[node] = NodeRun(
            node_id=node, state=_STATES.get(x.last_known_state, "UNKNOWN"),
            seconds=(x.last_update_time_since_epoch - x.create_time_since_epoch) / 1000.0,
            inputs=inputs, outputs=outputs)
    results = [_model_result(nodes, m, read_metrics) for m in models]
    return RunReport(run_id=run.name, nodes=nodes, models=results)


def _model_result(nodes: Dict[str, NodeRun], model: str,
                  read_metrics: Callable[[str], Dict[str, float]]) -> ModelResult:
    ids = node_ids(model)
    baseline = blessed = pushed = stats = None
    metrics: Dict[str, float] = {}
    ev = nodes.get(ids["evaluator"])
    if ev:
        if ev.outputs.get("evaluation"):
            metrics = read_metrics(ev.outputs["evaluation"][0].uri)
        if ev.outputs.get("blessing"):
            blessed = bool(_prop(ev.outputs["blessing"][0], "blessed"))
        if ev.inputs.get("baseline_model"):
            baseline = ev.inputs["baseline_model"][0].uri
    pu = nodes.get(ids["pusher"])
    if pu and pu.outputs.get("pushed_model"):
        art = pu.outputs["pushed_model"][0]
        if _prop(art, "pushed"):
            pushed = _prop(art, "pushed_destination")
    tr = nodes.get(ids["trainer"])
    if tr and tr.outputs.get("model_run"):
        path = os.path.join(tr.outputs["model_run"][0].uri, STATS_FILE)
        if tf.io.gfile.exists(path):
            with tf.io.gfile.GFile(path) as f:
                stats = json.load(f)
    return ModelResult(model=model, metrics=metrics, baseline_uri=baseline,
                       blessed=blessed, pushed_path=pushed, training_stats=stats)


def format_summary(report: RunReport,
                   describe_metrics: Callable[[Dict[str, float]], str]) -> str:
    lines = [f"run {report.run_id}:"]
    skipped = report.skipped_files()
    if skipped is not None:
        lines.append(f"  ingest: {skipped} file(s) skipped as unreadable"
                     + (f" (see {report.examples_uri()}/{SKIPPED_FILES_FILE})" if skipped else ""))
    for m in report.models:
        bless = {True: "blessed", False: "NOT blessed", None: "not evaluated"}[m.blessed]
        base = "vs last blessed" if m.baseline_uri else "no baseline"
        where = m.pushed_path or "not pushed"
        lines.append(f"  {m.model:<10} {describe_metrics(m.metrics)}  {bless} ({base})  -> {where}")
    return "\n".join(lines)
