"""The local launcher's rules, as KFP 2.17.0's launcher_v2.go and metadata package have
them: placeholders, the ExecutorInput JSON, the executor output file and what the next
driver reads back from MLMD."""
import json

import pytest
from google.protobuf import json_format, struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from pipelines.runners.ir import driver, launcher


def _executor_input(tmp_path):
    ei = driver.ExecutorInput()
    data = ei.inputs.artifacts["data"].artifacts.add(name="5", uri="/root/p/r/a/s/data")
    data.type.instance_schema = ""
    ei.inputs.parameter_values["n"].number_value = 3
    ei.inputs.parameter_values["lr"].number_value = 1e-7
    ei.inputs.parameter_values["on"].bool_value = True
    ei.inputs.parameter_values["cfg"].struct_value.update({"k": [1, 2]})
    ei.outputs.artifacts["model"].artifacts.add(name="model", uri="/root/p/r/b/s/model")
    ei.outputs.parameters["size"].output_file = str(tmp_path / "size")
    ei.outputs.output_file = str(tmp_path / "output_metadata.json")
    return ei


def test_placeholders_are_filled_with_the_launchers_values(tmp_path):
    ei = _executor_input(tmp_path)
    argv = launcher.compile_cmd_and_args(ei, [
        "python", "-m", "x", "{{$.inputs.artifacts['data'].uri}}",
        "{{$.inputs.artifacts['data'].path}}", "--n={{$.inputs.parameters['n']}}",
        "{{$.inputs.parameters['lr']}}", "{{$.inputs.parameters['on']}}",
        "{{$.inputs.parameters['cfg']}}", "{{$.outputs.artifacts['model'].uri}}",
        "{{$.outputs.parameters['size'].output_file}}", "{{$}}"], str(tmp_path))
    assert argv[:11] == ["python", "-m", "x", "/root/p/r/a/s/data", "/root/p/r/a/s/data",
                         "--n=3", "0.0000001", "true", '{"k":[1,2]}',
                         "/root/p/r/b/s/model", str(tmp_path / "size")]
    # {{$}}: the whole ExecutorInput as protojson writes it (whole numbers as ints).
    parsed = pipeline_spec_pb2.ExecutorInput()
    json_format.Parse(argv[11], parsed)
    assert parsed == ei
    assert '"n":3,' in argv[11] or '"n":3}' in argv[11]
    assert launcher.unfilled_placeholders(argv, argv[11]) == []


def test_only_the_executor_input_is_replaced_in_the_commands_first_word(tmp_path):
    ei = _executor_input(tmp_path)
    argv = launcher.compile_cmd_and_args(
        ei, ["{{$.inputs.parameters['n']}}", "{{$.inputs.parameters['n']}}"], str(tmp_path))
    assert argv == ["{{$.inputs.parameters['n']}}", "3"]


def test_placeholders_nothing_fills_are_reported(tmp_path):
    ei = _executor_input(tmp_path)
    argv = launcher.compile_cmd_and_args(
        ei, ["python", "{{$.inputs.parameters['missing']}}", "{{$.pipeline_job_uuid}}",
             "{{$}}"], str(tmp_path))
    text = launcher.executor_input_json(ei)
    assert sorted(launcher.unfilled_placeholders(argv, text)) == [
        "{{$.inputs.parameters['missing']}}", "{{$.pipeline_job_uuid}}"]


def test_defaults_fill_only_parameters_without_a_value():
    component = pipeline_spec_pb2.ComponentSpec()
    json_format.ParseDict({"inputDefinitions": {"parameters": {
        "a": {"parameterType": "NUMBER_INTEGER", "defaultValue": 1},
        "b": {"parameterType": "STRING", "defaultValue": "d", "isOptional": True}}}},
        component)
    ei = driver.ExecutorInput()
    ei.inputs.parameter_values["a"].number_value = 7
    filled = launcher.add_default_params(ei, component)
    assert filled.inputs.parameter_values["a"].number_value == 7
    assert filled.inputs.parameter_values["b"].string_value == "d"
    assert "b" not in ei.inputs.parameter_values  # a copy


def test_executor_output_file_and_output_parameter_files(tmp_path):
    ei = _executor_input(tmp_path)
    component = pipeline_spec_pb2.ComponentSpec()
    json_format.ParseDict({"outputDefinitions": {"parameters": {
        "size": {"parameterType": "NUMBER_INTEGER"}}}}, component)
    output = launcher.read_executor_output(ei.outputs.output_file)  # none: empty
    assert output == pipeline_spec_pb2.ExecutorOutput()
    (tmp_path / "size").write_text(" 12\n")
    launcher.collect_output_parameters(ei, output, component)
    assert output.parameter_values["size"].number_value == 12
    (tmp_path / "size").write_text("twelve")
    with pytest.raises(launcher.LauncherError, match="NUMBER_INTEGER"):
        launcher.collect_output_parameters(ei, pipeline_spec_pb2.ExecutorOutput(), component)
    (tmp_path / "output_metadata.json").write_text("{not json")
    with pytest.raises(launcher.LauncherError, match="output_metadata.json"):
        launcher.read_executor_output(ei.outputs.output_file)


def test_outputs_are_merged_and_read_back_as_mlmd_stores_them(tmp_path):
    ei = _executor_input(tmp_path)
    logs = ei.outputs.artifacts["executor-logs"].artifacts.add(name="executor-logs",
                                                                uri="/root/logs")
    logs.type.schema_title = "system.Artifact"
    output = pipeline_spec_pb2.ExecutorOutput()
    written = output.artifacts["model"].artifacts.add(uri="/elsewhere/model")
    written.metadata.update({"split_names": '["train"]', "pushed": True, "n": 2,
                             "names": ["a"], "spec": {"k": "v"}})
    output.artifacts["executor-logs"].artifacts.add(uri="/not/used")
    merged = launcher.merged_outputs(ei, output)
    assert merged["model"].uri == "/elsewhere/model"
    assert merged["executor-logs"].uri == "/root/logs"  # the launcher's own, kept
    back = launcher.recorded_artifact(merged["model"], 9)
    assert back.name == "9" and back.uri == "/elsewhere/model"
    assert back.type.WhichOneof("kind") == "instance_schema"
    assert json_format.MessageToDict(back.metadata) == {
        "split_names": '["train"]', "pushed": 1.0, "n": 2.0, "names": {"list": ["a"]},
        "spec": {"struct": {"k": "v"}}, "display_name": "model"}
    null = pipeline_spec_pb2.RuntimeArtifact(name="x", uri="/x")
    null.metadata.fields["gone"].null_value = struct_pb2.NULL_VALUE
    with pytest.raises(launcher.LauncherError, match="'gone'"):
        launcher.recorded_artifact(null, 1)


def test_executor_input_json_is_what_kfps_proto_parses(tmp_path):
    text = launcher.executor_input_json(_executor_input(tmp_path))
    data = json.loads(text)
    assert data["inputs"]["parameterValues"]["n"] == 3
    assert isinstance(data["inputs"]["parameterValues"]["n"], int)
    assert data["outputs"]["outputFile"] == str(tmp_path / "output_metadata.json")
