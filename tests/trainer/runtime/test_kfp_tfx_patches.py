"""TFX's Kubeflow V2 executor entrypoint fed what open-source KFP's driver really hands
over (untyped and `system.*`-typed inputs), with and without trainer/runtime/kfp_tfx_patches.py,
and directory markers removed from outputs on an S3 server on 127.0.0.1 (moto's server,
a stand-in for the cluster's object store)."""
import json
import os

import pytest
from google.protobuf import json_format, struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.dsl.components.base import base_executor
from tfx.orchestration.kubeflow.v2 import compiler_utils
from tfx.orchestration.kubeflow.v2.container import (kubeflow_v2_entrypoint_utils,
                                                     kubeflow_v2_run_executor)
from tfx.types import standard_artifacts

from trainer.runtime import kfp_tfx_patches as patches

RECORDED = []


class RecordingExecutor(base_executor.BaseExecutor):
    """Stands in for a TFX executor: records what it was given, writes one output."""

    def Do(self, input_dict, output_dict, exec_properties):
        RECORDED.append({k: [(type(a).__name__, a.uri, a.split_names
                              if isinstance(a, standard_artifacts.Examples) else None)
                             for a in v] for k, v in input_dict.items()})
        for artifacts in output_dict.values():
            for a in artifacts:
                if a.uri.startswith("s3://"):
                    _write_with_markers(a.uri)


def _schema(cls):
    return pipeline_spec_pb2.ArtifactTypeSchema(
        instance_schema=compiler_utils.get_artifact_schema(cls))


def _inputs_spec():
    spec = pipeline_spec_pb2.ComponentInputsSpec()
    spec.artifacts["examples"].artifact_type.CopyFrom(_schema(standard_artifacts.Examples))
    spec.artifacts["model"].artifact_type.CopyFrom(_schema(standard_artifacts.Model))
    return spec


def _executor_input(tmp_path, model_type, output_uri):
    """What KFP 2.17's driver writes: upstream artifacts with metadata but an empty or
    KFP-system type (backend/src/v2/metadata/client.go: `Schema: ""`)."""
    ei = pipeline_spec_pb2.ExecutorInput()
    examples = ei.inputs.artifacts["examples"].artifacts.add(
        name="11", uri=str(tmp_path / "examples"),
        metadata=struct_pb2.Struct(fields={
            "split_names": struct_pb2.Value(string_value='["train", "eval"]')}))
    examples.type.instance_schema = ""
    model = ei.inputs.artifacts["model"].artifacts.add(name="12", uri=str(tmp_path / "model"))
    model.type.CopyFrom(model_type)
    out = ei.outputs.artifacts["model"].artifacts.add(uri=output_uri)
    out.type.CopyFrom(_schema(standard_artifacts.Model))
    ei.outputs.output_file = str(tmp_path / "task" / "executor_output.json")
    return ei


@pytest.mark.parametrize("model_type", [
    pipeline_spec_pb2.ArtifactTypeSchema(instance_schema=""),
    pipeline_spec_pb2.ArtifactTypeSchema(schema_title="system.Model")],
    ids=["empty-schema", "system-title"])
def test_stock_tfx_cannot_parse_what_kfp_hands_over(tmp_path, model_type):
    ei = _executor_input(tmp_path, model_type, str(tmp_path / "out"))
    with pytest.raises((AttributeError, ImportError, TypeError, UnboundLocalError)):
        kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(ei.inputs.artifacts, {})


def test_completed_types_parse_with_typed_properties(tmp_path):
    ei = _executor_input(tmp_path, pipeline_spec_pb2.ArtifactTypeSchema(
        schema_title="system.Model"), str(tmp_path / "out"))
    assert sorted(patches.complete_input_types(ei, _inputs_spec())) == ["examples", "model"]
    parsed = kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(ei.inputs.artifacts, {})
    assert isinstance(parsed["examples"][0], standard_artifacts.Examples)
    assert parsed["examples"][0].split_names == '["train", "eval"]'
    assert isinstance(parsed["model"][0], standard_artifacts.Model)
    # Already-typed inputs are left alone.
    assert patches.complete_input_types(ei, _inputs_spec()) == []


@pytest.fixture
def s3(monkeypatch):
    """An S3 API on 127.0.0.1 (moto's server) with one bucket; env as a pod gets it."""
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "AWS_REGION": "us-east-1", "S3_ENDPOINT": f"http://{host}:{port}",
                       "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0"}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(key, raising=False)
    from trainer.runtime import object_store
    client = object_store.S3Settings.from_env().client()
    client.create_bucket(Bucket="pipelines")
    yield client
    server.stop()


def _write_with_markers(uri):
    from trainer.runtime import object_store
    bucket, key = object_store.split_s3(uri)
    client = object_store.S3Settings.from_env().client()
    for name, body in [("/", b""), ("/Format-Serving/", b""),
                       ("/Format-Serving/saved_model.pb", b"graph"),
                       ("/Format-Serving/variables/", b""), ("/empty.txt", b"")]:
        client.put_object(Bucket=bucket, Key=key + name, Body=body)


def _keys(client, prefix):
    page = client.list_objects_v2(Bucket="pipelines", Prefix=prefix)
    return sorted(o["Key"] for o in page.get("Contents", []))


def test_patched_entrypoint_types_inputs_and_removes_markers(tmp_path, s3, monkeypatch):
    monkeypatch.setattr(kubeflow_v2_run_executor, "_run_executor",
                        kubeflow_v2_run_executor._run_executor)  # undone after the test
    monkeypatch.setattr(patches, "_installed", False)
    patches.install()
    patches.install()  # idempotent: wrapped once
    assert kubeflow_v2_run_executor._run_executor.__wrapped__.__name__ == "_run_executor"
    s3.put_object(Bucket="pipelines", Key="run/Other/model/", Body=b"")  # not an output
    ei = _executor_input(tmp_path, pipeline_spec_pb2.ArtifactTypeSchema(instance_schema=""),
                         "s3://pipelines/run/Trainer/model")
    RECORDED.clear()
    kubeflow_v2_run_executor.main(kubeflow_v2_run_executor._parse_flags([
        "prog", "--executor_class_path", f"{__name__}.RecordingExecutor",
        "--json_serialized_invocation_args", json_format.MessageToJson(ei),
        "--json_serialized_inputs_spec_args", json_format.MessageToJson(_inputs_spec())]))
    assert RECORDED[0]["examples"][0][0] == "Examples"
    assert RECORDED[0]["examples"][0][2] == '["train", "eval"]'
    assert RECORDED[0]["model"][0][0] == "Model"
    assert _keys(s3, "run/Trainer/") == ["run/Trainer/model/Format-Serving/saved_model.pb",
                                         "run/Trainer/model/empty.txt"]
    assert _keys(s3, "run/Other/") == ["run/Other/model/"]
    with open(ei.outputs.output_file) as f:
        assert "s3://pipelines/run/Trainer/model" in json.dumps(json.load(f))


def test_markers_only_under_the_given_prefix_and_not_on_local_paths(tmp_path, s3):
    for key in ["a/model/", "a/model/x/", "a/model2/", "a/model/x/file"]:
        s3.put_object(Bucket="pipelines", Key=key, Body=b"" if key.endswith("/") else b"1")
    os.makedirs(tmp_path / "local" / "x")
    assert patches.remove_directory_markers(
        ["s3://pipelines/a/model", str(tmp_path / "local")]) == 2
    assert _keys(s3, "a/") == ["a/model/x/file", "a/model2/"]
    assert os.path.isdir(tmp_path / "local" / "x")


class _FakeBlob:
    """Stand-in for google.cloud.storage blobs (no GCS on this machine)."""

    def __init__(self, bucket, name, size):
        self.bucket, self.name, self.size = bucket, name, size

    def delete(self):
        self.bucket.blobs.remove(self)


class _FakeGcs:
    def __init__(self, names):
        self.blobs = []
        self.blobs += [_FakeBlob(self, n, 0 if n.endswith("/") else 5) for n in names]
        self.asked = []

    def bucket(self, name):
        self.asked.append(name)
        return self

    def list_blobs(self, prefix):
        return [b for b in list(self.blobs) if b.name.startswith(prefix)]


def test_gcs_markers_are_removed_with_the_storage_client():
    gcs = _FakeGcs(["r/m/", "r/m/Format-Serving/", "r/m/Format-Serving/saved_model.pb",
                    "r/m2/"])
    assert patches.remove_directory_markers(["gs://b/r/m"], gcs_client=gcs) == 2
    assert sorted(b.name for b in gcs.blobs) == ["r/m/Format-Serving/saved_model.pb", "r/m2/"]
    assert gcs.asked == ["b"]


def _with_launcher_logs(ei):
    """What KFP 2.17's driver adds when logs are published (its manifests' default):
    an `executor-logs` output of KFP's own type (driver.go provisionOutputs)."""
    logs = ei.outputs.artifacts["executor-logs"].artifacts.add(
        name="executor-logs", uri=str(ei.outputs.output_file) + ".logs")
    logs.type.schema_title = "system.Artifact"
    return ei


def test_stock_tfx_cannot_parse_the_launchers_log_output(tmp_path):
    ei = _with_launcher_logs(_executor_input(
        tmp_path, _schema(standard_artifacts.Model), str(tmp_path / "out")))
    with pytest.raises(ImportError, match="system.Artifact"):
        kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(ei.outputs.artifacts, {})
    assert patches.drop_launcher_outputs(ei) == ["executor-logs"]
    parsed = kubeflow_v2_entrypoint_utils.parse_raw_artifact_dict(ei.outputs.artifacts, {})
    assert list(parsed) == ["model"]
    assert patches.drop_launcher_outputs(ei) == []


def test_patched_entrypoint_runs_with_the_launchers_log_output(tmp_path, monkeypatch):
    monkeypatch.setattr(kubeflow_v2_run_executor, "_run_executor",
                        kubeflow_v2_run_executor._run_executor)  # undone after the test
    monkeypatch.setattr(patches, "_installed", False)
    patches.install()
    ei = _with_launcher_logs(_executor_input(
        tmp_path, _schema(standard_artifacts.Model), str(tmp_path / "out")))
    RECORDED.clear()
    kubeflow_v2_run_executor.main(kubeflow_v2_run_executor._parse_flags([
        "prog", "--executor_class_path", f"{__name__}.RecordingExecutor",
        "--json_serialized_invocation_args", json_format.MessageToJson(ei),
        "--json_serialized_inputs_spec_args", json_format.MessageToJson(_inputs_spec())]))
    assert RECORDED[0]["model"][0][0] == "Model"
    with open(ei.outputs.output_file) as f:
        assert list(json.load(f)["artifacts"]) == ["model"]
