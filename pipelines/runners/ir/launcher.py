"""What KFP 2.17.0's launcher does around a task's command, for a local run.

Read from kubeflow/pipelines at tag 2.17.0, `backend/src/v2/component/launcher_v2.go`:
executeV2 (addDefaultParams, then compileCmdAndArgs with getPlaceholders, then execute),
execute (downloadArtifacts, prepareOutputFolders, the log writer of getLogWriter, the
command, then getExecutorOutputFile), collectOutputParameters and uploadOutputArtifacts
(mergeRuntimeArtifacts, UploadBlob from each output's local path, then RecordArtifact into
MLMD). The copies to and from the bucket are objectstore.py's. What the next task's driver reads
back comes from `backend/src/v2/metadata`: converter.go toMLMDArtifact /
StructValueToMLMDValue / toRuntimeArtifact and client.go GetOutputArtifactsByExecutionId
(`Schema: ""`) with OutputArtifact.ToRuntimeArtifact.

The placeholder strings are kfp's own (kfp.dsl.placeholders), the ones its compiler writes.
"""
from __future__ import annotations

import os
import re
from typing import Dict, List, Optional, Tuple

from google.protobuf import json_format, struct_pb2
from kfp import dsl
from kfp.dsl import placeholders as kfp_placeholders
from kfp.pipeline_spec import pipeline_spec_pb2

from pipelines.runners.ir import driver, objectstore
from pipelines.runners.ir.driver import (EXECUTOR_LOGS, DriverError, ExecutorInput,
                                         RuntimeArtifact, local_path_for_uri)

ExecutorOutput = pipeline_spec_pb2.ExecutorOutput
ParameterType = pipeline_spec_pb2.ParameterType
# Any {{$...}} left after the launcher's replacements reaches the program as literal text.
_UNFILLED = re.compile(r"\{\{\$[^{}]*\}\}")


class LauncherError(RuntimeError):
    """What the launcher would fail the task with."""


def add_default_params(executor_input: ExecutorInput,
                       component: pipeline_spec_pb2.ComponentSpec) -> ExecutorInput:
    """addDefaultParams: a copy with each parameter's default where no value came."""
    out = ExecutorInput()
    out.CopyFrom(executor_input)
    for name, spec in component.input_definitions.parameters.items():
        if spec.HasField("default_value") and name not in out.inputs.parameter_values:
            out.inputs.parameter_values[name].CopyFrom(spec.default_value)
    return out


def executor_input_json(executor_input: ExecutorInput) -> str:
    """protojson.Marshal's form: compact JSON, lowerCamelCase field names, numbers as
    driver.json_text writes them."""
    return driver.json_text(json_format.MessageToDict(executor_input))


def _parameter_text(name: str, value: struct_pb2.Value) -> str:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return driver.format_float(value.number_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind in ("list_value", "struct_value"):
        return driver.json_text(json_format.MessageToDict(value))
    raise LauncherError(f"unknown PipelineSpec Value type {kind} of input parameter {name!r}")


def _key(placeholder) -> str:
    """The text kfp's compiler writes for a placeholder."""
    return placeholder._to_string()  # pylint: disable=protected-access


def placeholders(executor_input: ExecutorInput, staging: str) -> Dict[str, str]:
    """getPlaceholders. Input artifacts without a local path keep only their URI
    placeholder; an output artifact without one fails the task, as it does there."""
    out: Dict[str, str] = {}
    for name, listed in executor_input.inputs.artifacts.items():
        if not listed.artifacts:
            continue
        artifact = listed.artifacts[0]
        out[_key(kfp_placeholders.InputUriPlaceholder(name))] = artifact.uri
        try:
            path = local_path_for_uri(artifact.uri, staging)
        except DriverError:
            continue
        out[_key(kfp_placeholders.InputPathPlaceholder(name))] = path
    for name, listed in executor_input.outputs.artifacts.items():
        if not listed.artifacts:
            continue
        artifact = listed.artifacts[0]
        out[_key(kfp_placeholders.OutputUriPlaceholder(name))] = artifact.uri
        try:
            path = local_path_for_uri(artifact.uri, staging)
        except DriverError as e:
            raise LauncherError(f"resolve output artifact {name!r}'s local path: {e}") from e
        out[_key(kfp_placeholders.OutputPathPlaceholder(name))] = path
    for name, value in executor_input.inputs.parameter_values.items():
        out[_key(kfp_placeholders.InputValuePlaceholder(name))] = _parameter_text(name, value)
    for name, param in executor_input.outputs.parameters.items():
        out[_key(kfp_placeholders.OutputParameterPlaceholder(name))] = param.output_file
    return out


def compile_cmd_and_args(executor_input: ExecutorInput, command: List[str], staging: str
                         ) -> List[str]:
    """compileCmdAndArgs on the pod's command line (the launcher gets it after `--`: its
    first word is `cmd`, the rest `args`). `{{$}}` becomes the ExecutorInput JSON
    everywhere; the other placeholders are replaced in `args` only (compileCmdAndArgs
    replaces them in a copy of `cmd` it does not use)."""
    if not command:
        raise LauncherError("the container has no command")
    table = placeholders(executor_input, staging)
    whole = dsl.PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER  # "{{$}}"
    text = executor_input_json(executor_input)
    cmd = command[0].replace(whole, text)
    args = []
    for arg in command[1:]:
        arg = arg.replace(whole, text)
        for key, value in table.items():
            arg = arg.replace(key, value)
        args.append(arg)
    return [cmd] + args


def unfilled_placeholders(argv: List[str], executor_input_text: str) -> List[str]:
    """The {{$...}} left in a compiled command line (outside the ExecutorInput JSON, whose
    own strings may hold placeholder text as data)."""
    left = []
    for arg in argv:
        left += _UNFILLED.findall(arg.replace(executor_input_text, ""))
    return left


def read_executor_output(path: str) -> ExecutorOutput:
    """getExecutorOutputFile: no file is an empty ExecutorOutput; a file that does not
    parse fails the task."""
    output = ExecutorOutput()
    if not os.path.exists(path):
        return output
    with open(path, "rb") as f:
        data = f.read()
    try:
        json_format.Parse(data, output)
    except json_format.ParseError as e:
        raise LauncherError(f"failed to unmarshall ExecutorOutput in file {path!r}: {e}") \
            from e
    return output


def text_to_value(text: str, kind: int) -> struct_pb2.Value:
    """metadata TextToPbValue."""
    try:
        if kind == ParameterType.STRING:
            return struct_pb2.Value(string_value=text)
        if kind == ParameterType.NUMBER_INTEGER:
            return struct_pb2.Value(number_value=float(int(text.strip())))
        if kind == ParameterType.NUMBER_DOUBLE:
            return struct_pb2.Value(number_value=float(text.strip()))
        if kind == ParameterType.BOOLEAN:
            word = text.strip()
            if word not in ("1", "t", "T", "TRUE", "true", "True",
                            "0", "f", "F", "FALSE", "false", "False"):
                raise ValueError(f"invalid syntax {word!r}")
            return struct_pb2.Value(bool_value=word in ("1", "t", "T", "TRUE", "true", "True"))
        value = struct_pb2.Value()
        json_format.Parse(text, value)
        expected = "list_value" if kind == ParameterType.LIST else "struct_value"
        if value.WhichOneof("kind") != expected:
            raise ValueError("unexpected type")
        return value
    except (ValueError, json_format.ParseError) as e:
        raise LauncherError(f"TextToPbValue(text={text!r}, type="
                            f"{ParameterType.ParameterTypeEnum.Name(kind)}) failed: {e}") from e


def collect_output_parameters(executor_input: ExecutorInput, executor_output: ExecutorOutput,
                              component: pipeline_spec_pb2.ComponentSpec) -> None:
    """collectOutputParameters: values missing from the output file are read from each
    parameter's output file."""
    for name, param in executor_input.outputs.parameters.items():
        if name in executor_output.parameter_values:
            continue
        spec = component.output_definitions.parameters.get(name)
        if spec is None:
            raise LauncherError(f"failed to find output parameter name={name!r} in "
                                "component spec")
        try:
            with open(param.output_file, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise LauncherError(f"failed to read output parameter name={name!r} "
                                f"path={param.output_file!r}: {e}") from e
        executor_output.parameter_values[name].CopyFrom(
            text_to_value(text, spec.parameter_type))


def _to_mlmd_value(key: str, value: struct_pb2.Value) -> Tuple[str, object]:
    """StructValueToMLMDValue, as (MLMD value kind, value)."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return "string", value.string_value
    if kind == "number_value":
        return "double", value.number_value
    if kind == "bool_value":
        return "int", int(value.bool_value)
    if kind == "list_value":
        return "struct", {"list": json_format.MessageToDict(value)}
    if kind == "struct_value":
        return "struct", {"struct": json_format.MessageToDict(value)}
    raise LauncherError(f"unable to produce MLMD artifact: metadata {key!r}: "
                        f"unknown/unsupported value type {kind}")


def recorded_artifact(output: RuntimeArtifact, artifact_id: int) -> RuntimeArtifact:
    """The output artifact as RecordArtifact stores it (toMLMDArtifact, display_name) and
    the next driver reads it back (toRuntimeArtifact; GetOutputArtifactsByExecutionId's
    empty schema made an instance schema by ToRuntimeArtifact). MLMD's
    store_session_info property, the object store's session, has no counterpart here."""
    custom = {}
    for key, value in output.metadata.fields.items():
        if key == "_kfp_workspace":
            continue
        custom[key] = _to_mlmd_value(key, value)
    custom.setdefault("display_name", ("string", output.name))
    back = RuntimeArtifact(name=str(artifact_id), uri=output.uri)
    back.metadata.SetInParent()
    for key, (kind, value) in custom.items():
        if kind == "string":
            back.metadata.fields[key].string_value = value
        elif kind in ("double", "int"):
            back.metadata.fields[key].number_value = float(value)
        else:
            back.metadata.fields[key].struct_value.update(value)
    back.type.instance_schema = ""
    return back


def merged_outputs(executor_input: ExecutorInput, executor_output: ExecutorOutput
                   ) -> Dict[str, RuntimeArtifact]:
    """uploadOutputArtifacts' mergeRuntimeArtifacts: the executor output's URI and
    metadata over each provisioned output (never over the launcher's executor-logs)."""
    merged = {}
    for name, listed in executor_input.outputs.artifacts.items():
        if not listed.artifacts:
            continue
        artifact = RuntimeArtifact()
        artifact.CopyFrom(listed.artifacts[0])
        written = executor_output.artifacts.get(name)
        if name != EXECUTOR_LOGS and written is not None and written.artifacts:
            source = written.artifacts[0]
            if source.uri:
                artifact.uri = source.uri
            if source.HasField("metadata"):
                for key, value in source.metadata.fields.items():
                    artifact.metadata.fields[key].CopyFrom(value)
        merged[name] = artifact
    return merged


def prepare_output_folders(executor_input: ExecutorInput, staging: str) -> None:
    """prepareOutputFolders: the folders above each output parameter file and above each
    output artifact's local path."""
    for param in executor_input.outputs.parameters.values():
        os.makedirs(os.path.dirname(param.output_file), exist_ok=True)
    for listed in executor_input.outputs.artifacts.values():
        for artifact in listed.artifacts:
            os.makedirs(os.path.dirname(local_path_for_uri(artifact.uri, staging)),
                        exist_ok=True)


def _pod_path(uri: str, staging: str) -> Optional[str]:
    """LocalPathForURI as the backend has it: None for a URI with no object-store
    scheme (a local folder is a path of this machine, not of a pod)."""
    if "://" not in uri:
        return None
    try:
        return local_path_for_uri(uri, staging)
    except DriverError:
        return None


def _workspace(artifact: RuntimeArtifact) -> bool:
    value = artifact.metadata.fields.get("_kfp_workspace")
    return value is not None and value.WhichOneof("kind") == "bool_value" and value.bool_value


def _bucket_for(uri: str, default: objectstore.Bucket, name: str) -> objectstore.Bucket:
    """fetchNonDefaultBuckets: an artifact outside the pipeline root's prefixed bucket is
    read through a bucket of its own (no prefix; the same session here)."""
    if uri.startswith(default.config.prefixed_bucket()):
        return default
    try:
        config = objectstore.parse_bucket_config_for_artifact_uri(uri)
        return objectstore.Bucket(config, default.client)
    except objectstore.ObjectStoreError as e:
        raise LauncherError(f"failed to parse bucketConfig for output artifact {name!r} "
                            f"with uri {uri!r}: {e}") from e


def download_artifacts(executor_input: ExecutorInput, bucket: objectstore.Bucket,
                       staging: str) -> None:
    """downloadArtifacts: every input artifact with an object-store URI is copied to its
    local path (LocalPathForURI under `staging`, the pod's /s3 and /gcs mounts), whether
    or not the command reads that path; workspace artifacts are skipped."""
    for name, listed in executor_input.inputs.artifacts.items():
        for artifact in listed.artifacts:
            local_path = _pod_path(artifact.uri, staging)
            if _workspace(artifact) or local_path is None:
                continue
            source = _bucket_for(artifact.uri, bucket, name)
            try:
                key = source.config.key_from_uri(artifact.uri)
                objectstore.download_blob(source, local_path, key)
            except objectstore.ObjectStoreError as e:
                raise LauncherError(f"failed to download input artifact {name!r} from "
                                    f"remote storage URI {artifact.uri!r}: {e}") from e


def upload_output_artifacts(artifacts: Dict[str, RuntimeArtifact],
                            bucket: objectstore.Bucket, staging: str, succeeded: bool
                            ) -> Dict[str, RuntimeArtifact]:
    """uploadOutputArtifacts on merged outputs (merged_outputs): each output's local path
    is uploaded to its URI's key under the pipeline root's bucket; returns the artifacts
    the launcher records. After a failed command only executor-logs is uploaded. A local
    path the command did not write is no error (TFX's executors write to the URIs
    themselves); an executor-logs never written is not recorded."""
    recorded = {}
    for name, artifact in artifacts.items():
        if not succeeded and name != EXECUTOR_LOGS:
            continue
        local_path = _pod_path(artifact.uri, staging)
        if local_path is None:  # not uploaded, recorded (executor-logs is dropped)
            if name != EXECUTOR_LOGS:
                recorded[name] = artifact
            continue
        try:
            key = bucket.config.key_from_uri(artifact.uri)
        except objectstore.ObjectStoreError as e:
            raise LauncherError(f"failed to upload output artifact {name!r}: {e}") from e
        try:
            objectstore.upload_blob(bucket, local_path, key)
        except FileNotFoundError:
            if name == EXECUTOR_LOGS:
                continue
        except objectstore.ObjectStoreError as e:
            raise LauncherError(f"failed to upload output artifact {name!r} to remote "
                                f"storage URI {artifact.uri!r}: {e}") from e
        recorded[name] = artifact
    return recorded
