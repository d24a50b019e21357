"""Pipeline configuration as data: every knob of a run in one typed place.

`PipelineConfig` holds what every task shares (corpus, models, workspace, runner
settings); each task's config (pipelines/<task>/config.py: image, word2vec, lm) adds its
own fields and builds its Trainer's custom_config from the trainer's own config
dataclass, so the two sides cannot disagree on a key. The same config drives the local
run (LocalDagRunner) and the Kubeflow compile. The Beam modes of local runs live here too.
"""
from __future__ import annotations

import dataclasses
import os
from typing import ClassVar, List, Mapping, Optional, Sequence, Tuple

from components import filesystem, shard_writer
from trainer import registry
from pipelines.workspace import default_workspace  # noqa: F401  (config.default_workspace)

# Local Beam (the DirectRunner): one in-process worker, or one worker process per core.
IN_MEMORY_BEAM_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")
MULTI_PROCESSING_BEAM_ARGS = ("--direct_running_mode=multi_processing",
                              "--direct_num_workers=0")
MULTI_THREADING_BEAM_ARGS = ("--direct_running_mode=multi_threading", "--direct_num_workers=0")
BEAM_MODES = {"in_memory": IN_MEMORY_BEAM_ARGS, "multi_processing": MULTI_PROCESSING_BEAM_ARGS,
              "multi_threading": MULTI_THREADING_BEAM_ARGS}
# What a local run's Beam components get when nothing chose a mode. in_memory even for
# full-size corpora: on 2 cores, with Transform's own statistics on in both, multi_processing
# ran half of CIFAR-10's data half and an epoch no faster (162 vs 166 s) with 1.3x the CPU
# seconds and 3.8 instead of 2.4 GB peak, and the full set 18% faster but at 5.4 GB: its
# worker processes each import TensorFlow and TFX, and every record crosses to them and
# back (README "Scale"). `classics run --beam-mode multi_processing` chooses it.
DEFAULT_BEAM_ARGS = IN_MEMORY_BEAM_ARGS
# ...except the ExampleGens that write their own shards (components/shard_writer.py: MNIST,
# CIFAR-10): building their records (encode_proto) and TensorFlow's gzip record writer
# release the GIL, so one thread per core runs them in parallel without worker processes
# (make bench-ingest on 2 cores: 1.7-1.8x the single-process reader; multi_processing 1.0x).
SHARD_WRITER_BEAM_ARGS = MULTI_THREADING_BEAM_ARGS


# TFX hands every Beam component whose args name no package, setup file, requirements file
# or container image a `tfx_ephemeral` source package of the installed TFX, for remote
# workers to install (tfx/utils/dependency_utils.py make_beam_dependency_flags): a ~49 MB
# copy built in a new temporary folder per component and never deleted. The DirectRunner's
# workers are this process's threads or subprocesses of this Python; they install nothing
# and read no container image. So local DirectRunner args name the pipeline image (what the
# workers' dependencies are on a cluster), which stops TFX building the package; any other
# runner keeps TFX's behaviour.
PIPELINE_IMAGE = "tfx-classics:latest"
DIRECT_RUNNER_DEPENDENCY_ARGS = (f"--sdk_container_image={PIPELINE_IMAGE}",)
# The args make_beam_dependency_flags takes as "dependencies provided" (Beam's spellings).
_DEPENDENCY_FLAGS = ("--extra_package", "--extra_packages", "--setup_file",
                     "--requirements_file", "--worker_harness_container_image",
                     "--sdk_container_image")
_DIRECT_RUNNERS = ("directrunner", "switchingdirectrunner", "bundlebaseddirectrunner")


def runs_direct_runner(beam_args: Sequence[str]) -> bool:
    """Whether `beam_args` run Beam's DirectRunner (no --runner, or the DirectRunner)."""
    runner = None
    for i, arg in enumerate(beam_args):
        if arg.startswith("--runner="):
            runner = arg.split("=", 1)[1]
        elif arg == "--runner" and i + 1 < len(beam_args):
            runner = beam_args[i + 1]
    # Beam takes a runner's class name in any case, or its module path.
    return runner is None or runner.rsplit(".", 1)[-1].lower() in _DIRECT_RUNNERS


def names_dependencies(beam_args: Sequence[str]) -> bool:
    """Whether `beam_args` give Beam's workers their dependencies (TFX then adds none)."""
    return any(a.split("=", 1)[0] in _DEPENDENCY_FLAGS for a in beam_args)


def chooses_beam_mode(beam_args: Sequence[str]) -> bool:
    """Whether `beam_args` pick a runner or a DirectRunner mode themselves."""
    return any(a.startswith(("--runner", "--direct_running_mode", "--direct_num_workers"))
               for a in beam_args)


def local_beam_args(config: "PipelineConfig") -> List[str]:
    """The Beam args a local run of `config` uses: `config.beam_args`, plus
    DEFAULT_BEAM_ARGS when they pick no runner and no DirectRunner mode, plus
    DIRECT_RUNNER_DEPENDENCY_ARGS when they run the DirectRunner and name no dependencies."""
    args = list(config.beam_args)
    if not chooses_beam_mode(args):
        args += list(DEFAULT_BEAM_ARGS)
    return with_local_dependencies(args)


def with_local_dependencies(beam_args: Sequence[str]) -> List[str]:
    """`beam_args`, plus DIRECT_RUNNER_DEPENDENCY_ARGS when they run the DirectRunner and
    name no dependencies (so TFX builds no package for workers that install nothing)."""
    args = list(beam_args)
    if runs_direct_runner(args) and not names_dependencies(args):
        args += list(DIRECT_RUNNER_DEPENDENCY_ARGS)
    return args


def local_component_beam_args(config: "PipelineConfig", executor_class: type) -> List[str]:
    """The Beam args one component of a local run adds to `local_beam_args` (they come
    after them, so they win): SHARD_WRITER_BEAM_ARGS for the shard-writing ExampleGens
    when `config.beam_args` chose no mode, else none."""
    if chooses_beam_mode(config.beam_args) or not issubclass(
            executor_class, shard_writer.ShardWritingExecutor):
        return []
    return list(SHARD_WRITER_BEAM_ARGS)


@dataclasses.dataclass
class PipelineConfig:
    """What every pipeline shares. Subclasses add the task's own settings."""
    task: ClassVar[str] = ""  # the registry task a subclass runs
    specs: ClassVar[Mapping[str, registry.ModelSpec]] = {}  # that task's registry entries
    corpus: str = "mnist"
    models: Sequence[str] = ()
    data_dir: Optional[str] = None  # None: the corpus's embedded default data
    # With span folders in the data folder (components/spans.py): the span to read
    # (None: the newest, as TFX's ExampleGen driver resolves it).
    span: Optional[int] = None
    workspace: str = dataclasses.field(default_factory=default_workspace)
    pipeline_name: Optional[str] = None
    epochs: Optional[int] = None  # overrides every model's default
    batch_size: Optional[int] = None
    # Extra Beam args; a local run adds a DirectRunner mode unless these name one, and
    # for the DirectRunner what spares TFX's package build (local_beam_args). Kubeflow
    # compiles set the cluster's.
    beam_args: List[str] = dataclasses.field(default_factory=list)
    enable_cache: bool = True
    # Transform's own pre- and post-transform statistics (TFX's default); off: the raw
    # data's come from StatisticsGen (pipelines/nodes.py data_components says why).
    transform_statistics: bool = False
    mixed_precision: bool = False
    # The TF Serving model repository, when it is not <workspace>/serving (e.g. the
    # object store the Pusher writes to on Kubeflow).
    serving_root_override: Optional[str] = None
    # The pipeline root, when it is not <workspace>/pipelines/<name> (on Kubeflow: the
    # object-store URI the run's artifacts go under).
    pipeline_root_override: Optional[str] = None
    # Compiled pipelines: TFJob workers per Trainer and GPUs per worker, for every model
    # (None: each registry entry's `workers` / `gpus_per_worker`).
    workers: Optional[int] = None
    gpus_per_worker: Optional[int] = None
    # Start each Trainer from the served version's weights (None: each registry entry's
    # `warm_start`); only tasks whose Trainers can (`warm_starts`) accept True.
    warm_start: Optional[bool] = None
    warm_starts: ClassVar[bool] = False

    def check(self) -> None:
        """Refuses settings no run can use, before anything runs; the one place model
        names are checked."""
        if not self.models:
            raise ValueError(f"no models given; known: {', '.join(self.specs)}")
        for model in self.models:
            self.spec(model)
        for name in ("epochs", "batch_size", "workers", "span"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1, got {value}")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise ValueError(f"GPUs per worker must be 0 or more, got {self.gpus_per_worker}")
        if self.warm_start and not self.warm_starts:
            raise ValueError(f"--warm-start: the {self.task} task's Trainers always start "
                             "from scratch (only image classifiers warm-start)")

    def warm_start_for(self, model: str) -> bool:
        """Whether a model's Trainer starts from the served version's weights: the
        config's setting, else the registry entry's (never for a task that cannot)."""
        if not self.warm_starts:
            return False
        return self.spec(model).warm_start if self.warm_start is None else self.warm_start

    def distribution(self, model: str) -> Tuple[int, Optional[int]]:
        """(TFJob workers, GPUs per worker or None for the compile's default) of a model's
        Trainer on Kubeflow: the config's values, else the registry entry's."""
        spec = self.spec(model)
        workers = self.workers if self.workers is not None else spec.workers
        gpus = self.gpus_per_worker if self.gpus_per_worker is not None \
            else spec.gpus_per_worker
        return workers, gpus

    def spec(self, model: str) -> registry.ModelSpec:
        """The registry entry of one of this task's models."""
        return registry.lookup(self.specs, model)

    @property
    def name(self) -> str:
        return self.pipeline_name or f"classics-{self.corpus}"

    @property
    def pipeline_root(self) -> str:
        return self.pipeline_root_override or os.path.join(self.workspace, "pipelines",
                                                           self.name)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.workspace, "metadata", f"{self.name}.sqlite")

    @property
    def serving_root(self) -> str:
        return self.serving_root_override or os.path.join(self.workspace, "serving")

    @property
    def cache_dir(self) -> str:
        return os.path.join(self.workspace, "data")

    def serving_model_name(self, model: str) -> str:
        return f"{self.corpus}_{model}"

    def given_data_dir(self) -> Optional[str]:
        """The --data folder: a local path (made absolute) or a gs:// / s3:// URI, checked
        to exist through the readers' own filesystem layer."""
        if not self.data_dir:
            return None
        if filesystem.is_local(self.data_dir):
            path = os.path.abspath(self.data_dir)
        else:
            path = self.data_dir.rstrip("/")
        if not filesystem.isdir(path):
            raise FileNotFoundError(f"{path}: data folder does not exist")
        return path
