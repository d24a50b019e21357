"""A Trainer whose step trains on many machines: it hands the work to a Kubeflow TFJob
(the Training Operator 1.9) or a Kubeflow Trainer v2 TrainJob, and waits for it, as TFX's
Vertex Trainer extension (tfx.extensions.google_cloud_ai_platform.trainer) does with
Vertex custom jobs.

`Trainer` is `tfx.components.Trainer` with another executor; its inputs, outputs,
run_fn and custom_config are the stock Trainer's. The job's settings travel in the
custom_config under the backend's key (BACKENDS: TFJOB_KEY with components/tfjob.py's
TFJobSettings, TRAINJOB_KEY with components/trainjob.py's TrainJobSettings), which the
executor removes before anything reaches the run_fn. The executor:

1. derives the step's FnArgs with TFX's own Trainer code, and refuses local output or
   input paths (the workers run on other machines; they read and write the object store);
2. submits a job of N workers, each running `python -m trainer.runtime.tfjob_worker
   [--cluster jobset] --invocation <the step's invocation>` (trainer/runtime/tfjob_worker.py)
   in the pipeline image, with the object store's endpoint, the Secret-backed credentials
   and, when GPUs are requested, CLASSICS_REQUIRE_GPUS (trainer/strategy.py refuses to
   train without them);
3. follows it (components/k8s_job.py), logging its status and worker 0's log lines, and
   fails the step when the job fails or outlives the timeout;
4. deletes the job (success or failure) unless `keep_job`, and checks that the chief
   wrote the model: the workers write the step's serving_model_dir and model_run_dir
   URIs themselves, so the chief's model is the step's Model artifact.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Dict, List, Type

import absl.logging
from tfx import types
from tfx.components.trainer import component as trainer_component
from tfx.components.trainer import executor as trainer_executor
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_component_specs
from tfx.utils import json_utils

from components import k8s_job, tfjob, trainjob
from trainer.runtime import object_store
from trainer.runtime import tfjob_worker as worker

TFJOB_KEY = "tfjob"
TRAINJOB_KEY = "trainjob"


@dataclasses.dataclass(frozen=True)
class Backend:
    """One kind of training job: its settings, its body, its client, and where its
    workers find their cluster."""
    key: str  # in the custom_config
    kind: str
    settings: Type[k8s_job.JobSettings]
    build: Callable[..., Dict[str, Any]]
    client: Type[k8s_job.JobClient]
    cluster: str  # the workers' --cluster
    api_client: Callable[[], Any]


BACKENDS = {
    TFJOB_KEY: Backend(TFJOB_KEY, tfjob.KIND, tfjob.TFJobSettings, tfjob.build_tfjob,
                       tfjob.TFJobClient, worker.TF_CONFIG_CLUSTER, tfjob.default_api_client),
    TRAINJOB_KEY: Backend(TRAINJOB_KEY, trainjob.KIND, trainjob.TrainJobSettings,
                          trainjob.build_trainjob, trainjob.TrainJobClient,
                          worker.JOBSET_CLUSTER, trainjob.default_api_client),
}


def backend_of(custom_config: Any) -> Backend:
    """The backend whose key the custom_config holds (exactly one)."""
    keys = [k for k in BACKENDS if isinstance(custom_config, dict) and k in custom_config]
    if len(keys) != 1:
        found = f"both {' and '.join(map(repr, keys))}" if keys else "no"
        raise ValueError(f"distributed Trainer: custom_config has {found} settings: it "
                         f"needs {TFJOB_KEY!r} (TFJob) or {TRAINJOB_KEY!r} (TrainJob)")
    return BACKENDS[keys[0]]


def is_remote_uri(uri: str) -> bool:
    return object_store.is_remote(uri)


def split_custom_config(exec_properties: Dict[str, Any]):
    """(exec properties without the job's settings, the settings, the backend)."""
    key = standard_component_specs.CUSTOM_CONFIG_KEY
    raw = exec_properties.get(key)
    custom = json_utils.loads(raw) if isinstance(raw, str) else (raw or {})
    backend = backend_of(custom)
    custom = dict(custom)
    settings = backend.settings.from_dict(custom.pop(backend.key))
    stripped = dict(exec_properties)
    stripped[key] = json_utils.dumps(custom)
    return stripped, settings, backend


def _local_paths(fn_args) -> List[str]:
    uris = list(fn_args.train_files) + list(fn_args.eval_files) + [
        fn_args.transform_output, fn_args.serving_model_dir, fn_args.model_run_dir]
    return [u for u in uris if u and not is_remote_uri(u)]


def _step_name(context, custom_config) -> str:
    """The node id (`Trainer.<model>`) where the orchestrator passes it (LocalDagRunner),
    else `Trainer.<model>` from the custom_config (KFP's entrypoint passes no node)."""
    node = getattr(context, "pipeline_node", None) if context else None
    if node is not None and node.node_info.id:
        return node.node_info.id
    model = (custom_config or {}).get("model")
    return f"Trainer.{model}" if isinstance(model, str) and model else "Trainer"


class Executor(trainer_executor.GenericExecutor):
    """Runs the step's run_fn as a TFJob or TrainJob and waits for it."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        exec_properties, settings, backend = split_custom_config(exec_properties)
        fn_args = self._GetFnArgs(input_dict, output_dict, exec_properties)
        local = _local_paths(fn_args)
        if local:
            raise ValueError(
                f"{backend.kind} Trainer: the workers run on other machines and cannot see local paths "
                f"{local}; use an object-store pipeline root (s3:// or gs://)")
        invocation = worker.encode_invocation(input_dict, output_dict, exec_properties)
        env = {}
        if any(object_store.is_s3(u) for u in (fn_args.serving_model_dir,
                                               fn_args.transform_output)):
            # Where the store is (plain variables); its keys come from settings.secret_env.
            env.update(object_store.S3Settings.from_env().environment())
        namespace = k8s_job.default_namespace(settings)
        step = _step_name(self._context, fn_args.custom_config)
        name = k8s_job.job_name(step, fn_args.model_run_dir)
        body = backend.build(name, namespace, settings,
                             worker.command(invocation, backend.cluster), env=env, step=step,
                             owner=k8s_job.owner_reference())
        absl.logging.info("%s %s/%s: %d worker(s) x %d GPU(s), image %s, run_fn %s",
                          backend.kind, namespace, name, settings.workers,
                          settings.gpus_per_worker, settings.image,
                          exec_properties.get("run_fn"))
        client = backend.client(backend.api_client(), namespace, log=absl.logging.info)
        client.run(body, settings.timeout_seconds, settings.poll_seconds,
                   keep=settings.keep_job)
        if not fileio.exists(fn_args.serving_model_dir):
            raise RuntimeError(f"{backend.kind} {namespace}/{name} succeeded but wrote no model to "
                               f"{fn_args.serving_model_dir}")
        absl.logging.info("Training complete. Model written to %s. ModelRun written to %s",
                          fn_args.serving_model_dir, fn_args.model_run_dir)


class Trainer(trainer_component.Trainer):
    """`tfx.components.Trainer` whose step runs the run_fn as a Kubeflow TFJob or TrainJob.

    custom_config must hold TFJOB_KEY (a TFJobSettings dict, components/tfjob.py) or
    TRAINJOB_KEY (a TrainJobSettings dict, components/trainjob.py)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, custom_config: Dict[str, Any], **kwargs):
        backend = backend_of(custom_config)
        backend.settings.from_dict(custom_config[backend.key])  # refuse bad settings early
        json.dumps(custom_config)  # must travel as JSON
        super().__init__(custom_config=custom_config, **kwargs)
