"""The local driver's ExecutorInput against kfp's protos and the rules of KFP 2.17.0's
driver (backend/src/v2/driver: provisionOutputs, resolveInputs, resolveContainerArgs,
extendPodSpecPatch's secretAsEnv), on IRs that kfp's own compiler wrote."""
import json

import pytest
from google.protobuf import json_format, struct_pb2
from kfp.dsl import executor as kfp_executor
from kfp.pipeline_spec import pipeline_spec_pb2

from pipelines.runners.ir import dag as ir_dag
from pipelines.runners.ir import driver, launcher
from tests.pipelines.runners.ir import tiny_pipeline

ROOT = "/data/root"
RUN = "run-7"


def _ctx(**kw):
    fields = dict(pipeline_name="tiny", run_id=RUN,
                  run_root=driver.pipeline_run_root(ROOT, "tiny", RUN))
    fields.update(kw)
    return driver.RunContext(**fields)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return ir_dag.load(tiny_pipeline.compile_to(str(tmp_path_factory.mktemp("ir"))))


@pytest.fixture(scope="module")
def tiny_python(tmp_path_factory):
    return ir_dag.load(tiny_pipeline.compile_to(str(tmp_path_factory.mktemp("ir")),
                                                tiny_pipeline.tiny_python))


def test_output_uri_is_generated_as_the_backend_generates_it():
    # metadata/client.go GenerateOutputURI: trailing slashes trimmed, query kept or not.
    assert driver.generate_output_uri("s3://b/root/?region=x", ["p", "r"], True) \
        == "s3://b/root/p/r?region=x"
    assert driver.generate_output_uri("s3://b/root/?region=x", ["p", "r"], False) \
        == "s3://b/root/p/r"
    assert driver.pipeline_run_root("/data/root//", "tiny", RUN) == f"/data/root/tiny/{RUN}"


@pytest.mark.parametrize("publish_logs", [True, False])
def test_outputs_are_provisioned_under_the_run_root(tiny, tmp_path, publish_logs):
    task = tiny.tasks["produce"]
    outputs = driver.provision_outputs(_ctx(publish_logs=publish_logs), "produce",
                                       task.component.output_definitions, "salt-1",
                                       str(tmp_path))
    task_root = f"{ROOT}/tiny/{RUN}/produce/salt-1"
    data = outputs.artifacts["data"].artifacts[0]
    assert (data.name, data.uri) == ("data", f"{task_root}/data")
    assert data.type.schema_title == "system.Dataset"
    assert ("executor-logs" in outputs.artifacts) is publish_logs
    if publish_logs:
        logs = outputs.artifacts["executor-logs"].artifacts[0]
        assert (logs.uri, logs.type.schema_title) == (f"{task_root}/executor-logs",
                                                      "system.Artifact")
    assert outputs.output_file == f"{task_root}/output_metadata.json"
    assert outputs.parameters["size"].output_file.startswith(task_root + "/")
    # Object-store roots: the pods' /s3/ mount, rebased under the local staging folder.
    s3 = driver.provision_outputs(
        _ctx(run_root=driver.pipeline_run_root("s3://bucket/v2", "tiny", RUN)), "produce",
        task.component.output_definitions, "salt-1", str(tmp_path))
    assert s3.artifacts["data"].artifacts[0].uri == f"s3://bucket/v2/tiny/{RUN}/produce/salt-1/data"
    assert s3.output_file == str(tmp_path / "s3" / "bucket" / "v2" / "tiny" / RUN / "produce"
                                 / "salt-1" / "output_metadata.json")


def _produced_by_produce(uri="/data/root/tiny/run-7/produce/s/data", size=2.0):
    artifact = pipeline_spec_pb2.RuntimeArtifact(name="data", uri=uri)
    artifact.type.schema_title = "system.Dataset"
    recorded = launcher.recorded_artifact(artifact, 41)
    return {"produce": driver.Produced({"data": recorded},
                                       {"size": struct_pb2.Value(number_value=size)})}


def test_inputs_come_from_the_producers_recorded_outputs_and_constants(tiny):
    task = tiny.tasks["consume"]
    inputs = driver.resolve_inputs(task.spec, task.component, _ctx(), "consume",
                                   _produced_by_produce())
    artifact = inputs.artifacts["data"].artifacts[0]
    # As the driver reads it back from MLMD: the MLMD id as name, an empty instance
    # schema (GetOutputArtifactsByExecutionId's Schema: ""), display_name metadata.
    assert artifact.name == "41"
    assert artifact.uri == "/data/root/tiny/run-7/produce/s/data"
    assert artifact.type.WhichOneof("kind") == "instance_schema"
    assert artifact.type.instance_schema == ""
    assert artifact.metadata.fields["display_name"].string_value == "data"
    assert inputs.parameter_values["size"].number_value == 2.0
    assert inputs.parameter_values["flag"].bool_value is False  # the constant it was given


def test_root_parameters_and_task_output_parameters_reach_kfps_own_executor(
        tiny_python, tmp_path):
    """kfp's SDK executor (what a Python component's container runs) takes the
    ExecutorInput as JSON and writes its output file where the launcher reads it."""
    produce = tiny_python.tasks["produce"]
    ctx = _ctx(pipeline_name="tiny-python", parameters={
        "text": tiny_python.spec.root.input_definitions.parameters["text"].default_value})
    inputs = driver.resolve_inputs(produce.spec, produce.component, ctx, "produce", {})
    assert inputs.parameter_values["text"].string_value == "abc"

    add = tiny_python.tasks["add"]
    executor_input = driver.ExecutorInput(inputs=driver.resolve_inputs(
        add.spec, add.component, ctx, "add", _produced_by_produce(size=3.0)))
    executor_input.outputs.CopyFrom(driver.provision_outputs(
        _ctx(run_root=str(tmp_path / "tiny-python" / RUN)), "add",
        add.component.output_definitions, "s", str(tmp_path)))
    text = launcher.executor_input_json(launcher.add_default_params(executor_input,
                                                                    add.component))
    kfp_executor.Executor(json.loads(text), tiny_pipeline.add).execute()
    output = launcher.read_executor_output(executor_input.outputs.output_file)
    launcher.collect_output_parameters(executor_input, output, add.component)
    assert output.parameter_values["Output"].number_value == 6  # 3 + the constant 3


def _task(tiny, name, **inputs):
    """`name`'s task spec with its parameter inputs replaced by runtime constants."""
    task = pipeline_spec_pb2.PipelineTaskSpec()
    task.CopyFrom(tiny.tasks[name].spec)
    for key, value in inputs.items():
        task.inputs.parameters[key].Clear()
        json_format.ParseDict(value, task.inputs.parameters[key].runtime_value.constant)
    return task


def test_parameters_are_type_checked_and_strings_take_any_value_as_text(tiny):
    consume = tiny.tasks["consume"]
    with pytest.raises(driver.DriverError, match="'flag' type mismatch: expect BOOLEAN, "
                                                 "got string"):
        driver.resolve_inputs(_task(tiny, "consume", flag="yes"), consume.component,
                              _ctx(), "consume", _produced_by_produce())
    produce = tiny.tasks["produce"]
    inputs = driver.resolve_inputs(_task(tiny, "produce", text=[1, "a"]), produce.component,
                                   _ctx(), "produce", {})
    assert inputs.parameter_values["text"].string_value == '[1,"a"]'


def test_run_placeholders_in_constants_name_the_run_and_the_task(tiny):
    produce = tiny.tasks["produce"]
    for placeholder, expected in [("{{$.pipeline_job_uuid}}", RUN),
                                  ("{{$.pipeline_task_name}}", "produce"),
                                  ("{{$.pipeline_job_name}}", "shown name")]:
        inputs = driver.resolve_inputs(_task(tiny, "produce", text=placeholder),
                                       produce.component, _ctx(run_display_name="shown name"),
                                       "produce", {})
        assert inputs.parameter_values["text"].string_value == expected


def test_a_missing_producer_output_is_refused(tiny):
    consume = tiny.tasks["consume"]
    produced = _produced_by_produce()
    del produced["produce"].artifacts["data"]
    with pytest.raises(driver.DriverError, match="cannot find output artifact key 'data' "
                                                 "in producer task 'produce'"):
        driver.resolve_inputs(consume.spec, consume.component, _ctx(), "consume", produced)


def test_container_args_resolve_parameters_and_if_present_but_not_outputs():
    ei = driver.ExecutorInput()
    ei.inputs.parameter_values["n"].number_value = 3
    ei.inputs.parameter_values["x"].string_value = "a b"
    args = ["--n={{$.inputs.parameters['n']}}", "{{$.outputs.parameters['o'].output_file}}",
            '{"IfPresent": {"InputName": "x", "Then": ["--x", '
            '"{{$.inputs.parameters[\'x\']}}"]}}',
            '{"IfPresent": {"InputName": "y", "Then": "--y", "Else": "--no-y"}}']
    assert driver.resolve_container_args(args, ei) == [
        "--n=3", "{{$.outputs.parameters['o'].output_file}}", "--x", "a b", "--no-y"]


def test_an_optional_parameter_left_to_its_default_fails_in_the_driver(tiny):
    """resolveContainerArgs (driver) runs before addDefaultParams (launcher): a default
    parameter nobody passed, used in the args, is not in the ExecutorInput yet."""
    consume = tiny.tasks["consume"]
    task = _task(tiny, "consume")
    del task.inputs.parameters["flag"]
    ei = driver.ExecutorInput(inputs=driver.resolve_inputs(
        task, consume.component, _ctx(), "consume", _produced_by_produce()))
    assert "flag" not in ei.inputs.parameter_values
    with pytest.raises(driver.DriverError, match="parameter 'flag' not found"):
        driver.resolve_container_args(list(consume.container.args), ei)
    assert launcher.add_default_params(ei, consume.component) \
        .inputs.parameter_values["flag"].bool_value is True


def test_pod_environment_is_the_containers_env_then_the_secrets_variables():
    container = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec()
    container.env.add(name="S3_ENDPOINT", value="http://store:9000")
    config = ir_dag.KubernetesExecutorConfig()
    json_format.ParseDict({"secretAsEnv": [{"secretName": "store-keys", "keyToEnv": [
        {"secretKey": "accesskey", "envVar": "AWS_ACCESS_KEY_ID"},
        {"secretKey": "secretkey", "envVar": "AWS_SECRET_ACCESS_KEY"}]}]}, config)
    secrets = {("store-keys", "accesskey"): "AK", ("store-keys", "secretkey"): "SK"}
    env = driver.pod_environment(container, config,
                                 lambda name, key, var: secrets.get((name, key)))
    assert env == {"S3_ENDPOINT": "http://store:9000", "AWS_ACCESS_KEY_ID": "AK",
                   "AWS_SECRET_ACCESS_KEY": "SK"}
    del secrets[("store-keys", "secretkey")]
    with pytest.raises(driver.DriverError, match="Secret 'store-keys' key 'secretkey' "
                                                 r"\(variable AWS_SECRET_ACCESS_KEY\)"):
        driver.pod_environment(container, config,
                               lambda name, key, var: secrets.get((name, key)))
