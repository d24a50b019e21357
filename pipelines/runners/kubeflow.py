"""Compiles pipelines to KFP v2 IR with KubeflowV2DagRunner, and submits them.

The pipeline comes from the same factory as the local run: ONE pipeline per corpus,
every selected model branching off one shared ingestion and Transform. Each model's
baseline is the version TF Serving serves now (components/serving_baseline.py), not a
TFX Resolver, so the IR holds only container executors: what open-source KFP runs
(pipelines/runners/kfp_compat.py checks it and adds what TFX does not write). Only the runner,
the locations and the resources differ from a local run:

- pipeline root, serving root and data are object-store URIs (the KFP launcher accepts
  no local pipeline root; TFX executors read and write the URIs themselves);
- every Trainer gets a ResourceSpec (CPU, memory, GPU count and accelerator type), and a
  container that requests GPUs gets CLASSICS_REQUIRE_GPUS so it refuses to train on the
  CPU; a model with more than one worker (`--workers`, or its registry entry) gets the
  TFJob Trainer instead (components/tfjob_trainer.py): its step submits a TFJob of that
  many workers (each with the Trainer's CPU/memory and `--gpus-per-worker` GPUs) and waits;
- Beam components get `beam_args` for a distributed runner (Flink, Spark, Dataflow)
  instead of the local DirectRunner defaults.

Targets. `kfp` (open-source Kubeflow Pipelines >= 2.2, checked against 2.17's sources):
s3:// or gs:// URIs; GPU requests name the Kubernetes resource (`nvidia.com/gpu`), which
the KFP driver uses as the resource name; with an S3 endpoint (MinIO, SeaweedFS) every
task gets the endpoint as plain environment variables and the credentials from a
Kubernetes Secret through the IR's kubernetes platform spec; GPU Trainer pods (and GPU
TFJob workers) tolerate the `nvidia.com/gpu` NoSchedule taint and take the user's
tolerations and node selector, through the same platform spec. `vertex` (Vertex AI
Pipelines): gs:// only, accelerator types are Vertex's names (NVIDIA_TESLA_T4), no
platform spec. Both compile PipelineSpec schema 2.1 (the open-source backend reads
`runtimeValue.constant` only).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, List, Optional

from tfx import v1 as tfx
from kfp.pipeline_spec import pipeline_spec_pb2

from components import tfjob
from pipelines import nodes, tasks
from pipelines.runners import kfp_compat
from pipelines import config as config_lib
from pipelines.config import PIPELINE_IMAGE, PipelineConfig
from trainer.runtime import kfp_entrypoint
from trainer.runtime import object_store
from trainer.strategy import REQUIRE_GPUS_ENV

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec

KFP, VERTEX = "kfp", "vertex"
# Multi-worker Trainers: a TFJob (Training Operator 1.9) or a TrainJob (Kubeflow Trainer v2).
TRAINER_BACKENDS = ("tfjob", "trainjob")
TARGETS = (KFP, VERTEX)
DEFAULT_IMAGE = PIPELINE_IMAGE
DEFAULT_GPU_TYPE = {KFP: "nvidia.com/gpu", VERTEX: "NVIDIA_TESLA_T4"}
URI_SCHEMES = {KFP: (object_store.S3_SCHEME, object_store.GCS_SCHEME),
               VERTEX: (object_store.GCS_SCHEME,)}
# The object store k8s/kfp installs (KFP's SeaweedFS in namespace kubeflow, bucket
# mlpipeline); --object-store-endpoint / --object-store-secret point at it.
DEFAULT_BUCKET = "s3://mlpipeline"
# Keys of the Secret KFP ships for its object store (mlpipeline-minio-artifact), and the
# variables boto3 and TensorFlow's S3 plugin read them from.
DEFAULT_SECRET_KEYS = {"accesskey": "AWS_ACCESS_KEY_ID", "secretkey": "AWS_SECRET_ACCESS_KEY"}
DEFAULT_CLUSTER_BEAM_ARGS = ("--direct_running_mode=multi_processing",
                             "--direct_num_workers=0")


@dataclasses.dataclass
class KubeflowSettings:
    target: str = KFP
    image: str = DEFAULT_IMAGE
    gpu_count: int = 1
    gpu_type: Optional[str] = None  # None: the target's default
    trainer_cpu: float = 4.0  # per Trainer pod, or per TFJob worker
    trainer_memory_gb: float = 16.0
    # Trainers with TFJob workers (config.distribution): the job's namespace (None: the
    # step's own), how long the step waits, whether the finished job is kept for its logs,
    # and the step's own pod, which only submits and waits.
    tfjob_namespace: Optional[str] = None
    tfjob_timeout_hours: float = 24.0
    keep_tfjob: bool = False
    # The job's kind: a TFJob (Training Operator 1.9) or a TrainJob (Kubeflow Trainer v2,
    # on k8s/training's TrainingRuntime); components/tfjob_trainer.py's BACKENDS.
    trainer_backend: str = "tfjob"
    launcher_cpu: float = 1.0
    launcher_memory_gb: float = 2.0
    # e.g. ["--runner=FlinkRunner", "--flink_master=flink:8081", "--environment_type=LOOPBACK"]
    beam_args: List[str] = dataclasses.field(
        default_factory=lambda: list(DEFAULT_CLUSTER_BEAM_ARGS))
    pipeline_root: str = f"{DEFAULT_BUCKET}/v2/artifacts"
    serving_root: str = f"{DEFAULT_BUCKET}/serving"
    object_store_endpoint: Optional[str] = None  # None: AWS S3 itself (or gs:// only)
    object_store_secret: Optional[str] = None  # a Secret in the run's namespace
    object_store_region: str = "us-east-1"
    # Folders allowed as pipeline root, serving root and data: an IR for `classics
    # run-ir` on this machine (pipelines/runners/ir), which no cluster can run.
    local_folders: bool = False
    secret_keys: Dict[str, str] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_SECRET_KEYS))
    # Where GPU Trainers run (--toleration, --node-selector): only the pods that request
    # GPUs (a Trainer's own pod, or its TFJob's workers) get them, since those are the pods
    # that need the GPU nodes; the rest keep the cluster's default placement, so a GPU pool
    # is not filled with CPU steps.
    tolerations: List[Dict[str, str]] = dataclasses.field(default_factory=list)
    node_selector: Dict[str, str] = dataclasses.field(default_factory=dict)
    # The image's entrypoint: TFX's Kubeflow V2 executor (and ExampleGen driver) with the
    # runtime fixes (trainer/runtime/kfp_tfx_patches.py) and the S3 set-up and exit handling.
    command: List[str] = dataclasses.field(
        default_factory=lambda: list(kfp_entrypoint.COMMAND))
    driver_command: List[str] = dataclasses.field(
        default_factory=lambda: list(kfp_entrypoint.DRIVER_COMMAND))

    @property
    def accelerator_type(self) -> str:
        return self.gpu_type or DEFAULT_GPU_TYPE[self.target]

    def uses_s3(self, data_dir: str) -> bool:
        return any(object_store.is_s3(u) for u in
                   (self.pipeline_root, self.serving_root, data_dir))

    def check(self, data_dir: str) -> None:
        """Refuses settings the target cannot run, with what to pass instead."""
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}; known: {', '.join(TARGETS)}")
        schemes = URI_SCHEMES[self.target]
        for what, uri in (("pipeline root", self.pipeline_root),
                          ("serving root", self.serving_root), ("data", data_dir)):
            if self.local_folders and "://" not in str(uri):
                continue
            if not str(uri).startswith(schemes):
                why = ("the KFP launcher accepts no local pipeline root and pods share no "
                       "volume with this machine" if self.target == KFP
                       else "Vertex AI reads Cloud Storage only")
                raise ValueError(f"{what} {uri!r}: {self.target} needs a "
                                 f"{' or '.join(schemes)} URI ({why})")
        gpu = self.accelerator_type
        if self.gpu_count > 0 and self.target == KFP and "/" not in gpu:
            raise ValueError(
                f"GPU type {gpu!r}: open-source KFP requests the accelerator type as a "
                "Kubernetes resource name, e.g. nvidia.com/gpu (Vertex names such as "
                "NVIDIA_TESLA_T4 belong to --target vertex)")
        if self.gpu_count > 0 and self.target == VERTEX and "/" in gpu:
            raise ValueError(f"GPU type {gpu!r}: Vertex AI wants its accelerator names, "
                             "e.g. NVIDIA_TESLA_T4")
        if (self.object_store_endpoint or self.object_store_secret) and (
                self.target != KFP or not self.uses_s3(data_dir)):
            raise ValueError("--object-store-endpoint/--object-store-secret configure S3 on "
                             "open-source KFP: they need --target kfp and an s3:// URI")
        if self.object_store_endpoint and not self.object_store_secret:
            raise ValueError(f"object store {self.object_store_endpoint}: name the Secret "
                             "holding its keys (--object-store-secret, e.g. "
                             "mlpipeline-minio-artifact)")
        self.object_store_settings()  # refuses a malformed endpoint
        if self.places_gpu_pods() and self.target != KFP:
            raise ValueError("--toleration/--node-selector place pods on a Kubernetes "
                             f"cluster: they need --target {KFP}")
        for toleration in self.tolerations:
            tfjob.check_toleration(toleration)
        tfjob.check_node_selector(self.node_selector)
        if self.trainer_backend not in TRAINER_BACKENDS:
            raise ValueError(f"trainer backend {self.trainer_backend!r}: expected one of "
                             f"{', '.join(TRAINER_BACKENDS)}")

    def places_gpu_pods(self) -> bool:
        return bool(self.tolerations or self.node_selector)

    def gpu_tolerations(self) -> List[Dict[str, str]]:
        """A GPU pod's tolerations: the GPU taint's, then the user's."""
        default = tfjob.gpu_toleration(self.accelerator_type)
        return [default] + [t for t in self.tolerations if t != default]

    def object_store_settings(self) -> Optional[object_store.S3Settings]:
        if not self.object_store_endpoint:
            return None
        return object_store.S3Settings.from_env(
            {"AWS_REGION": self.object_store_region},
            endpoint_url=self.object_store_endpoint)

    def all_beam_args(self) -> List[str]:
        s3 = self.object_store_settings()
        args = list(self.beam_args) + (s3.beam_args() if s3 else [])
        if config_lib.runs_direct_runner(args) and not config_lib.names_dependencies(args):
            # The DirectRunner in the pod runs the pod's own code: without a dependency
            # flag TFX would build a tfx_ephemeral package per Beam component for nothing.
            args.append(f"--sdk_container_image={self.image}")
        return args

    def trainer_resources(self, gpus: Optional[int] = None) -> ResourceSpec:
        """A Trainer pod's ResourceSpec (`gpus`: None for --gpus)."""
        gpus = self.gpu_count if gpus is None else gpus
        spec = ResourceSpec(cpu_limit=self.trainer_cpu, memory_limit=self.trainer_memory_gb)
        if gpus > 0:
            spec.accelerator.type = self.accelerator_type
            spec.accelerator.count = gpus
        return spec

    def tfjob_settings(self, workers: int, gpus: int) -> tfjob.TFJobSettings:
        """The TFJob (or TrainJob) of a multi-worker Trainer: the pipeline image, the
        Trainer's CPU and memory per worker, the object store's keys from its Secret."""
        from components import tfjob_trainer  # pylint: disable=import-outside-toplevel

        secret_env = ({var: [self.object_store_secret, key]
                       for key, var in sorted(self.secret_keys.items())}
                      if self.object_store_secret else {})
        settings = tfjob_trainer.BACKENDS[self.trainer_backend].settings(
            image=self.image, workers=workers, gpus_per_worker=gpus,
            gpu_resource=self.accelerator_type, cpu=self.trainer_cpu,
            memory_gb=self.trainer_memory_gb, namespace=self.tfjob_namespace,
            timeout_seconds=int(self.tfjob_timeout_hours * 3600),
            keep_job=self.keep_tfjob, secret_env=secret_env,
            tolerations=list(self.tolerations) if gpus > 0 else [],
            node_selector=dict(self.node_selector) if gpus > 0 else {})
        settings.check()
        return settings

    def trainer_placement(self, config: PipelineConfig
                          ) -> Callable[[str], nodes.TrainerPlacement]:
        """model -> where its Trainer trains: its own pod, or (config.distribution names
        more than one worker) a TFJob or TrainJob the step submits and waits for."""
        def place(model: str) -> nodes.TrainerPlacement:
            workers, gpus = config.distribution(model)
            gpus = self.gpu_count if gpus is None else gpus
            if workers <= 1:
                return nodes.TrainerPlacement(self.trainer_resources(gpus))
            if self.target != KFP:
                raise ValueError(
                    f"model {model}: {workers} TFJob workers need Kubeflow's Training Operator "
                    f"or Trainer (--target {KFP}); on Vertex AI use TFX's Vertex Trainer "
                    "extension")
            launcher = ResourceSpec(cpu_limit=self.launcher_cpu,
                                    memory_limit=self.launcher_memory_gb)
            return nodes.TrainerPlacement(launcher,
                                          self.tfjob_settings(workers, gpus).to_dict(),
                                          self.trainer_backend)
        return place


def default_data_uri(pipeline_root: str, corpus: str) -> str:
    """`<scheme>://<bucket of the pipeline root>/data/<corpus>`."""
    scheme, _, rest = pipeline_root.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}/data/{corpus}" if rest else pipeline_root


def cluster_config(base: PipelineConfig, settings: KubeflowSettings) -> PipelineConfig:
    """`base` with the cluster's locations and Beam args (all of its models)."""
    return dataclasses.replace(
        base, beam_args=settings.all_beam_args(),
        pipeline_name=base.pipeline_name or f"classics-{base.corpus}",
        pipeline_root_override=settings.pipeline_root,
        serving_root_override=settings.serving_root)


def _header(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        lines = []
        for line in f:
            if not line.startswith("#"):
                break
            lines.append(line)
    return "".join(lines)


def require_requested_gpus(spec: dict) -> List[str]:
    """Gives every container that requests GPUs CLASSICS_REQUIRE_GPUS=<count>, so its
    Trainer refuses to run on the CPU when the GPUs are not visible (trainer/strategy.py);
    returns those executors. (TFJob workers get it from components/tfjob.py.)"""
    executors = spec["deploymentSpec"]["executors"]
    changed = []
    for label in kfp_compat.container_executors(spec):
        container = executors[label]["container"]
        accelerator = container.get("resources", {}).get("accelerator", {})
        count = int(accelerator.get("count") or accelerator.get("resourceCount") or 0)
        if count > 0:
            kept = [e for e in container.get("env", []) if e.get("name") != REQUIRE_GPUS_ENV]
            container["env"] = kept + [{"name": REQUIRE_GPUS_ENV, "value": str(count)}]
            changed.append(label)
    return changed


def finish_ir(tfx_path: str, path: str, settings: KubeflowSettings) -> None:
    """Adds what TFX's compiler leaves out (pipelines/runners/kfp_compat.py) to the IR TFX wrote
    at `tfx_path` and writes the result to `path`; refuses an inadmissible IR."""
    spec, platform = kfp_compat.read_ir(tfx_path)
    kfp_compat.check_admissible(spec, os.path.basename(path))
    drivers = kfp_compat.set_driver_command(spec, settings.driver_command)
    kfp_compat.disable_caching(spec, nodes.never_cached)
    if settings.target == KFP:
        # The open-source backend never runs a driver (lifecycle.preCacheCheck), so an
        # ExampleGen's cache key lacks the input fingerprint: a changed corpus at the same
        # URI would be served from the cache. Run ingestion every time instead.
        kfp_compat.disable_caching(spec, lambda task: task in drivers)
    kfp_compat.set_default_pipeline_root(spec, settings.pipeline_root)
    s3 = settings.object_store_settings()
    if s3 is not None:
        kfp_compat.add_env(spec, s3.environment())
    gpu_executors = require_requested_gpus(spec)
    if settings.object_store_secret:
        platform = kfp_compat.secret_env_platform_spec(
            kfp_compat.container_executors(spec), settings.object_store_secret,
            settings.secret_keys)
    if settings.target == KFP and gpu_executors:
        platform = kfp_compat.add_pod_placement(
            platform, gpu_executors, settings.gpu_tolerations(), settings.node_selector)
    kfp_compat.write_ir(path, spec, platform, header=_header(tfx_path))


def compile_pipelines(base: PipelineConfig, settings: KubeflowSettings, data_dir: str,
                      output_dir: str) -> List[str]:
    """Writes the corpus's KFP v2 IR YAML (all selected models); returns its path."""
    settings.check(data_dir)
    os.makedirs(output_dir, exist_ok=True)
    config = cluster_config(base, settings)
    placement = settings.trainer_placement(config)
    for model in config.models:
        placement(model)  # refuses a placement the target cannot run, before any output
    def gpus(model: str) -> int:
        per_worker = config.distribution(model)[1]
        return settings.gpu_count if per_worker is None else per_worker

    if settings.places_gpu_pods() and not any(gpus(m) > 0 for m in config.models):
        # They place GPU pods only; with none they would silently do nothing.
        raise ValueError("--toleration/--node-selector place the Trainers that request "
                         "GPUs, and no Trainer requests any (--gpus/--gpus-per-worker 0)")
    pipeline = tasks.of_config(config).create_pipeline(
        config, data_dir, metadata_connection_config=None,
        beam_args=config.beam_args, trainer_resources=placement)
    # TFX writes a draft; only a finished, admissible IR gets the package's name.
    draft = f".{config.name}.tfx.yaml"
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
            default_image=settings.image, default_commands=list(settings.command),
            use_pipeline_spec_2_1=True),
        output_dir=output_dir, output_filename=draft)
    path = os.path.join(output_dir, f"{config.name}.yaml")
    try:
        runner.run(pipeline, write_out=True)
        finish_ir(os.path.join(output_dir, draft), path, settings)
    finally:
        if os.path.exists(os.path.join(output_dir, draft)):
            os.remove(os.path.join(output_dir, draft))
    return [path]


def submit(package_path: str, host: Optional[str], namespace: Optional[str],
           experiment: str, run_name: Optional[str] = None, client_factory=None,
           pipeline_root: Optional[str] = None):
    """Uploads and starts a run on a Kubeflow Pipelines endpoint with the kfp client. The
    run's pipeline root is `pipeline_root`, else the one compiled into the package (the
    open-source backend ignores the spec's defaultPipelineRoot and would fall back to the
    kfp-launcher ConfigMap's)."""
    import kfp  # pylint: disable=import-outside-toplevel

    root = pipeline_root or kfp_compat.default_pipeline_root(package_path)
    factory = client_factory or kfp.Client
    client = factory(host=host, namespace=namespace)
    return client.create_run_from_pipeline_package(
        package_path, arguments={}, run_name=run_name, experiment_name=experiment,
        namespace=namespace, pipeline_root=root)


# KFP's API server refuses a recurring run outside these (backend/src/apiserver/server/
# api_converter.go, toModelJob).
MAX_CONCURRENCY_RANGE = (1, 10)


def default_job_name(package_path: str, cron: str) -> str:
    """`<package name> (<cron>)`, e.g. `classics-mnist (0 0 3 * * *)`."""
    stem = os.path.basename(package_path)
    for suffix in (".yaml", ".yml"):
        if stem.endswith(suffix):
            stem = stem[:-len(suffix)]
    return f"{stem} ({cron})"


def schedule(package_path: str, host: Optional[str], namespace: Optional[str],
             experiment: str, cron: str, job_name: Optional[str] = None,
             max_concurrency: int = 1, client_factory=None,
             pipeline_root: Optional[str] = None):
    """Creates a KFP recurring run of the package on `cron` (6 fields, seconds first;
    pipelines/runners/kfp_cron.py) with kfp.Client.create_recurring_run, in
    `experiment` (created if new, as for a single run). Missed runs are not caught up:
    a paused schedule that resumes trains once, not once per missed tick. Refuses
    settings KFP would refuse before contacting it."""
    import kfp  # pylint: disable=import-outside-toplevel
    from pipelines.runners import kfp_cron  # pylint: disable=import-outside-toplevel

    try:
        kfp_cron.check_cron(cron)
    except kfp_cron.CronError as e:
        raise kfp_cron.CronError(f"--schedule {e}") from None
    low, high = MAX_CONCURRENCY_RANGE
    if not low <= max_concurrency <= high:
        raise ValueError(f"--max-concurrency {max_concurrency}: KFP allows {low} to {high} "
                         "runs of a recurring run at once")
    name = job_name if job_name is not None else default_job_name(package_path, cron)
    if not name.strip():
        raise ValueError("--job-name: a recurring run needs a name")
    root = pipeline_root or kfp_compat.default_pipeline_root(package_path)
    factory = client_factory or kfp.Client
    client = factory(host=host, namespace=namespace)
    found = client.create_experiment(name=experiment, namespace=namespace)
    return client.create_recurring_run(
        experiment_id=found.experiment_id, job_name=name, cron_expression=cron,
        max_concurrency=max_concurrency, no_catchup=True,
        pipeline_package_path=package_path, pipeline_root=root, enabled=True)
