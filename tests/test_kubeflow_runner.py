"""Kubeflow V2 compilation: parse the IR with kfp-pipeline-spec and check what pods get."""
import json

import pytest
import yaml
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipelines import cli, kubeflow_runner
from pipelines.config import ImagePipelineConfig

IMAGE = "registry.example.com/tfx-classics:1.2.3"
BEAM = ["--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081",
        "--environment_type=EXTERNAL", "--environment_config=localhost:50000"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("kfp")
    settings = kubeflow_runner.KubeflowSettings(image=IMAGE, gpu_count=2,
                                                gpu_type="NVIDIA_TESLA_V100",
                                                trainer_memory_gb=32, beam_args=BEAM)
    config = ImagePipelineConfig(corpus="mnist", models=["softmax", "cnn"], epochs=3)
    paths = kubeflow_runner.compile_pipelines(config, settings, "/workspace/data/mnist",
                                              str(out))
    specs = {}
    for path in paths:
        with open(path) as f:
            spec = pipeline_spec_pb2.PipelineSpec()
            json_format.ParseDict(yaml.safe_load(f), spec, ignore_unknown_fields=False)
            specs[spec.pipeline_info.name] = spec
    return specs


def _executors(spec):
    return json_format.MessageToDict(spec.deployment_spec)["executors"]


def test_one_pipeline_per_model_with_every_component(compiled):
    assert sorted(compiled) == ["classics-mnist-cnn", "classics-mnist-softmax"]
    tasks = set(compiled["classics-mnist-cnn"].root.dag.tasks)
    assert {"MnistExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform",
            "Trainer.cnn", "Evaluator.cnn", "ServabilityCheck.cnn", "Pusher.cnn",
            "LatestBlessed.cnn-model-blessing-resolver",
            "LatestBlessed.cnn-model-resolver"} <= tasks
    assert not any("softmax" in t for t in tasks)


def test_every_container_uses_the_pipeline_image(compiled):
    for spec in compiled.values():
        containers = [e["container"] for e in _executors(spec).values() if "container" in e]
        assert containers and all(c["image"] == IMAGE for c in containers)


def test_trainer_requests_gpus_and_memory(compiled):
    spec = compiled["classics-mnist-cnn"]
    trainer = _executors(spec)["Trainer.cnn_executor"]["container"]
    assert trainer["resources"]["accelerator"] == {"type": "NVIDIA_TESLA_V100", "count": "2"}
    assert trainer["resources"]["memoryLimit"] == 32.0
    others = [e["container"] for k, e in _executors(spec).items()
              if "container" in e and k != "Trainer.cnn_executor"]
    assert all("accelerator" not in c.get("resources", {}) for c in others)


def test_trainer_inputs_and_model_config(compiled):
    spec = compiled["classics-mnist-cnn"]
    task = spec.root.dag.tasks["Trainer.cnn"]
    assert set(task.inputs.artifacts) == {"examples", "transform_graph", "schema"}
    assert task.inputs.artifacts["examples"].task_output_artifact.producer_task == "Transform"
    params = task.inputs.parameters
    custom = json.loads(params["custom_config"].runtime_value.constant_value.string_value)
    assert custom["model"] == "cnn" and custom["epochs"] == 3
    assert params["run_fn"].runtime_value.constant_value.string_value == "trainer.image.run.run_fn"


def test_beam_components_get_the_configured_runner(compiled):
    spec = compiled["classics-mnist-cnn"]
    executors = _executors(spec)
    for name in ["StatisticsGen_executor", "Transform_executor", "Evaluator.cnn_executor"]:
        args = executors[name]["container"]["args"]
        assert all(a in args for a in BEAM), name
        assert not any(a.startswith("--direct_running_mode") for a in args)


def test_pusher_writes_to_the_serving_volume(compiled):
    task = compiled["classics-mnist-cnn"].root.dag.tasks["Pusher.cnn"]
    dest = json.loads(task.inputs.parameters["push_destination"].runtime_value.constant_value
                      .string_value)
    assert dest["filesystem"]["base_directory"] == "/models/mnist_cnn"
    assert set(task.inputs.artifacts) == {"model_blessing", "infra_blessing"}


def test_cli_compile_and_cpu_only(tmp_path, capsys):
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--gpus", "0",
                   "--output-dir", str(tmp_path)])
    assert rc == 0 and "classics-mnist-softmax.yaml" in capsys.readouterr().out
    with open(tmp_path / "classics-mnist-softmax.yaml") as f:
        doc = yaml.safe_load(f)
    trainer = doc["deploymentSpec"]["executors"]["Trainer.softmax_executor"]["container"]
    assert "accelerator" not in trainer["resources"]


class _FakeClient:
    calls = []

    def __init__(self, host=None, namespace=None):
        self.calls.append(("init", host, namespace))

    def create_run_from_pipeline_package(self, path, **kwargs):
        self.calls.append(("run", path, kwargs))
        return type("Run", (), {"run_id": "r-1"})()


def test_submit_uses_the_kfp_client(tmp_path):
    pkg = tmp_path / "p.yaml"
    pkg.write_text("{}")
    run = kubeflow_runner.submit(str(pkg), "http://kfp.example:8888", "team-a", "exp",
                                 client_factory=_FakeClient)
    assert run.run_id == "r-1"
    assert _FakeClient.calls[0] == ("init", "http://kfp.example:8888", "team-a")
    assert _FakeClient.calls[1][2]["experiment_name"] == "exp"


def test_submit_without_endpoint_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KFP_HOST", raising=False)
    assert cli.main(["submit", str(tmp_path / "x.yaml")]) == 2
    assert "KFP_HOST" in capsys.readouterr().err


@pytest.mark.parametrize("corpus,model,extra", [
    ("cifar10", "resnet20", []),
    ("folder", "nin", ["--data", "FOLDER"]),
    ("text", "skipgram", ["--text-format", "wikipedia"]),
])
def test_every_pipeline_compiles(tmp_path, capsys, corpus, model, extra):
    if "FOLDER" in extra:  # class folders must be visible to count the classes
        from tests.image_fixtures import write_png_folder
        extra = ["--data", write_png_folder(str(tmp_path / "pets"), ["a", "b"], 2)]
    rc = cli.main(["compile", corpus, "--models", model, "--image", IMAGE,
                   "--output-dir", str(tmp_path / "out")] + extra)
    assert rc == 0, capsys.readouterr().err
    with open(tmp_path / "out" / f"classics-{corpus}-{model}.yaml") as f:
        spec = pipeline_spec_pb2.PipelineSpec()
        json_format.ParseDict(yaml.safe_load(f), spec)
    tasks = set(spec.root.dag.tasks)
    assert {f"Trainer.{model}", f"Evaluator.{model}", f"Pusher.{model}", "Transform"} <= tasks
    trainer = _executors(spec)[f"Trainer.{model}_executor"]["container"]
    assert trainer["image"] == IMAGE and trainer["resources"]["accelerator"]["count"] == "1"
    pusher = spec.root.dag.tasks[f"Pusher.{model}"]
    dest = json.loads(pusher.inputs.parameters["push_destination"].runtime_value
                      .constant_value.string_value)
    assert dest["filesystem"]["base_directory"] == f"/models/{corpus}_{model}"


def test_mixed_precision_reaches_the_trainer(tmp_path):
    assert cli.main(["compile", "mnist", "--models", "cnn", "--mixed-precision",
                     "--output-dir", str(tmp_path)]) == 0
    with open(tmp_path / "classics-mnist-cnn.yaml") as f:
        doc = yaml.safe_load(f)
    params = doc["root"]["dag"]["tasks"]["Trainer.cnn"]["inputs"]["parameters"]
    custom = json.loads(params["custom_config"]["runtimeValue"]["constantValue"]["stringValue"])
    assert custom["mixed_precision"] is True
