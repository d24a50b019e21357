"""What KFP 2.17.0's driver does for one container task, for a local run.

Read from kubeflow/pipelines at tag 2.17.0, `backend/src/v2/`:
- `driver/root_dag.go` RootDAG and `metadata/client.go` GetPipeline: the run's root is
  `<pipeline root>/<pipeline name>/<run id>` (GenerateOutputURI, query string kept);
- `driver/container.go` Container: ExecutorInput = resolved inputs + provisioned outputs;
- `driver/resolve.go` resolveInputs / resolveInputParameter / resolveUpstreamArtifacts:
  parameters from the root's runtime values, constants (with the run's special
  placeholders) and producer outputs, then type checks; artifacts from the producer
  task's recorded outputs;
- `driver/driver.go` provisionOutputs: output URIs `<run root>/<task>/<uuid>/<output>`,
  the launcher's `executor-logs` output when logs are published, output parameter files
  and the executor output file; initPodSpecPatch: the container's env, then the user
  command and args through resolveContainerArgs (`driver/util.go`);
- `driver/k8s.go` extendPodSpecPatch: `secretAsEnv` becomes variables read from Secrets.

Where a cluster has something this machine has not (MLMD, a Kubernetes Secret, the
`/s3/` mount paths), the function says what stands in for it.
"""
from __future__ import annotations

import dataclasses
import decimal
import json
import os
import posixpath
import re
from typing import Callable, Dict, List, Mapping, Optional

from google.protobuf import json_format, struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from pipelines.runners.ir.dag import KubernetesExecutorConfig

ExecutorInput = pipeline_spec_pb2.ExecutorInput
RuntimeArtifact = pipeline_spec_pb2.RuntimeArtifact
ParameterType = pipeline_spec_pb2.ParameterType
EXECUTOR_LOGS = "executor-logs"  # provisionOutputs' name for the launcher's log artifact
OUTPUT_METADATA = "output_metadata.json"
# driver/util.go fullInputParameterRe
_INPUT_PARAMETER = re.compile(r"\{\{\$\.inputs\.parameters\['(.+?)'\]\}\}")


class DriverError(RuntimeError):
    """The driver refuses the task (what the backend's driver would fail it with)."""


@dataclasses.dataclass
class RunContext:
    """What the root DAG driver knows about the run."""
    pipeline_name: str
    run_id: str
    run_root: str  # pipeline_run_root()
    run_display_name: str = ""
    create_time_utc: str = ""
    parameters: Dict[str, struct_pb2.Value] = dataclasses.field(default_factory=dict)
    publish_logs: bool = True


@dataclasses.dataclass
class Produced:
    """A finished task's outputs as the next driver reads them back from MLMD."""
    artifacts: Dict[str, RuntimeArtifact]
    parameters: Dict[str, struct_pb2.Value]


def generate_output_uri(root: str, paths: List[str], preserve_query: bool) -> str:
    """metadata/client.go GenerateOutputURI: `<root>/<paths joined>` with the root's
    trailing slashes trimmed and its ?query kept only when asked."""
    query = ""
    parts = root.split("?")
    if len(parts) == 2:
        root = parts[0]
        if preserve_query:
            query = "?" + parts[1]
    # Go's path.Join: the non-empty elements joined with "/" and cleaned.
    kept = [p for p in paths if p]
    joined = posixpath.normpath("/".join(kept)) if kept else ""
    return f"{root.rstrip('/')}/{joined}{query}"


def pipeline_run_root(pipeline_root: str, pipeline_name: str, run_id: str) -> str:
    """The run's root as GetPipeline stores it: GenerateOutputURI(root, [name, run id])."""
    return generate_output_uri(pipeline_root, [pipeline_name, run_id], True)


def local_path_for_uri(uri: str, staging: str) -> str:
    """The launcher's LocalPathForURI (gs:// -> /gcs/, s3:// -> /s3/, minio:// -> /minio/),
    rebased under `staging` here (this machine has no such mounts). A local folder is its
    own local path: the backend has no local scheme (LocalPathForURI refuses one)."""
    for scheme, mount in (("gs://", "gcs"), ("minio://", "minio"), ("s3://", "s3")):
        if uri.startswith(scheme):
            return os.path.join(staging, mount, uri[len(scheme):])
    if "://" in uri:
        raise DriverError(f"unsupported storage scheme in {uri}")
    return uri


def provision_outputs(ctx: RunContext, task_name: str,
                      outputs_spec: pipeline_spec_pb2.ComponentOutputsSpec, salt: str,
                      staging: str) -> ExecutorInput.Outputs:
    """driver.go provisionOutputs."""
    outputs = ExecutorInput.Outputs()
    artifacts = dict(outputs_spec.artifacts)
    if ctx.publish_logs:
        logs = pipeline_spec_pb2.ComponentOutputsSpec.ArtifactSpec()
        logs.artifact_type.schema_title = "system.Artifact"
        artifacts[EXECUTOR_LOGS] = logs
    task_root = generate_output_uri(ctx.run_root, [task_name, salt], False)
    for name, spec in artifacts.items():
        artifact = outputs.artifacts[name].artifacts.add()
        artifact.name = name
        artifact.uri = generate_output_uri(task_root, [name], False)
        artifact.type.CopyFrom(spec.artifact_type)
        if spec.HasField("metadata"):
            artifact.metadata.CopyFrom(spec.metadata)
    for name in outputs_spec.parameters:
        # "/tmp/kfp/outputs/<name>" in the pod; one folder per task here.
        outputs.parameters[name].output_file = os.path.join(
            local_path_for_uri(task_root, staging), "parameters", name)
    # The output file sits under the task root's local path (the legacy
    # /tmp/kfp_outputs/output_metadata.json only when the scheme is unknown).
    outputs.output_file = os.path.join(local_path_for_uri(task_root, staging),
                                       OUTPUT_METADATA)
    return outputs


def _as_protojson(value):
    """Numbers as Go's protojson writes doubles: a whole number below 1e21 without a
    fraction ("3", not Python's "3.0"), so a program reading the JSON gets an int where
    the backend gives it one (kfp's executor refuses 3.0 for an int parameter)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        return {k: _as_protojson(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_protojson(v) for v in value]
    return value


def json_text(value) -> str:
    """Compact JSON of a MessageToDict result, numbers as the backend writes them."""
    return json.dumps(_as_protojson(value), separators=(",", ":"))


def format_float(number: float) -> str:
    """strconv.FormatFloat(v, 'f', -1, 64): the shortest decimal that reads back as the
    same double, never with an exponent ("3", "0.5", "0.0000001")."""
    text = format(decimal.Decimal(repr(number)), "f")
    return text[:-2] if text.endswith(".0") else text


def pb_value_to_text(value: struct_pb2.Value) -> str:
    """metadata/converter.go PbValueToText."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return format_float(value.number_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "null_value":
        return ""
    return json_text(json_format.MessageToDict(value))  # structpb's MarshalJSON: protojson


def _special_constant(value: struct_pb2.Value, ctx: RunContext, task_name: str
                      ) -> struct_pb2.Value:
    """resolveInputParameter's runtime constants that name the run."""
    text = value.string_value if value.WhichOneof("kind") == "string_value" else None
    special = {"{{$.pipeline_job_name}}": ctx.run_display_name,
               "{{$.pipeline_job_resource_name}}": ctx.run_id,
               "{{$.pipeline_job_uuid}}": ctx.run_id,
               "{{$.pipeline_task_name}}": task_name,
               "{{$.pipeline_job_create_time_utc}}": ctx.create_time_utc,
               "{{$.pipeline_job_schedule_time_utc}}": ""}
    if text in special:
        return struct_pb2.Value(string_value=special[text])
    return value


def _resolve_parameter(name: str, spec, ctx: RunContext, task_name: str,
                       produced: Mapping[str, Produced]) -> Optional[struct_pb2.Value]:
    kind = spec.WhichOneof("kind")
    if kind == "component_input_parameter":
        key = spec.component_input_parameter
        if key not in ctx.parameters:
            raise DriverError(f"input parameter {name}: parent DAG does not have input "
                              f"parameter {key}")
        value = ctx.parameters[key]
        return None if value.WhichOneof("kind") == "null_value" else value
    if kind == "task_output_parameter":
        out = spec.task_output_parameter
        params = produced[out.producer_task].parameters
        if out.output_parameter_key not in params:
            raise DriverError(f"input parameter {name}: task {out.producer_task} has no "
                              f"output parameter {out.output_parameter_key}")
        return params[out.output_parameter_key]
    if kind == "runtime_value":
        if spec.runtime_value.WhichOneof("value") != "constant":
            raise DriverError(f"input parameter {name}: runtime value "
                              f"{spec.runtime_value.WhichOneof('value')} not implemented")
        return _special_constant(spec.runtime_value.constant, ctx, task_name)
    raise DriverError(f"input parameter {name}: parameter spec of type {kind} not "
                      "implemented")


def _types(*names: str) -> tuple:
    # TASK_CONFIG is newer than the kfp-pipeline-spec installed here.
    return tuple(ParameterType.ParameterTypeEnum.Value(n) for n in names
                 if n in ParameterType.ParameterTypeEnum.keys())


_TASK_CONFIG = _types("TASK_CONFIG")
_KIND_TYPES = {"number_value": _types("NUMBER_DOUBLE", "NUMBER_INTEGER"),
               "bool_value": _types("BOOLEAN"), "list_value": _types("LIST"),
               "struct_value": _types("STRUCT", "TASK_FINAL_STATUS", "TASK_CONFIG"),
               "string_value": _types("STRING")}


def _check_types(inputs: ExecutorInput.Inputs,
                 spec: pipeline_spec_pb2.ComponentInputsSpec) -> None:
    """resolveInputs' handleParamTypeValidationAndConversion."""
    for name, param in spec.parameters.items():
        if name not in inputs.parameter_values:
            if not param.is_optional and not param.HasField("default_value"):
                raise DriverError(f"neither value nor default value provided for "
                                  f"non-optional parameter {name!r}")
            continue
        value = inputs.parameter_values[name]
        kind = value.WhichOneof("kind")
        if param.parameter_type == ParameterType.STRING:
            if kind != "string_value":
                inputs.parameter_values[name].CopyFrom(
                    struct_pb2.Value(string_value=pb_value_to_text(value)))
            continue
        if kind == "null_value":
            raise DriverError(f"got null for input parameter {name!r}")
        if param.parameter_type not in _KIND_TYPES.get(kind, ()):
            raise DriverError(
                f"input parameter {name!r} type mismatch: expect "
                f"{ParameterType.ParameterTypeEnum.Name(param.parameter_type)}, got "
                f"{kind.replace('_value', '')}")


def resolve_inputs(task: pipeline_spec_pb2.PipelineTaskSpec,
                   component: pipeline_spec_pb2.ComponentSpec, ctx: RunContext,
                   task_name: str, produced: Mapping[str, Produced]) -> ExecutorInput.Inputs:
    """resolve.go resolveInputs for a root DAG container task."""
    inputs = ExecutorInput.Inputs()
    definitions = component.input_definitions
    for name, spec in task.inputs.parameters.items():
        if (name in definitions.parameters
                and definitions.parameters[name].parameter_type in _TASK_CONFIG):
            continue  # resolved after the pod spec, not here
        value = _resolve_parameter(name, spec, ctx, task_name, produced)
        if value is None:  # a null optional pipeline input: the launcher's default
            if name in definitions.parameters and definitions.parameters[name].is_optional:
                continue
            raise DriverError(f"input parameter {name}: resolved to null")
        inputs.parameter_values[name].CopyFrom(value)
    for name, spec in task.inputs.artifacts.items():
        if spec.WhichOneof("kind") != "task_output_artifact":
            raise DriverError(f"input artifact {name}: {spec.WhichOneof('kind')} not "
                              "implemented for root DAG tasks here")
        out = spec.task_output_artifact
        artifacts = produced[out.producer_task].artifacts
        if out.output_artifact_key not in artifacts:
            # resolveUpstreamArtifacts builds this error but does not return it; the
            # launcher then meets a nil artifact. Refuse it here, where it starts.
            raise DriverError(f"input artifact {name}: cannot find output artifact key "
                              f"{out.output_artifact_key!r} in producer task "
                              f"{out.producer_task!r}")
        inputs.artifacts[name].artifacts.add().CopyFrom(artifacts[out.output_artifact_key])
    _check_types(inputs, definitions)
    return inputs


def _pb_value_to_string(value: struct_pb2.Value) -> str:
    """util.go pbValueToString (the driver's own text form for command-line args)."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        n = value.number_value
        return str(int(n)) if n == int(n) else f"{n:g}"
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "null_value":
        return ""
    return json_text(json_format.MessageToDict(value))


def _resolve_parameter_placeholders(arg: str, executor_input: ExecutorInput) -> str:
    """util.go resolveInputParameterPlaceholders."""
    values = executor_input.inputs.parameter_values

    def sub(match):
        if match.group(1) not in values:
            raise DriverError(f"parameter {match.group(1)!r} not found in executor input")
        return _pb_value_to_string(values[match.group(1)])
    return _INPUT_PARAMETER.sub(sub, arg)


def resolve_container_args(args: List[str], executor_input: ExecutorInput) -> List[str]:
    """util.go resolveContainerArgs: input-parameter placeholders and IfPresent clauses
    are resolved by the driver; args naming outputs are left for later."""
    resolved = []
    values = executor_input.inputs.parameter_values
    for arg in args:
        if "$.outputs" in arg:
            resolved.append(arg)
        elif arg.strip().startswith('{"IfPresent":'):
            clause = json.loads(arg)["IfPresent"]
            present = clause.get("InputName") in values and \
                values[clause["InputName"]].WhichOneof("kind") != "null_value"
            chosen = clause.get("Then") if present else clause.get("Else")
            if chosen is None:
                continue
            for item in [chosen] if isinstance(chosen, str) else chosen:
                resolved.append(_resolve_parameter_placeholders(item, executor_input))
        else:
            resolved.append(_resolve_parameter_placeholders(arg, executor_input))
    return resolved


SecretLookup = Callable[[str, str, str], Optional[str]]


def pod_environment(container: pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec,
                    kubernetes: KubernetesExecutorConfig, secret_value: SecretLookup
                    ) -> Dict[str, str]:
    """The user container's variables: initPodSpecPatch's `container.env`, then
    extendPodSpecPatch's secretAsEnv. `secret_value(secret, key, variable)` stands in for
    the Kubernetes Secret; None means the Secret or key is missing, which fails the pod
    (what a pod with a missing Secret key does: it never starts)."""
    env = {e.name: e.value for e in container.env}
    # kfp-kubernetes 1.0.0's SecretAsEnv has a fixed secret_name and no `optional`: a
    # missing Secret or key keeps the pod from starting.
    for ref in kubernetes.secret_as_env:
        for pair in ref.key_to_env:
            value = secret_value(ref.secret_name, pair.secret_key, pair.env_var)
            if value is None:
                raise DriverError(f"Secret {ref.secret_name!r} key {pair.secret_key!r} "
                                  f"(variable {pair.env_var}) is not available: put it in "
                                  "the secrets file or set the variable")
            env[pair.env_var] = value
    return env
