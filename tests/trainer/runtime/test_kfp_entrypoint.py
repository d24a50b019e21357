"""trainer/runtime/kfp_entrypoint.py, the pipeline image's container command: run as KFP runs it
(`python -m trainer.runtime.kfp_entrypoint <TFX's executor arguments>`, a child process) on an
executor invocation whose artifacts live on s3:// (moto's S3 server on 127.0.0.1,
tests/s3_standin.py). A step that succeeds exits 0 and one that fails exits 1 with its
traceback, never tensorflow-io's 134."""
import json
import os
import subprocess
import sys

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.dsl.components.base import base_executor
from tfx.dsl.io import fileio
from tfx.orchestration.kubeflow.v2 import compiler_utils
from tfx.types import standard_artifacts

from tests.s3_standin import s3_server
from trainer.runtime import kfp_entrypoint as entry

from tests.paths import REPO as REPO_ROOT


class WriteModelExecutor(base_executor.BaseExecutor):
    """Writes its output through TFX's fileio, as every TFX executor does."""

    def Do(self, input_dict, output_dict, exec_properties):
        (model,) = output_dict["model"]
        with fileio.open(os.path.join(model.uri, "model.txt"), "w") as f:
            f.write(f"trained with {exec_properties['epochs']} epochs")


class FailingExecutor(base_executor.BaseExecutor):
    def Do(self, input_dict, output_dict, exec_properties):
        (model,) = output_dict["model"]
        with fileio.open(os.path.join(model.uri, "partial.txt"), "w") as f:
            f.write("half")
        raise RuntimeError("the executor failed on purpose")


def test_names_s3_and_exit_codes():
    assert entry.names_s3(["--x", '{"uri": "s3://b/k"}'])
    assert not entry.names_s3(["--x", '{"uri": "gs://b/k"}', "/s3/local"])
    assert entry.exit_code(None) == 0 and entry.exit_code(3) == 3
    assert entry.exit_code("usage: ...") == 1
    assert entry.COMMAND == ["python", "-m", "trainer.runtime.kfp_entrypoint"]
    assert entry.DRIVER_COMMAND == entry.COMMAND + ["--driver"]


def _invocation(root: str) -> str:
    ei = pipeline_spec_pb2.ExecutorInput()
    model = ei.outputs.artifacts["model"].artifacts.add(uri=f"{root}/Trainer/model/7")
    model.type.instance_schema = compiler_utils.get_artifact_schema(standard_artifacts.Model)
    ei.inputs.parameter_values["epochs"].number_value = 2
    ei.outputs.output_file = f"{root}/Trainer/executor_output.json"
    return json_format.MessageToJson(ei)


@pytest.fixture(scope="module")
def s3():
    with s3_server() as server:
        server.bucket("pipelines")
        yield server


def _inputs_spec() -> str:
    """What TFX compiles with PipelineSpec 2.1 (the schema the project compiles to)."""
    spec = pipeline_spec_pb2.ComponentInputsSpec()
    spec.parameters["epochs"].parameter_type = pipeline_spec_pb2.ParameterType.NUMBER_INTEGER
    return json_format.MessageToJson(spec)


def _run(s3, executor, root):
    return subprocess.run(
        [sys.executable, "-m", "trainer.runtime.kfp_entrypoint", "--executor_class_path",
         f"tests.trainer.runtime.test_kfp_entrypoint.{executor}", "--json_serialized_invocation_args",
         _invocation(root), "--json_serialized_inputs_spec_args", _inputs_spec(),
         "--direct_running_mode=in_memory"],
        cwd=REPO_ROOT, env=s3.process_env(), capture_output=True, text=True, timeout=300)


def test_a_step_on_s3_that_succeeds_exits_zero(s3):
    result = _run(s3, "WriteModelExecutor", "s3://pipelines/ok")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pure virtual method called" not in result.stderr
    body = s3.client.get_object(Bucket="pipelines", Key="ok/Trainer/model/7/model.txt")
    assert body["Body"].read() == b"trained with 2 epochs"
    output = json.loads(s3.client.get_object(
        Bucket="pipelines", Key="ok/Trainer/executor_output.json")["Body"].read())
    (model,) = output["artifacts"]["model"]["artifacts"]
    assert model["uri"] == "s3://pipelines/ok/Trainer/model/7"


def test_a_step_on_s3_that_fails_exits_with_its_own_code(s3):
    result = _run(s3, "FailingExecutor", "s3://pipelines/bad")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "RuntimeError: the executor failed on purpose" in result.stderr
    assert "pure virtual method called" not in result.stderr
    assert "bad/Trainer/executor_output.json" not in s3.keys("s3://pipelines/bad/")


def test_example_gen_driver_fingerprints_s3_input(s3):
    """`--driver`: TFX's FileBasedExampleGen driver (the IR's preCacheCheck hook) lists
    and fingerprints input files on s3:// and writes its output there."""
    s3.bucket("corpus")
    s3.put("s3://corpus/mnist/train-images-idx3-ubyte.gz", b"images")
    s3.put("s3://corpus/mnist/train-labels-idx1-ubyte.gz", b"labels")
    ei = pipeline_spec_pb2.ExecutorInput()
    examples = ei.outputs.artifacts["examples"].artifacts.add(
        uri="s3://pipelines/drv/MnistExampleGen/examples/1")
    examples.type.instance_schema = compiler_utils.get_artifact_schema(
        standard_artifacts.Examples)
    ei.inputs.parameter_values["input_base"].string_value = "s3://corpus/mnist"
    ei.inputs.parameter_values["input_config"].string_value = json.dumps(
        {"splits": [{"name": "single", "pattern": "train-*-idx[13]-ubyte*"}]})
    ei.outputs.output_file = "s3://pipelines/drv/MnistExampleGen/executor_output.json"
    spec = pipeline_spec_pb2.ComponentInputsSpec()
    for name in ("input_base", "input_config"):
        spec.parameters[name].parameter_type = pipeline_spec_pb2.ParameterType.STRING
    result = subprocess.run(
        [sys.executable] + entry.DRIVER_COMMAND[1:]  # "python" is this interpreter
        + ["--json_serialized_invocation_args", json_format.MessageToJson(ei),
           "--json_serialized_inputs_spec_args", json_format.MessageToJson(spec)],
        cwd=REPO_ROOT, env=s3.process_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(s3.client.get_object(
        Bucket="pipelines", Key="drv/MnistExampleGen/executor_output.json")["Body"].read())
    fingerprint = output["parameterValues"]["input_fingerprint"]
    assert fingerprint.startswith("split:single,num_files:2,total_bytes:12,"), fingerprint


def test_bad_arguments_exit_nonzero(s3):
    result = subprocess.run([sys.executable, "-m", "trainer.runtime.kfp_entrypoint",
                             "--json_serialized_invocation_args", "{}"],
                            cwd=REPO_ROOT, env=s3.process_env(), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode not in (0, 134)
    assert "--executor_class_path" in result.stderr
