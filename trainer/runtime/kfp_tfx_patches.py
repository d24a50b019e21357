"""Runtime fixes TFX 1.16's Kubeflow V2 container entrypoint needs on open-source KFP v2.

TFX's `kubeflow_v2_run_executor` was written against Vertex AI Pipelines. On the
open-source backend three things break it (the first two found by sky-uk/kfp-operator,
`provider-service/kfp/tfx-patch`; all read in kubeflow/pipelines 2.17.0):

1. **Input artifact types.** KFP's driver hands upstream artifacts over without a type:
   `backend/src/v2/metadata/client.go` builds them with `Schema: "" // TODO(Bobgy): figure
   out how to get schema`, and may title them `system.*` (KFP's own types), which TFX's
   `_retrieve_class_path` cannot import (an empty schema fails with `'NoneType' object has
   no attribute 'get'`, `system.Model` with `ImportError`). The component's own input spec
   (`--json_serialized_inputs_spec_args`, which TFX's compiler always passes) names the
   exact TFX type of every input, so `complete_input_types` copies it onto every untyped or
   `system.*`-typed input before TFX parses them. With the type restored, TFX reads typed
   properties such as Examples' `split_names` back from the artifact metadata.
2. **Directory markers.** Object-store directory markers (zero-byte objects whose key ends
   in "/", written by TensorFlow's GCS and S3 filesystems on makedirs) are downloaded by
   the next task's KFP launcher as files, after which it cannot create the folder of the
   same name (kubeflow/pipelines #13476; TFX's `Format-Serving/` is the usual victim).
   `remove_directory_markers` deletes them under every output artifact once the executor
   has finished, for s3:// (boto3, settings from trainer/runtime/object_store.py) and gs://.

3. **The launcher's log output.** KFP's driver adds an output artifact `executor-logs`
   (type `system.Artifact`) to every task's ExecutorInput when logs are published, which
   is the default of the backend's manifests (`PUBLISH_LOGS: "true"`; driver.go
   provisionOutputs); the launcher writes the task's output there itself. TFX parses every
   output and fails with `ImportError: Could not import system.Artifact`.
   `drop_launcher_outputs` removes it before TFX reads the outputs (found by running the
   compiled IR with `classics run-ir`, which follows the driver's rules).

kfp-operator also flattens `Format-Serving/` (breaks Vertex) and re-exports
KubeflowV2DagRunner (only needed by their compiler); neither is done here.

Wiring: the pipeline image's entrypoint module calls `install()` before it hands over to
`tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor.main`; `install()`
wraps that module's `_run_executor`, so TFX must be imported as a module (not run with
`python -m` on TFX's file, whose `__main__` copy would not be patched).
"""
from __future__ import annotations

import functools
import logging
from typing import Callable, Iterable, List, Optional

import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from trainer.runtime import object_store

_log = logging.getLogger(__name__)
KFP_SYSTEM_PREFIX = "system."
_installed = False


def artifact_title(type_schema: pipeline_spec_pb2.ArtifactTypeSchema) -> Optional[str]:
    """The schema title of an artifact type, or None when it carries none."""
    kind = type_schema.WhichOneof("kind")
    if kind == "schema_title":
        return type_schema.schema_title or None
    if kind == "instance_schema":
        data = yaml.safe_load(type_schema.instance_schema or "") or {}
        return data.get("title") if isinstance(data, dict) else None
    return None


def complete_input_types(executor_input: pipeline_spec_pb2.ExecutorInput,
                         inputs_spec: pipeline_spec_pb2.ComponentInputsSpec) -> List[str]:
    """Gives every input artifact without a type (or with a KFP `system.*` type) the TFX
    type its component declares. Returns the input keys it changed."""
    fixed = []
    for key, artifact_list in executor_input.inputs.artifacts.items():
        if key not in inputs_spec.artifacts:
            continue
        declared = inputs_spec.artifacts[key].artifact_type
        for artifact in artifact_list.artifacts:
            title = artifact_title(artifact.type)
            if title is None or title.startswith(KFP_SYSTEM_PREFIX):
                artifact.type.CopyFrom(declared)
                if key not in fixed:
                    fixed.append(key)
    return fixed


# driver.go provisionOutputs: the launcher's own output, not the component's.
LAUNCHER_OUTPUTS = ("executor-logs",)


def drop_launcher_outputs(executor_input: pipeline_spec_pb2.ExecutorInput) -> List[str]:
    """Removes the outputs the KFP launcher owns (LAUNCHER_OUTPUTS) from what TFX will
    parse; returns the keys it removed."""
    dropped = [k for k in LAUNCHER_OUTPUTS if k in executor_input.outputs.artifacts]
    for key in dropped:
        del executor_input.outputs.artifacts[key]
    return dropped


def output_uris(executor_input: pipeline_spec_pb2.ExecutorInput) -> List[str]:
    return [a.uri for artifact_list in executor_input.outputs.artifacts.values()
            for a in artifact_list.artifacts if a.uri]


def _s3_markers(uri: str, client) -> int:
    bucket, key = object_store.split_s3(uri)
    prefix = key.rstrip("/") + "/"
    markers = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                  Prefix=prefix):
        markers += [o["Key"] for o in page.get("Contents", [])
                    if o["Key"].endswith("/") and o.get("Size", 0) == 0]
    for start in range(0, len(markers), 1000):  # delete_objects takes at most 1000 keys
        client.delete_objects(Bucket=bucket, Delete={
            "Objects": [{"Key": k} for k in markers[start:start + 1000]], "Quiet": True})
    return len(markers)


def _gcs_markers(uri: str, client) -> int:
    bucket_name, _, key = uri[len(object_store.GCS_SCHEME):].partition("/")
    bucket = client.bucket(bucket_name)
    markers = [b for b in bucket.list_blobs(prefix=key.rstrip("/") + "/")
               if b.name.endswith("/") and (b.size or 0) == 0]
    for blob in markers:
        blob.delete()
    return len(markers)


def remove_directory_markers(uris: Iterable[str], s3_client=None, gcs_client=None) -> int:
    """Deletes the zero-byte "folder/" objects under each s3:// or gs:// URI (local paths
    have none); returns how many. Clients default to ones built from the environment."""
    removed = 0
    for uri in uris:
        if object_store.is_s3(uri):
            if s3_client is None:
                s3_client = object_store.S3Settings.from_env().client()
            removed += _s3_markers(uri, s3_client)
        elif uri.startswith(object_store.GCS_SCHEME):
            if gcs_client is None:
                from google.cloud import storage  # pylint: disable=import-outside-toplevel
                gcs_client = storage.Client()
            removed += _gcs_markers(uri, gcs_client)
    return removed


def _with_fixes(run_executor: Callable) -> Callable:
    @functools.wraps(run_executor)
    def run(args, beam_args):
        executor_input = pipeline_spec_pb2.ExecutorInput()
        json_format.Parse(args.json_serialized_invocation_args, executor_input,
                          ignore_unknown_fields=True)
        changed = drop_launcher_outputs(executor_input)
        if changed:
            _log.info("left the launcher's own outputs %s out of TFX's outputs", changed)
        spec_json = getattr(args, "json_serialized_inputs_spec_args", None)
        if spec_json:
            spec = pipeline_spec_pb2.ComponentInputsSpec()
            json_format.Parse(spec_json, spec, ignore_unknown_fields=True)
            fixed = complete_input_types(executor_input, spec)
            if fixed:
                _log.info("typed inputs %s from the component's input spec", fixed)
                changed += fixed
        if changed:
            args.json_serialized_invocation_args = json_format.MessageToJson(executor_input)
        run_executor(args, beam_args)
        removed = remove_directory_markers(output_uris(executor_input))
        if removed:
            _log.info("removed %d directory marker object(s) from the outputs", removed)
    run.kfp_tfx_patched = True
    return run


def install() -> None:
    """Patches TFX's Kubeflow V2 run-executor module in this process (idempotent)."""
    global _installed  # pylint: disable=global-statement
    if _installed:
        return
    # pylint: disable=import-outside-toplevel
    from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor as rx

    if not getattr(rx._run_executor, "kfp_tfx_patched", False):  # pylint: disable=protected-access
        rx._run_executor = _with_fixes(rx._run_executor)  # pylint: disable=protected-access
    _installed = True


__all__ = ["artifact_title", "complete_input_types", "drop_launcher_outputs", "install",
           "output_uris", "remove_directory_markers"]
