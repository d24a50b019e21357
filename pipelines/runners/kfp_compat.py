"""Compile-time fixes that make TFX's KubeflowV2DagRunner IR runnable on open-source KFP v2.

TFX writes the IR for Vertex AI Pipelines. What the open-source backend (read at
kubeflow/pipelines 2.17.0) needs in addition, done here on the written YAML:

- **Only container and importer executors.** The backend's Argo compiler refuses every
  other kind: `backend/src/v2/compiler/argocompiler/dag.go` returns `resolver executors
  not implemented` for `ExecutorSpec_Resolver` (and custom jobs are Vertex-only).
  `check_admissible` refuses such an IR before anyone uploads it.
- **Never-cached tasks.** TFX caches every task or none; a task that reads the world
  outside the pipeline (ServingBaseline) gets `cachingOptions.enableCache: false`.
- **No drivers.** TFX's FileBasedExampleGen relies on a driver run as the container's
  `lifecycle.preCacheCheck` (it fingerprints the input files for the cache key); the
  open-source backend never runs it (no reference outside its generated protos at
  2.17.0). `set_driver_command` points the hook at the image's entrypoint (Vertex runs
  it) and returns the tasks that have one, so the caller can stop caching them.
- **Environment and Secrets.** TFX emits no platform spec. `add_env` sets plain
  variables on the container specs of the deployment spec (the driver copies
  `container.env` into the pod, `backend/src/v2/driver/driver.go`), and
  `secret_env_platform_spec` builds the `platforms.kubernetes` document with a
  kfp-kubernetes `KubernetesExecutorConfig.secretAsEnv` per executor
  (`backend/src/v2/driver/k8s.go`); kfp-kubernetes 1.0.0's proto has no plain env.
- **Pod placement.** `add_pod_placement` gives chosen executors a `nodeSelector`
  (kfp-kubernetes 1.0.0's `KubernetesExecutorConfig.node_selector`; applied since backend
  2.0.5) and `tolerations` (applied since backend 2.1.0). kfp-kubernetes 1.0.0 predates
  the `tolerations` field (its `add_toleration` arrives in 1.2.0, which needs protobuf
  >= 4), so they are written as the JSON the backend's proto reads: a list of
  {key, operator, value, effect}.
- **Pipeline root.** TFX's YAML drops `runtimeConfig` (its pipeline root); the root goes
  into `defaultPipelineRoot` (PipelineSpec 2.1; Vertex reads it) and `classics submit`
  passes it as the run's pipeline root, which is what the open-source backend reads.

Also needed, at compile time, elsewhere: PipelineSpec schema 2.1 (the backend reads
`runtimeValue.constant`, not schema 2.0's `constantValue`; kubeflow_runner sets
`use_pipeline_spec_2_1`). Needed at run time, inside the containers: trainer/runtime/kfp_tfx_patches.py.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

# What the open-source backend's Argo compiler runs (dag.go); everything else is refused.
ADMISSIBLE_EXECUTORS = ("container", "importer")
KUBERNETES = "kubernetes"


class InadmissibleIR(ValueError):
    """The IR holds something open-source KFP would refuse."""


def read_ir(path: str) -> Tuple[dict, dict]:
    """(PipelineSpec, PlatformSpec) dicts of a compiled YAML; the platform spec is empty
    when the file has none (KFP's own compiler writes it as a second YAML document)."""
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d is not None]
    if not docs:
        raise InadmissibleIR(f"{path}: no pipeline spec in the file")
    platform: dict = {}
    for doc in docs[1:]:
        platform.update(doc)
    return docs[0], platform


def write_ir(path: str, spec: dict, platform: Optional[dict] = None,
             header: str = "") -> None:
    """Writes the YAML the way kfp's compiler does: the spec, then the platform spec as a
    second document when there is one. Both are checked against kfp's protos first."""
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    documents = [spec]
    if platform:
        json_format.ParseDict(platform, pipeline_spec_pb2.PlatformSpec())
        documents.append(platform)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(header)
        yaml.dump_all(documents, f, sort_keys=True)
    os.replace(tmp, path)


def executor_kinds(spec: dict) -> Dict[str, str]:
    """{executor label: its kind (container, importer, resolver, customJob, ...)}."""
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    return {label: next(iter(body), "") for label, body in executors.items()}


def check_admissible(spec: dict, where: str = "pipeline") -> None:
    """Refuses an IR with an executor open-source KFP cannot run."""
    bad = {k: v for k, v in executor_kinds(spec).items() if v not in ADMISSIBLE_EXECUTORS}
    if bad:
        listed = ", ".join(f"{label} ({kind})" for label, kind in sorted(bad.items()))
        raise InadmissibleIR(
            f"{where}: open-source Kubeflow Pipelines runs only {' and '.join(ADMISSIBLE_EXECUTORS)}"
            f" executors (its Argo compiler: 'resolver executors not implemented'); "
            f"this IR has {listed}")


def disable_caching(spec: dict, never_cached: Callable[[str], bool]) -> List[str]:
    """Turns caching off for the root DAG's tasks `never_cached` names; returns them."""
    changed = []
    for name, task in spec.get("root", {}).get("dag", {}).get("tasks", {}).items():
        if never_cached(name):
            task["cachingOptions"] = {"enableCache": False}
            changed.append(name)
    return sorted(changed)


def _task_executor(spec: dict) -> Dict[str, str]:
    """{root task name: its executor label}."""
    components = spec.get("components", {})
    return {name: components.get(task.get("componentRef", {}).get("name", ""), {})
            .get("executorLabel", "")
            for name, task in spec.get("root", {}).get("dag", {}).get("tasks", {}).items()}


def set_driver_command(spec: dict, command: List[str]) -> List[str]:
    """Runs every container's `lifecycle.preCacheCheck` hook (TFX's ExampleGen driver)
    with `command`; returns the root tasks whose executor has one."""
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    with_driver = []
    for label, body in executors.items():
        hook = body.get("container", {}).get("lifecycle", {}).get("preCacheCheck")
        if hook is not None:
            hook["command"] = list(command)
            with_driver.append(label)
    return sorted(t for t, label in _task_executor(spec).items() if label in with_driver)


def container_executors(spec: dict) -> List[str]:
    return sorted(label for label, kind in executor_kinds(spec).items()
                  if kind == "container")


def add_env(spec: dict, env: Dict[str, str]) -> None:
    """Sets plain environment variables on every container executor (replacing a
    variable of the same name)."""
    executors = spec["deploymentSpec"]["executors"]
    for label in container_executors(spec):
        container = executors[label]["container"]
        kept = [e for e in container.get("env", []) if e.get("name") not in env]
        container["env"] = kept + [{"name": k, "value": v} for k, v in sorted(env.items())]


def secret_env_platform_spec(executor_labels: Iterable[str], secret_name: str,
                             key_to_env: Dict[str, str]) -> dict:
    """A PlatformSpec document giving each executor the Secret's keys as variables
    (KubernetesExecutorConfig.secretAsEnv, kfp-kubernetes)."""
    config = kubernetes_executor_config_pb2.KubernetesExecutorConfig(
        secret_as_env=[kubernetes_executor_config_pb2.SecretAsEnv(
            secret_name=secret_name,
            key_to_env=[kubernetes_executor_config_pb2.SecretAsEnv.SecretKeyToEnvMap(
                secret_key=key, env_var=var) for key, var in sorted(key_to_env.items())])])
    platform = pipeline_spec_pb2.PlatformSpec()
    executors = platform.platforms[KUBERNETES].deployment_spec.executors
    for label in executor_labels:
        executors[label].update(json_format.MessageToDict(config))
    return json_format.MessageToDict(platform)


# The fields of the platform proto's Toleration message (KubernetesExecutorConfig field 12)
# that this project writes.
TOLERATION_FIELDS = ("key", "operator", "value", "effect")


def add_pod_placement(platform: dict, executor_labels: Iterable[str],
                      tolerations: List[Dict[str, str]],
                      node_selector: Dict[str, str]) -> dict:
    """`platform` (a PlatformSpec document, possibly empty) with the tolerations and node
    selector on each of `executor_labels`' kubernetes executor configs."""
    config = kubernetes_executor_config_pb2.KubernetesExecutorConfig()
    config.node_selector.labels.update(node_selector)
    placement = json_format.MessageToDict(config)
    if tolerations:
        placement["tolerations"] = [{k: t[k] for k in TOLERATION_FIELDS if t.get(k)}
                                    for t in tolerations]
    result = json_format.MessageToDict(json_format.ParseDict(
        platform, pipeline_spec_pb2.PlatformSpec()))
    executors = (result.setdefault("platforms", {}).setdefault(KUBERNETES, {})
                 .setdefault("deploymentSpec", {}).setdefault("executors", {}))
    for label in executor_labels:
        executors.setdefault(label, {}).update(placement)
    return result


def executor_config(body: dict) -> Tuple[
        kubernetes_executor_config_pb2.KubernetesExecutorConfig, List[Dict[str, str]]]:
    """One executor's kubernetes config: kfp-kubernetes 1.0.0's message, and the
    tolerations its proto predates; raises json_format.ParseError on an unknown field."""
    body = dict(body)
    tolerations = body.pop("tolerations", [])
    if not isinstance(tolerations, list):
        raise json_format.ParseError(f"tolerations: expected a list, got {tolerations!r}")
    for toleration in tolerations:
        unknown = sorted(set(toleration) - set(TOLERATION_FIELDS)) \
            if isinstance(toleration, dict) else [repr(toleration)]
        if unknown:
            raise json_format.ParseError(f"toleration {toleration!r}: unknown fields "
                                         f"{unknown}; known: {list(TOLERATION_FIELDS)}")
    config = kubernetes_executor_config_pb2.KubernetesExecutorConfig()
    json_format.ParseDict(body, config)
    return config, tolerations


def set_default_pipeline_root(spec: dict, root: str) -> None:
    spec["defaultPipelineRoot"] = root


def default_pipeline_root(path: str) -> Optional[str]:
    """The pipeline root `classics compile` wrote into a package (None: none)."""
    spec, _ = read_ir(path)
    return spec.get("defaultPipelineRoot") or None
