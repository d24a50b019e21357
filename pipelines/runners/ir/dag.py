"""The compiled IR as protos, and its root DAG's tasks in the order they can run."""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, List

import yaml
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from pipelines.runners import kfp_compat

KubernetesExecutorConfig = kubernetes_executor_config_pb2.KubernetesExecutorConfig


class IRFileError(ValueError):
    """The IR file cannot be read or holds something this local driver does not run."""


@dataclasses.dataclass
class Task:
    """One container task of the root DAG with everything its driver needs."""
    name: str
    spec: pipeline_spec_pb2.PipelineTaskSpec
    component: pipeline_spec_pb2.ComponentSpec
    executor_label: str
    container: pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec
    kubernetes: KubernetesExecutorConfig


@dataclasses.dataclass
class IR:
    path: str
    spec: pipeline_spec_pb2.PipelineSpec
    tasks: Dict[str, Task]

    @property
    def pipeline_name(self) -> str:
        return self.spec.pipeline_info.name

    @property
    def default_pipeline_root(self) -> str:
        return self.spec.default_pipeline_root


def _platform_configs(platform: dict, where: str) -> Dict[str, KubernetesExecutorConfig]:
    parsed = pipeline_spec_pb2.PlatformSpec()
    json_format.ParseDict(platform, parsed)
    out = {}
    if kfp_compat.KUBERNETES in parsed.platforms:
        executors = parsed.platforms[kfp_compat.KUBERNETES].deployment_spec.executors
        for label, body in executors.items():
            try:
                # Tolerations (and the node selector) only place a pod on a node; a run
                # here has none, so they are checked and left out.
                config, _ = kfp_compat.executor_config(json_format.MessageToDict(body))
            except json_format.ParseError as e:
                raise IRFileError(f"{where}: kubernetes config of {label}: {e}") from None
            out[label] = config
    return out


def _one_line(error: BaseException) -> str:
    """YAML and proto errors span lines; the CLI's message is one."""
    return " ".join(str(error).split())


def load(path: str) -> IR:
    """Parses the IR at `path` with kfp's protos; refuses what this driver cannot run
    (anything but the root DAG's container tasks), naming the file."""
    if not os.path.isfile(path):
        raise IRFileError(f"{path}: no such IR file (write one with `classics compile`)")
    try:
        raw, platform = kfp_compat.read_ir(path)
        if not isinstance(raw, dict) or not isinstance(platform, dict):
            raise IRFileError(f"{path}: not a KFP pipeline spec (YAML mapping expected)")
        spec = pipeline_spec_pb2.PipelineSpec()
        json_format.ParseDict(raw, spec)
        # PipelineSpec holds the deployment spec as a Struct; its own message is this.
        deployment = pipeline_spec_pb2.PipelineDeploymentConfig()
        json_format.ParseDict(raw.get("deploymentSpec", {}), deployment)
        configs = _platform_configs(platform, path)
    except (yaml.YAMLError, json_format.ParseError, UnicodeDecodeError,
            kfp_compat.InadmissibleIR) as e:
        raise IRFileError(f"{path}: not a KFP pipeline spec: {_one_line(e)}") from None
    except (TypeError, AttributeError) as e:  # e.g. a list where the spec has a mapping
        raise IRFileError(f"{path}: not a KFP pipeline spec: {_one_line(e)}") from None
    if not spec.root.dag.tasks:
        raise IRFileError(f"{path}: the pipeline spec has no root DAG tasks")
    executors = deployment.executors
    tasks = {}
    for name, task in spec.root.dag.tasks.items():
        ref = task.component_ref.name
        if ref not in spec.components:
            raise IRFileError(f"{path}: task {name} names component {ref!r}, which the "
                              "spec does not define")
        component = spec.components[ref]
        if component.WhichOneof("implementation") != "executor_label":
            raise IRFileError(f"{path}: task {name} is a sub-DAG; this local driver runs "
                              "the root DAG's container tasks only")
        label = component.executor_label
        if label not in executors:
            raise IRFileError(f"{path}: task {name}: executor {label!r} is not in the "
                              "deployment spec")
        kind = executors[label].WhichOneof("spec")
        if kind != "container":
            raise IRFileError(f"{path}: task {name}: {kind} executors are not run here "
                              "(container executors only)")
        if task.HasField("iterator") or task.trigger_policy.condition:
            raise IRFileError(f"{path}: task {name}: loops and conditions are not run here")
        tasks[name] = Task(name=name, spec=task, component=component, executor_label=label,
                           container=executors[label].container,
                           kubernetes=configs.get(label, KubernetesExecutorConfig()))
    return IR(path=path, spec=spec, tasks=tasks)


def upstream(task: pipeline_spec_pb2.PipelineTaskSpec) -> List[str]:
    """The tasks `task` waits for: its dependentTasks and the producers of its inputs
    (the Argo compiler turns both into the task's dependencies)."""
    names = set(task.dependent_tasks)
    for artifact in task.inputs.artifacts.values():
        if artifact.WhichOneof("kind") == "task_output_artifact":
            names.add(artifact.task_output_artifact.producer_task)
    for parameter in task.inputs.parameters.values():
        if parameter.WhichOneof("kind") == "task_output_parameter":
            names.add(parameter.task_output_parameter.producer_task)
    return sorted(names)


def order(ir: IR) -> List[str]:
    """Task names in dependency order (ties by name, so a run's order is repeatable);
    refuses unknown producers and cycles."""
    waits = {}
    for name, task in ir.tasks.items():
        deps = upstream(task.spec)
        for dep in deps:
            if dep not in ir.tasks:
                raise IRFileError(f"{ir.path}: task {name} depends on {dep!r}, which the "
                                  "root DAG does not have")
        waits[name] = set(deps)
    done: List[str] = []
    while waits:
        ready = sorted(n for n, deps in waits.items() if deps <= set(done))
        if not ready:
            raise IRFileError(f"{ir.path}: tasks depend on each other in a cycle: "
                              f"{', '.join(sorted(waits))}")
        done.append(ready[0])
        del waits[ready[0]]
    return done
