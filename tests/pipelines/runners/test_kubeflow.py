"""Kubeflow V2 compilation: parse the IR with kfp-pipeline-spec (and the kubernetes
platform spec with kfp-kubernetes) and check what open-source KFP and its pods get."""
import json

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipelines import cli
from pipelines.runners import kfp_compat
from pipelines.runners import kubeflow as kubeflow_runner
from pipelines.image.config import ImagePipelineConfig
from trainer.runtime import kfp_entrypoint

IMAGE = "registry.example.com/tfx-classics:1.2.3"
BEAM = ["--runner=FlinkRunner", "--flink_master=flink-jobmanager:8081",
        "--environment_type=EXTERNAL", "--environment_config=localhost:50000"]
ENDPOINT = "http://seaweedfs.kubeflow:9000"
SECRET = "mlpipeline-minio-artifact"
STORE = ["--object-store-endpoint", ENDPOINT, "--object-store-secret", SECRET]


@pytest.fixture(autouse=True)
def store_out_of_reach(monkeypatch):
    """One compiles away from the cluster, whose object store is out of reach from here.
    Stand-in: remote paths look absent to the readers' filesystem layer, so nothing loads
    TensorFlow's S3 plugin in this process (it would abort the process at exit)."""
    from components import filesystem
    for name in ("isdir", "exists"):
        real = getattr(filesystem, name)
        monkeypatch.setattr(filesystem, name,
                            lambda p, real=real: real(p) if filesystem.is_local(p) else False)


def _load(path):
    spec, platform = kfp_compat.read_ir(path)
    parsed = pipeline_spec_pb2.PipelineSpec()
    json_format.ParseDict(spec, parsed, ignore_unknown_fields=False)
    platform_pb = pipeline_spec_pb2.PlatformSpec()
    json_format.ParseDict(platform, platform_pb, ignore_unknown_fields=False)
    return parsed, platform_pb


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("kfp")
    settings = kubeflow_runner.KubeflowSettings(
        image=IMAGE, gpu_count=2, trainer_memory_gb=32, beam_args=list(BEAM),
        object_store_endpoint=ENDPOINT, object_store_secret=SECRET)
    config = ImagePipelineConfig(corpus="mnist", models=["softmax", "cnn"], epochs=3)
    with pytest.MonkeyPatch.context() as patch:
        from components import filesystem
        real = filesystem.isdir
        patch.setattr(filesystem, "isdir", lambda p: real(p) if filesystem.is_local(p)
                      else False)
        paths = kubeflow_runner.compile_pipelines(config, settings,
                                                  "s3://mlpipeline/data/mnist", str(out))
    assert len(paths) == 1
    return _load(paths[0])


def _executors(spec):
    return json_format.MessageToDict(spec.deployment_spec)["executors"]


def test_one_pipeline_per_corpus_with_every_model_off_one_transform(compiled):
    spec, _ = compiled
    assert spec.pipeline_info.name == "classics-mnist"
    tasks = set(spec.root.dag.tasks)
    shared = {"MnistExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform"}
    per_model = {f"{node}.{m}" for m in ("softmax", "cnn") for node in
                 ("Trainer", "ServingBaseline", "Evaluator", "ServabilityCheck", "Pusher",
                  "DriftBaseline", "DistributionValidator", "DriftGate")}
    assert tasks == shared | per_model
    for model in ("softmax", "cnn"):
        trainer = spec.root.dag.tasks[f"Trainer.{model}"]
        assert trainer.inputs.artifacts["examples"].task_output_artifact.producer_task \
            == "Transform"
        evaluator = spec.root.dag.tasks[f"Evaluator.{model}"].inputs.artifacts
        assert evaluator["baseline_model"].task_output_artifact.producer_task \
            == f"ServingBaseline.{model}"
        assert evaluator["model"].task_output_artifact.producer_task == f"Trainer.{model}"
        # The drift gate runs before the Trainer, on the served version's statistics.
        assert f"DriftGate.{model}" in trainer.dependent_tasks
        drift = spec.root.dag.tasks[f"DriftBaseline.{model}"].inputs.artifacts
        assert drift["model"].task_output_artifact.producer_task == f"ServingBaseline.{model}"
        assert not spec.root.dag.tasks[f"DriftGate.{model}"].caching_options.enable_cache


def test_only_container_executors_and_no_resolver(compiled):
    spec, _ = compiled
    kinds = set(kfp_compat.executor_kinds(json_format.MessageToDict(spec)).values())
    assert kinds == {"container"}
    assert not any("resolver" in t.lower() for t in spec.root.dag.tasks)


def test_serving_baseline_reads_the_served_repository_uncached(compiled):
    spec, _ = compiled
    task = spec.root.dag.tasks["ServingBaseline.cnn"]
    assert task.inputs.parameters["serving_model_dir"].runtime_value.constant \
        .string_value == "s3://mlpipeline/serving/mnist_cnn"
    assert not task.caching_options.enable_cache
    assert spec.root.dag.tasks["Trainer.cnn"].caching_options.enable_cache


def test_every_container_uses_the_pipeline_image_and_entrypoint(compiled):
    spec, _ = compiled
    containers = [e["container"] for e in _executors(spec).values()]
    assert containers and all(c["image"] == IMAGE for c in containers)
    assert all(c["command"] == kfp_entrypoint.COMMAND for c in containers)
    hooks = [c["lifecycle"]["preCacheCheck"] for c in containers if "lifecycle" in c]
    assert hooks and all(h["command"] == kfp_entrypoint.DRIVER_COMMAND for h in hooks)


def test_ingestion_is_never_served_from_the_cache_on_open_source_kfp(compiled):
    """The backend never runs TFX's ExampleGen driver, so its cache key would not see
    new files at the same URI."""
    spec, _ = compiled
    assert not spec.root.dag.tasks["MnistExampleGen"].caching_options.enable_cache
    assert spec.root.dag.tasks["Transform"].caching_options.enable_cache


def test_parameters_use_schema_2_1_constants(compiled):
    """The open-source driver reads runtimeValue.constant; schema 2.0's constantValue
    would reach the executors as nothing."""
    spec, _ = compiled
    assert spec.schema_version == "2.1.0"
    text = json.dumps(json_format.MessageToDict(spec))
    assert "constantValue" not in text and '"type": "STRING"' not in text
    params = spec.root.dag.tasks["Trainer.cnn"].inputs.parameters
    custom = json.loads(params["custom_config"].runtime_value.constant.string_value)
    assert custom["model"] == "cnn" and custom["epochs"] == 3
    assert params["run_fn"].runtime_value.constant.string_value == "trainer.image.run.run_fn"


def test_trainer_requests_gpus_by_kubernetes_resource_name(compiled):
    spec, _ = compiled
    trainer = _executors(spec)["Trainer.cnn_executor"]["container"]
    assert trainer["resources"]["accelerator"] == {"type": "nvidia.com/gpu", "count": "2"}
    assert trainer["resources"]["memoryLimit"] == 32.0
    others = [e["container"] for k, e in _executors(spec).items()
              if not k.startswith("Trainer.")]
    assert all("accelerator" not in c.get("resources", {}) for c in others)


def test_every_task_gets_the_object_store_endpoint_and_the_secrets_keys(compiled):
    spec, platform = compiled
    labels = set(_executors(spec))
    for label, body in _executors(spec).items():
        env = {e["name"]: e["value"] for e in body["container"]["env"]}
        assert env["S3_ENDPOINT"] == ENDPOINT and env["AWS_ENDPOINT_URL_S3"] == ENDPOINT
        assert env["S3_USE_HTTPS"] == "0" and env["AWS_REGION"] == "us-east-1", label
        assert not any("SECRET" in name or "ACCESS_KEY" in name for name in env)
    executors = platform.platforms["kubernetes"].deployment_spec.executors
    assert set(executors) == labels
    for label in labels:
        config, _ = kfp_compat.executor_config(json_format.MessageToDict(executors[label]))
        (secret,) = config.secret_as_env
        assert secret.secret_name == SECRET
        assert {(k.secret_key, k.env_var) for k in secret.key_to_env} == {
            ("accesskey", "AWS_ACCESS_KEY_ID"), ("secretkey", "AWS_SECRET_ACCESS_KEY")}


GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _placement(platform):
    """{executor label: (tolerations, node selector labels)} from the kubernetes platform
    spec, each config parsed with kfp-kubernetes' proto. Its 1.0.0 proto has no
    `tolerations` (1.2.0 on), so those are checked against the backend's field names."""
    executors = platform.platforms["kubernetes"].deployment_spec.executors
    placed = {}
    for label in executors:
        config, tolerations = kfp_compat.executor_config(
            json_format.MessageToDict(executors[label]))
        placed[label] = (tolerations, dict(config.node_selector.labels))
    return placed


def test_only_gpu_trainers_tolerate_the_gpu_taint_by_default(compiled):
    spec, platform = compiled
    placed = _placement(platform)
    assert set(placed) == set(_executors(spec))
    gpu = {label for label in placed if label.startswith("Trainer.")}
    assert gpu == {"Trainer.softmax_executor", "Trainer.cnn_executor"}
    for label, (tolerations, selector) in placed.items():
        assert tolerations == ([GPU_TOLERATION] if label in gpu else []), label
        assert selector == {}, label


def test_cli_placement_options_reach_the_gpu_trainers_only(tmp_path, capsys):
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--gpus", "1",
                   "--toleration", "dedicated=ml:NoExecute",
                   "--toleration", "nvidia.com/gpu:NoSchedule",  # the default, once
                   "--node-selector", "cloud.google.com/gke-accelerator=nvidia-l4",
                   "--node-selector", "pool=gpu", "--output-dir", str(tmp_path)] + STORE)
    assert rc == 0, capsys.readouterr().err
    _, platform = _load(str(tmp_path / "classics-mnist.yaml"))
    placed = _placement(platform)
    assert placed.pop("Trainer.softmax_executor") == (
        [GPU_TOLERATION, {"key": "dedicated", "operator": "Equal", "value": "ml",
                          "effect": "NoExecute"}],
        {"cloud.google.com/gke-accelerator": "nvidia-l4", "pool": "gpu"})
    assert placed and all(p == ([], {}) for p in placed.values()), placed


def test_cpu_only_compile_has_no_gpu_toleration_and_refuses_placement(tmp_path, capsys):
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--gpus", "0",
                   "--output-dir", str(tmp_path / "cpu")] + STORE)
    assert rc == 0, capsys.readouterr().err
    _, platform = _load(str(tmp_path / "cpu" / "classics-mnist.yaml"))
    assert all(p == ([], {}) for p in _placement(platform).values())
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--gpus", "0",
                   "--node-selector", "pool=gpu", "--output-dir", str(tmp_path / "no")]
                  + STORE)
    err = capsys.readouterr().err
    assert rc == 2 and "no Trainer requests any" in err, err
    assert not (tmp_path / "no").exists() or not list((tmp_path / "no").iterdir())


@pytest.mark.parametrize("option,value", [
    ("--toleration", "nvidia.com/gpu"),  # no effect
    ("--toleration", "nvidia.com/gpu:NoRun"),
    ("--toleration", "=gpu:NoSchedule"),
    ("--toleration", "pool=a b:NoSchedule"),
    ("--node-selector", "pool"),
    ("--node-selector", "pool=gpu:x"),
])
def test_cli_refuses_bad_placement_values_naming_option_and_value(tmp_path, capsys, option,
                                                                  value):
    with pytest.raises(SystemExit) as e:
        cli.main(["compile", "mnist", option, value, "--output-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert e.value.code == 2
    (line,) = [l for l in err.splitlines() if "error:" in l]
    assert f"argument {option}:" in line and repr(value) in line, err
    assert not list(tmp_path.iterdir())


def test_cli_placement_reaches_gpu_tfjob_workers_not_the_launcher(tmp_path, capsys):
    from components import tfjob, tfjob_trainer
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--workers", "2",
                   "--gpus-per-worker", "1", "--toleration", "dedicated:NoSchedule",
                   "--node-selector", "pool=gpu", "--output-dir", str(tmp_path)] + STORE)
    assert rc == 0, capsys.readouterr().err
    spec, platform = kfp_compat.read_ir(str(tmp_path / "classics-mnist.yaml"))
    params = spec["root"]["dag"]["tasks"]["Trainer.softmax"]["inputs"]["parameters"]
    job = tfjob.TFJobSettings.from_dict(json.loads(
        params["custom_config"]["runtimeValue"]["constant"])[tfjob_trainer.TFJOB_KEY])
    assert job.tolerations == [{"key": "dedicated", "operator": "Exists",
                                "effect": "NoSchedule"}]
    assert job.node_selector == {"pool": "gpu"}
    # The step that submits and waits needs no GPU node.
    _, platform_pb = _load(str(tmp_path / "classics-mnist.yaml"))
    assert _placement(platform_pb)["Trainer.softmax_executor"] == ([], {})


def test_pipeline_root_is_in_the_package(compiled):
    spec, _ = compiled
    assert spec.default_pipeline_root == "s3://mlpipeline/v2/artifacts"


def test_beam_components_get_the_runner_and_the_s3_endpoint(compiled):
    spec, _ = compiled
    executors = _executors(spec)
    for name in ["StatisticsGen_executor", "Transform_executor", "Evaluator.cnn_executor"]:
        args = executors[name]["container"]["args"]
        assert all(a in args for a in BEAM), name
        assert f"--s3_endpoint_url={ENDPOINT}" in args
        assert not any(a.startswith("--direct_running_mode") for a in args)
        assert not any("secret" in a.lower() for a in args)


def test_the_pods_direct_runner_builds_no_package_and_other_runners_keep_theirs():
    # TFX builds a tfx_ephemeral package per Beam component unless a flag names the
    # dependencies (pipelines/config.py); the DirectRunner in a pod runs the image's code.
    direct = kubeflow_runner.KubeflowSettings(image=IMAGE).all_beam_args()
    assert f"--sdk_container_image={IMAGE}" in direct
    assert any(a.startswith("--direct_running_mode") for a in direct)
    flink = kubeflow_runner.KubeflowSettings(image=IMAGE, beam_args=list(BEAM))
    assert not any(a.startswith("--sdk_container_image") for a in flink.all_beam_args())
    own = ["--direct_running_mode=in_memory", "--setup_file=/app/setup.py"]
    assert kubeflow_runner.KubeflowSettings(image=IMAGE, beam_args=own).all_beam_args() \
        == own


def test_pusher_writes_to_the_serving_repository(compiled):
    spec, _ = compiled
    task = spec.root.dag.tasks["Pusher.cnn"]
    dest = json.loads(task.inputs.parameters["push_destination"].runtime_value.constant
                      .string_value)
    assert dest["filesystem"]["base_directory"] == "s3://mlpipeline/serving/mnist_cnn"
    assert set(task.inputs.artifacts) == {"model_blessing", "infra_blessing", "statistics"}
    assert task.inputs.artifacts["statistics"].task_output_artifact.producer_task \
        == "StatisticsGen"  # each pushed version carries the data's statistics


def test_a_resolver_ir_is_refused(tmp_path):
    """What TFX compiles for a LatestBlessedModel Resolver: open-source KFP's Argo
    compiler refuses it ('resolver executors not implemented'), so compile does too."""
    spec = {"deploymentSpec": {"executors": {
        "Trainer_executor": {"container": {"image": IMAGE}},
        "LatestBlessed-model-resolver_executor": {"resolver": {"outputArtifactQueries": {}}},
        "Import_executor": {"importer": {"artifactUri": {"constant": "gs://b/x"}}}}}}
    with pytest.raises(kfp_compat.InadmissibleIR,
                       match=r"LatestBlessed-model-resolver_executor \(resolver\)"):
        kfp_compat.check_admissible(spec, "p.yaml")
    del spec["deploymentSpec"]["executors"]["LatestBlessed-model-resolver_executor"]
    kfp_compat.check_admissible(spec, "p.yaml")  # container + importer pass


def test_compile_refuses_a_pipeline_with_a_resolver_and_writes_nothing(
        tmp_path, capsys, monkeypatch):
    """The baseline the project used before: a LatestBlessedModel Resolver."""
    from tfx import v1 as tfx
    from tfx.types import standard_artifacts
    from pipelines import nodes

    def latest_blessed(config, model):
        return tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
            model=tfx.dsl.Channel(type=standard_artifacts.Model),
            model_blessing=tfx.dsl.Channel(type=standard_artifacts.ModelBlessing),
        ).with_id(f"LatestBlessed.{model}")

    monkeypatch.setattr(nodes, "serving_baseline", latest_blessed)
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--output-dir",
                   str(tmp_path)] + STORE)
    err = capsys.readouterr().err
    assert rc == 2 and "resolver executors not implemented" in err, err
    assert "LatestBlessed.softmax" in err
    assert list(tmp_path.iterdir()) == []


def test_cli_compile_cpu_only(tmp_path, capsys):
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--gpus", "0",
                   "--output-dir", str(tmp_path)] + STORE)
    assert rc == 0, capsys.readouterr().err
    assert "classics-mnist.yaml" in capsys.readouterr().out
    spec, _ = _load(str(tmp_path / "classics-mnist.yaml"))
    trainer = _executors(spec)["Trainer.softmax_executor"]["container"]
    assert "accelerator" not in trainer["resources"]
    task = spec.root.dag.tasks["MnistExampleGen"]
    assert task.inputs.parameters["input_base"].runtime_value.constant.string_value \
        == "s3://mlpipeline/data/mnist"


@pytest.mark.parametrize("extra,problem", [
    (["--pipeline-root", "/workspace/pipelines"], "pipeline root '/workspace/pipelines'"),
    (["--serving-root", "/models"], "serving root '/models'"),
    (["--data", "/data/mnist"], "data '/data/mnist'"),
    (["--pipeline-root", "minio://mlpipeline/v2"], "s3:// or gs://"),
    (["--gpu-type", "NVIDIA_TESLA_T4"], "Kubernetes resource name"),
    (["--object-store-endpoint", ENDPOINT], "--object-store-secret"),
    (["--object-store-endpoint", "seaweedfs:9000/x", "--object-store-secret", SECRET],
     "expected http"),
    (["--target", "vertex", "--pipeline-root", "gs://b/p", "--serving-root", "gs://b/s",
      "--data", "gs://b/d", "--gpu-type", "nvidia.com/gpu"], "Vertex AI wants"),
    (["--target", "vertex"], "vertex needs a gs:// URI"),
    (["--target", "vertex", "--pipeline-root", "gs://b/p", "--serving-root", "gs://b/s",
      "--data", "gs://b/d"] + STORE, "need --target kfp"),
    (["--target", "vertex", "--pipeline-root", "gs://b/p", "--serving-root", "gs://b/s",
      "--data", "gs://b/d", "--toleration", "pool:NoSchedule"], "they need --target kfp"),
])
def test_cli_compile_refuses_what_the_target_cannot_run(tmp_path, capsys, extra, problem):
    rc = cli.main(["compile", "mnist", "--output-dir", str(tmp_path)] + extra)
    err = capsys.readouterr().err
    assert rc == 2 and problem in err, err
    assert not list(tmp_path.iterdir())  # nothing written


def test_vertex_target_keeps_vertex_accelerators_and_no_platform_spec(tmp_path, capsys):
    rc = cli.main(["compile", "mnist", "--models", "cnn", "--target", "vertex",
                   "--pipeline-root", "gs://b/root", "--serving-root", "gs://b/serving",
                   "--data", "gs://b/data/mnist", "--output-dir", str(tmp_path)])
    assert rc == 0, capsys.readouterr().err
    spec, platform = _load(str(tmp_path / "classics-mnist.yaml"))
    trainer = _executors(spec)["Trainer.cnn_executor"]["container"]
    assert trainer["resources"]["accelerator"]["type"] == "NVIDIA_TESLA_T4"
    # No object-store variables on Vertex; only the GPU requirement (trainer/strategy.py).
    assert not platform.platforms
    assert trainer["env"] == [{"name": "CLASSICS_REQUIRE_GPUS", "value": "1"}]
    assert spec.root.dag.tasks["MnistExampleGen"].caching_options.enable_cache  # driver runs
    assert spec.default_pipeline_root == "gs://b/root"


class _FakeClient:
    """kfp.Client without a server: records the calls, each bound to the real method's
    signature first (an argument kfp 2.5's client does not take fails as it would)."""
    calls = []

    def __init__(self, host=None, namespace=None):
        _bind("__init__", host=host, namespace=namespace)
        self.calls.append(("init", host, namespace))

    def create_run_from_pipeline_package(self, path, **kwargs):
        _bind("create_run_from_pipeline_package", path, **kwargs)
        self.calls.append(("run", path, kwargs))
        return type("Run", (), {"run_id": "r-1"})()

    def create_experiment(self, **kwargs):
        _bind("create_experiment", **kwargs)
        self.calls.append(("experiment", kwargs))
        return type("Experiment", (), {"experiment_id": "e-" + kwargs["name"]})()

    def create_recurring_run(self, **kwargs):
        _bind("create_recurring_run", **kwargs)
        self.calls.append(("recurring", kwargs))
        return type("RecurringRun", (), {"recurring_run_id": "rr-1"})()


def _bind(method, *args, **kwargs):
    import inspect
    import kfp
    inspect.signature(getattr(kfp.Client, method)).bind(None, *args, **kwargs)


def test_submit_uses_the_kfp_client_and_the_compiled_pipeline_root(tmp_path):
    pkg = tmp_path / "p.yaml"
    kfp_compat.write_ir(str(pkg), {"pipelineInfo": {"name": "p"},
                                   "defaultPipelineRoot": "s3://bucket/root"})
    _FakeClient.calls.clear()
    run = kubeflow_runner.submit(str(pkg), "http://kfp.example:8888", "team-a", "exp",
                                 client_factory=_FakeClient)
    assert run.run_id == "r-1"
    assert _FakeClient.calls[0] == ("init", "http://kfp.example:8888", "team-a")
    assert _FakeClient.calls[1][2]["experiment_name"] == "exp"
    # The open-source backend reads the run's root, not the spec's default.
    assert _FakeClient.calls[1][2]["pipeline_root"] == "s3://bucket/root"
    kubeflow_runner.submit(str(pkg), "h", None, "exp", client_factory=_FakeClient,
                           pipeline_root="s3://other/root")
    assert _FakeClient.calls[-1][2]["pipeline_root"] == "s3://other/root"


def _package(tmp_path):
    pkg = tmp_path / "classics-mnist.yaml"
    kfp_compat.write_ir(str(pkg), {"pipelineInfo": {"name": "classics-mnist"},
                                   "defaultPipelineRoot": "s3://bucket/root"})
    return pkg


def test_schedule_creates_a_recurring_run_with_the_kfp_client(tmp_path):
    pkg = _package(tmp_path)
    _FakeClient.calls.clear()
    job = kubeflow_runner.schedule(str(pkg), "http://kfp.example:8888", "team-a", "nightly",
                                   "0 0 3 * * *", max_concurrency=2,
                                   client_factory=_FakeClient)
    assert job.recurring_run_id == "rr-1"
    assert _FakeClient.calls[0] == ("init", "http://kfp.example:8888", "team-a")
    assert _FakeClient.calls[1] == ("experiment", {"name": "nightly", "namespace": "team-a"})
    assert _FakeClient.calls[2] == ("recurring", {
        "experiment_id": "e-nightly", "job_name": "classics-mnist (0 0 3 * * *)",
        "cron_expression": "0 0 3 * * *", "max_concurrency": 2, "no_catchup": True,
        "pipeline_package_path": str(pkg), "pipeline_root": "s3://bucket/root",
        "enabled": True})
    kubeflow_runner.schedule(str(pkg), "h", None, "exp", "@daily", job_name="retrain",
                             client_factory=_FakeClient, pipeline_root="s3://other/root")
    assert _FakeClient.calls[-1][1]["job_name"] == "retrain"
    assert _FakeClient.calls[-1][1]["pipeline_root"] == "s3://other/root"
    assert _FakeClient.calls[-1][1]["max_concurrency"] == 1


def test_the_kfp_client_builds_the_recurring_run_from_the_package(tmp_path):
    """kfp 2.5's own create_recurring_run (no server: its API object is replaced) reads
    the package and sends a cron trigger with what `schedule` passed."""
    import kfp
    pkg = _package(tmp_path)
    sent = []
    client = object.__new__(kfp.Client)
    client._recurring_run_api = type("Api", (), {  # pylint: disable=protected-access
        "create_recurring_run": lambda self, body: sent.append(body) or body})()
    client.create_experiment = lambda name, namespace=None: type(
        "E", (), {"experiment_id": "e-1"})()
    kubeflow_runner.schedule(str(pkg), "h", None, "exp", "0 30 2 * * MON-FRI",
                             max_concurrency=3, client_factory=lambda **_: client)
    body = sent[0]
    assert body.trigger.cron_schedule.cron == "0 30 2 * * MON-FRI"
    assert (body.max_concurrency, body.no_catchup, body.experiment_id) == (3, True, "e-1")
    assert body.display_name == "classics-mnist (0 30 2 * * MON-FRI)"
    assert body.pipeline_spec["pipelineInfo"]["name"] == "classics-mnist"
    assert body.runtime_config.pipeline_root == "s3://bucket/root"


@pytest.mark.parametrize("argv, message", [
    (["--schedule", "0 3 * * *"], "--schedule '0 3 * * *' has 5 fields: KFP's cron has a "
                                  "seconds field first and would read it as second=0 "
                                  "minute=3 hour=* day-of-month=* month=*; for the crontab "
                                  "schedule write '0 0 3 * * *'"),
    (["--schedule", "0 0 25 * * *"], "--schedule '0 0 25 * * *': hour field (0-23): '25' "
                                     "ends above 23"),
    (["--schedule", "@nightly"], "--schedule unknown descriptor '@nightly'"),
    (["--schedule", "@daily", "--max-concurrency", "11"],
     "--max-concurrency 11: KFP allows 1 to 10 runs of a recurring run at once"),
    (["--schedule", "@daily", "--max-concurrency", "0"], "--max-concurrency 0: KFP allows"),
    (["--schedule", "@daily", "--job-name", " "], "--job-name: a recurring run needs a name"),
    (["--schedule", "@daily", "--run-name", "x"], "--run-name names a single run"),
    (["--max-concurrency", "2"], "--max-concurrency: only for a recurring run"),
    (["--job-name", "n"], "--job-name: only for a recurring run (--schedule CRON)"),
])
def test_submit_schedule_refusals_reach_no_server(tmp_path, capsys, monkeypatch, argv,
                                                  message):
    import kfp
    monkeypatch.setattr(kfp, "Client", _FakeClient)
    _FakeClient.calls.clear()
    code = cli.main(["submit", str(_package(tmp_path)), "--host", "http://kfp:8888", *argv])
    assert code == 2
    errors = [line for line in capsys.readouterr().err.splitlines()
              if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {message}"), errors
    assert _FakeClient.calls == []


def test_submit_schedule_command(tmp_path, capsys, monkeypatch):
    import kfp
    monkeypatch.setattr(kfp, "Client", _FakeClient)
    _FakeClient.calls.clear()
    pkg = _package(tmp_path)
    assert cli.main(["submit", str(pkg), "--host", "http://kfp:8888", "--experiment", "prod",
                     "--schedule", "0 0 */6 * * *", "--max-concurrency", "1",
                     "--job-name", "retrain every 6 h"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"scheduled {pkg}: recurring run rr-1 (0 0 */6 * * *)")
    kinds = [c[0] for c in _FakeClient.calls]
    assert kinds == ["init", "experiment", "recurring"]
    assert _FakeClient.calls[2][1]["job_name"] == "retrain every 6 h"


def test_submit_without_endpoint_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KFP_HOST", raising=False)
    assert cli.main(["submit", str(tmp_path / "x.yaml")]) == 2
    assert "KFP_HOST" in capsys.readouterr().err


def _compile_folder_from_s3(tmp_path, argv):
    """A folder corpus is listed when compiling (its classes and splits): compile against
    class folders uploaded to an S3 server on 127.0.0.1 (tests/s3_standin.py). In a child
    process, which ends through trainer.runtime.object_store.exit_process as the CLI must once
    TensorFlow's S3 plugin is loaded."""
    import subprocess
    import sys
    from tests.image_fixtures import write_png_folder
    from tests.s3_standin import s3_server

    with s3_server() as s3:
        s3.bucket("mlpipeline")
        s3.upload_dir(write_png_folder(str(tmp_path / "pets"), ["cat", "dog", "emu"], 2),
                      "s3://mlpipeline/data/folder")
        code = ("import sys; from pipelines import cli; from trainer.runtime import object_store; "
                f"sys.exit(object_store.exit_process(cli.main({argv!r})))")
        done = subprocess.run([sys.executable, "-c", code], env=s3.process_env(),
                              capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("corpus,models,extra", [
    ("mnist", "softmax,cnn", []),
    ("cifar10", "resnet20,nin", []),
    ("folder", "nin,softmax", []),
    ("text", "skipgram,cbow", ["--text-format", "wikipedia"]),
    ("text", "lstm,gru", ["--text-format", "ptb"]),
])
def test_every_pipeline_compiles_to_what_open_source_kfp_admits(
        tmp_path, capsys, monkeypatch, corpus, models, extra):
    """Every corpus's pipeline, all models in one IR, holds only container and importer
    executors: open-source KFP's Argo compiler refuses every other kind
    (kubeflow/pipelines backend/src/v2/compiler/argocompiler/dag.go, `case
    *pipelinespec.PipelineDeploymentConfig_ExecutorSpec_Resolver: return nil,
    fmt.Errorf("resolver executors not implemented")`, at 2.0.5, 2.5.0 and 2.17.0)."""
    argv = ["compile", corpus, "--models", models, "--image", IMAGE,
            "--output-dir", str(tmp_path / "out")] + STORE + extra
    if corpus == "folder":
        _compile_folder_from_s3(tmp_path, argv)
    else:
        rc = cli.main(argv)
        assert rc == 0, capsys.readouterr().err
    path = tmp_path / "out" / f"classics-{corpus}.yaml"
    spec, platform = _load(str(path))
    kinds = {label: next(iter(body)) for label, body in _executors(spec).items()}
    assert set(kinds.values()) <= set(kfp_compat.ADMISSIBLE_EXECUTORS), kinds
    kfp_compat.check_admissible(kfp_compat.read_ir(str(path))[0])
    tasks = set(spec.root.dag.tasks)
    assert "Transform" in tasks
    for model in models.split(","):
        assert {f"Trainer.{model}", f"ServingBaseline.{model}", f"Evaluator.{model}",
                f"Pusher.{model}"} <= tasks
        trainer = _executors(spec)[f"Trainer.{model}_executor"]["container"]
        assert trainer["image"] == IMAGE
        assert trainer["resources"]["accelerator"] == {"type": "nvidia.com/gpu", "count": "1"}
        dest = json.loads(spec.root.dag.tasks[f"Pusher.{model}"].inputs
                          .parameters["push_destination"].runtime_value.constant.string_value)
        assert dest["filesystem"]["base_directory"] == \
            f"s3://mlpipeline/serving/{corpus}_{model}"
    assert set(platform.platforms["kubernetes"].deployment_spec.executors) == set(kinds)
    if corpus == "folder":
        custom = json.loads(spec.root.dag.tasks["Trainer.nin"].inputs.parameters[
            "custom_config"].runtime_value.constant.string_value)
        assert custom["num_classes"] == 3


def test_mixed_precision_reaches_the_trainer(tmp_path):
    assert cli.main(["compile", "mnist", "--models", "cnn", "--mixed-precision",
                     "--output-dir", str(tmp_path)] + STORE) == 0
    spec, _ = kfp_compat.read_ir(str(tmp_path / "classics-mnist.yaml"))
    params = spec["root"]["dag"]["tasks"]["Trainer.cnn"]["inputs"]["parameters"]
    custom = json.loads(params["custom_config"]["runtimeValue"]["constant"])
    assert custom["mixed_precision"] is True


# ------------------------------------------------------------ multi-worker Trainers

def test_workers_compile_to_the_tfjob_trainer_and_one_pod_trainers_require_their_gpus(
        tmp_path, monkeypatch):
    import dataclasses
    from components import tfjob, tfjob_trainer
    from trainer.image import specs
    from trainer.strategy import REQUIRE_GPUS_ENV
    # Per model, from the registry: cnn trains on 3 workers with 2 GPUs each; softmax
    # stays one pod.
    monkeypatch.setitem(specs.MODELS, "cnn", dataclasses.replace(
        specs.MODELS["cnn"], workers=3, gpus_per_worker=2))
    config = ImagePipelineConfig(corpus="mnist", models=["softmax", "cnn"], epochs=2)
    settings = kubeflow_runner.KubeflowSettings(
        image=IMAGE, gpu_count=1, trainer_cpu=8, trainer_memory_gb=30,
        object_store_endpoint=ENDPOINT, object_store_secret=SECRET, tfjob_timeout_hours=2)
    kubeflow_runner.compile_pipelines(config, settings, "s3://mlpipeline/data/mnist",
                                      str(tmp_path))
    spec, _ = kfp_compat.read_ir(str(tmp_path / "classics-mnist.yaml"))
    json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    executors = spec["deploymentSpec"]["executors"]
    launcher = executors["Trainer.cnn_executor"]["container"]
    assert f"{tfjob_trainer.__name__}.Executor" in " ".join(launcher["args"])
    assert "accelerator" not in launcher["resources"]  # the step only submits and waits
    assert launcher["resources"]["cpuLimit"] == 1.0
    assert REQUIRE_GPUS_ENV not in {e["name"] for e in launcher["env"]}
    single = executors["Trainer.softmax_executor"]["container"]
    assert "components.tfjob_trainer" not in " ".join(single["args"])
    assert {"name": REQUIRE_GPUS_ENV, "value": "1"} in single["env"]
    params = spec["root"]["dag"]["tasks"]["Trainer.cnn"]["inputs"]["parameters"]
    custom = json.loads(params["custom_config"]["runtimeValue"]["constant"])
    job = tfjob.TFJobSettings.from_dict(custom.pop(tfjob_trainer.TFJOB_KEY))
    assert custom["model"] == "cnn"
    assert (job.image, job.workers, job.gpus_per_worker, job.gpu_resource) == \
        (IMAGE, 3, 2, "nvidia.com/gpu")
    assert (job.cpu, job.memory_gb, job.timeout_seconds) == (8, 30, 7200)
    # The workers get the store's keys from the same Secret as every task, by reference.
    assert job.secret_env == {"AWS_ACCESS_KEY_ID": [SECRET, "accesskey"],
                              "AWS_SECRET_ACCESS_KEY": [SECRET, "secretkey"]}


def test_cli_trainjob_backend_places_gpu_workers_on_a_valid_trainjob(tmp_path, capsys):
    from components import tfjob_trainer, trainjob
    from tests import k8s_standin
    from trainer.runtime import tfjob_worker
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--workers", "2",
                   "--gpus-per-worker", "1", "--trainer-backend", "trainjob",
                   "--toleration", "dedicated:NoSchedule", "--node-selector", "pool=gpu",
                   "--output-dir", str(tmp_path)] + STORE)
    assert rc == 0, capsys.readouterr().err
    spec, _ = kfp_compat.read_ir(str(tmp_path / "classics-mnist.yaml"))
    params = spec["root"]["dag"]["tasks"]["Trainer.softmax"]["inputs"]["parameters"]
    custom = json.loads(params["custom_config"]["runtimeValue"]["constant"])
    assert tfjob_trainer.TFJOB_KEY not in custom
    job = trainjob.TrainJobSettings.from_dict(custom[tfjob_trainer.TRAINJOB_KEY])
    assert (job.workers, job.gpus_per_worker, job.runtime) == (2, 1, trainjob.RUNTIME)
    body = trainjob.build_trainjob("trainer-softmax-1", "kubeflow", job, tfjob_worker.command(
        "{}", tfjob_worker.JOBSET_CLUSTER), step="Trainer.softmax")
    k8s_standin.validate_trainjob(body)
    pod = body["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"][
        "replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["nodeSelector"] == {"pool": "gpu"}
    with pytest.raises(SystemExit):
        cli.main(["compile", "mnist", "--trainer-backend", "pytorchjob",
                  "--output-dir", str(tmp_path / "no")] + STORE)
    assert "invalid choice: 'pytorchjob'" in capsys.readouterr().err


def test_cli_workers_flags_reach_every_trainer(tmp_path, capsys):
    from components import tfjob_trainer
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--workers", "2",
                   "--gpus-per-worker", "0", "--keep-tfjob", "--tfjob-namespace", "train",
                   "--output-dir", str(tmp_path)] + STORE)
    assert rc == 0, capsys.readouterr().err
    spec, _ = kfp_compat.read_ir(str(tmp_path / "classics-mnist.yaml"))
    params = spec["root"]["dag"]["tasks"]["Trainer.softmax"]["inputs"]["parameters"]
    job = json.loads(params["custom_config"]["runtimeValue"]["constant"])[
        tfjob_trainer.TFJOB_KEY]
    assert (job["workers"], job["gpus_per_worker"], job["keep_job"], job["namespace"]) == \
        (2, 0, True, "train")


@pytest.mark.parametrize("extra,problem", [
    (["--workers", "2", "--target", "vertex", "--pipeline-root", "gs://b/p",
      "--serving-root", "gs://b/s", "--data", "gs://b/d"], "Training Operator"),
    (["--workers", "2", "--gpus-per-worker", "-1"], "GPUs per worker must be 0 or more"),
])
def test_cli_refuses_workers_it_cannot_run(tmp_path, capsys, extra, problem):
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--output-dir",
                   str(tmp_path)] + extra)
    err = capsys.readouterr().err
    assert rc == 2 and problem in err, err
    assert not list(tmp_path.iterdir())
    with pytest.raises(SystemExit) as e:  # refused by the argument parser itself
        cli.main(["compile", "mnist", "--workers", "0", "--output-dir", str(tmp_path)])
    assert e.value.code == 2 and "--workers: must be at least 1" in capsys.readouterr().err


def test_cli_word2vec_kernel_reaches_the_trainers_and_fused_refuses_workers(tmp_path, capsys):
    rc = cli.main(["compile", "text", "--word2vec-kernel", "fused",
                   "--output-dir", str(tmp_path / "one")] + STORE)
    assert rc == 0, capsys.readouterr().err
    (ir,) = (tmp_path / "one").iterdir()
    spec, _ = kfp_compat.read_ir(str(ir))
    for model in ("skipgram", "cbow"):
        params = spec["root"]["dag"]["tasks"][f"Trainer.{model}"]["inputs"]["parameters"]
        custom = json.loads(params["custom_config"]["runtimeValue"]["constant"])
        assert custom["kernel"] == "fused"
    # The fused kernel updates one copy of the vectors: no TFJob of several workers.
    rc = cli.main(["compile", "text", "--word2vec-kernel", "fused", "--workers", "2",
                   "--output-dir", str(tmp_path / "two")] + STORE)
    err = capsys.readouterr().err
    assert rc == 2 and "word2vec kernel 'fused' trains on one machine" in err, err
    assert not (tmp_path / "two").exists() or not list((tmp_path / "two").iterdir())


def test_cli_compile_local_folders_only_when_asked(tmp_path, capsys, monkeypatch):
    """`--local-folders`: an IR for `classics run-ir` here, its folders made absolute."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    local = ["--data", "data", "--serving-root", "serving", "--pipeline-root", "root"]
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--gpus", "0",
                   "--output-dir", "out"] + local)
    assert rc == 2 and "kfp needs a s3:// or gs:// URI" in capsys.readouterr().err
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--gpus", "0",
                   "--output-dir", "out", "--local-folders"] + local)
    assert rc == 0, capsys.readouterr().err
    spec, _ = _load(str(tmp_path / "out" / "classics-mnist.yaml"))
    assert spec.default_pipeline_root == str(tmp_path / "root")
    tasks = spec.root.dag.tasks
    assert tasks["MnistExampleGen"].inputs.parameters["input_base"].runtime_value.constant \
        .string_value == str(tmp_path / "data")
    destination = tasks["Pusher.softmax"].inputs.parameters["push_destination"] \
        .runtime_value.constant.string_value
    assert str(tmp_path / "serving" / "mnist_softmax") in destination


@pytest.mark.parametrize("corpus,model,flag,value", [
    ("mnist", "softmax", "--min-accuracy", "0.4321"),
    ("text", "lstm", "--max-perplexity", "432.1"),
])
def test_cli_evaluator_bars_reach_the_evaluator(tmp_path, capsys, corpus, model, flag, value):
    rc = cli.main(["compile", corpus, "--models", model, flag, value,
                   "--output-dir", str(tmp_path)] + STORE)
    assert rc == 0, capsys.readouterr().err
    (ir,) = tmp_path.iterdir()
    spec, _ = kfp_compat.read_ir(str(ir))
    params = spec["root"]["dag"]["tasks"][f"Evaluator.{model}"]["inputs"]["parameters"]
    assert value in json.dumps(params)


def test_cli_refuses_a_bar_the_task_does_not_have(tmp_path, capsys):
    rc = cli.main(["compile", "text", "--models", "lstm", "--min-accuracy", "0.5",
                   "--output-dir", str(tmp_path)] + STORE)
    assert rc == 2
    assert "pipelines have no setting(s) min_accuracy" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
