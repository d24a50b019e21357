"""Compiles pipelines to KFP v2 IR with KubeflowV2DagRunner, and submits them.

The pipeline comes from the same factory as the local run; only the runner, the paths
(inside the cluster's volumes) and the resources differ:
- every Trainer gets a ResourceSpec (CPU, memory, GPU count and accelerator type);
- Beam components get `beam_args` for a distributed runner (Flink, Spark, Dataflow) from
  configuration instead of the local DirectRunner defaults.

One pipeline per model: KFP's v2 backend resolves "latest blessed model" by artifact type
within a pipeline (tfx/orchestration/kubeflow/v2/step_builder.py ignores the producer),
so two models in one Kubeflow pipeline would baseline against each other's blessings.
Compiling each model as its own pipeline keeps every baseline per model.
"""
from __future__ import annotations

import dataclasses
import os
from typing import List, Optional

from tfx import v1 as tfx
from kfp.pipeline_spec import pipeline_spec_pb2

from pipelines import tasks
from pipelines.config import PipelineConfig

ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec

DEFAULT_IMAGE = "tfx-classics:latest"
# Paths as mounted in the pipeline pods (see k8s/ and the README's deployment section).
DEFAULT_CLUSTER_WORKSPACE = "/workspace"
DEFAULT_CLUSTER_MODELS = "/models"
DEFAULT_CLUSTER_BEAM_ARGS = ("--direct_running_mode=multi_processing",
                             "--direct_num_workers=0")


@dataclasses.dataclass
class KubeflowSettings:
    image: str = DEFAULT_IMAGE
    gpu_count: int = 1
    gpu_type: str = "NVIDIA_TESLA_T4"
    trainer_cpu: float = 4.0
    trainer_memory_gb: float = 16.0
    # e.g. ["--runner=FlinkRunner", "--flink_master=flink:8081", "--environment_type=LOOPBACK"]
    beam_args: List[str] = dataclasses.field(
        default_factory=lambda: list(DEFAULT_CLUSTER_BEAM_ARGS))
    workspace: str = DEFAULT_CLUSTER_WORKSPACE
    serving_root: str = DEFAULT_CLUSTER_MODELS

    def trainer_resources(self) -> ResourceSpec:
        spec = ResourceSpec(cpu_limit=self.trainer_cpu, memory_limit=self.trainer_memory_gb)
        if self.gpu_count > 0:
            spec.accelerator.type = self.gpu_type
            spec.accelerator.count = self.gpu_count
        return spec


def cluster_config(base: PipelineConfig, model: str, settings: KubeflowSettings
                   ) -> PipelineConfig:
    """`base` for one model, with the cluster's volumes and Beam args."""
    return dataclasses.replace(
        base, models=[model], workspace=settings.workspace, beam_args=settings.beam_args,
        pipeline_name=f"classics-{base.corpus}-{model}",
        serving_root_override=settings.serving_root)


def compile_pipelines(base: PipelineConfig, settings: KubeflowSettings, data_dir: str,
                      output_dir: str) -> List[str]:
    """Writes one KFP v2 IR YAML per selected model; returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    written = []
    for model in base.models:
        config = cluster_config(base, model, settings)
        pipeline = tasks.of_config(config).create_pipeline(
            config, data_dir, metadata_connection_config=None,
            beam_args=config.beam_args, trainer_resources=settings.trainer_resources())
        filename = f"{config.name}.yaml"
        runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
            config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(
                default_image=settings.image),
            output_dir=output_dir, output_filename=filename)
        runner.run(pipeline, write_out=True)
        written.append(os.path.join(output_dir, filename))
    return written


def submit(package_path: str, host: Optional[str], namespace: Optional[str],
           experiment: str, run_name: Optional[str] = None, client_factory=None):
    """Uploads and starts a run on a Kubeflow Pipelines endpoint with the kfp client."""
    import kfp  # pylint: disable=import-outside-toplevel

    factory = client_factory or kfp.Client
    client = factory(host=host, namespace=namespace)
    return client.create_run_from_pipeline_package(
        package_path, arguments={}, run_name=run_name, experiment_name=experiment,
        namespace=namespace)
