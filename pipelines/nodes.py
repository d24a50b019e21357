"""The pipeline nodes every task's factory shares: the data half (statistics, schema,
validation, Transform), the per-model baseline, the Trainer, the Pusher into the TF
Serving repository, and the Pipeline object itself. Node ids come from `node_ids`, which
the report uses to read runs back."""
from __future__ import annotations

import os
from typing import Dict, List, Optional

from tfx import v1 as tfx
from tfx.types import standard_artifacts

from pipelines.config import PipelineConfig


def node_ids(model: str) -> Dict[str, str]:
    """Node ids of one model's branch; `report` reads runs back by these."""
    return {"trainer": f"Trainer.{model}", "baseline": f"LatestBlessed.{model}",
            "evaluator": f"Evaluator.{model}", "servability": f"ServabilityCheck.{model}",
            "pusher": f"Pusher.{model}"}


def data_components(example_gen, preprocessing_fn: str,
                    transform_config: Optional[dict] = None) -> List:
    """[example_gen, StatisticsGen, SchemaGen, ExampleValidator, Transform]."""
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        preprocessing_fn=preprocessing_fn, custom_config=transform_config)
    return [example_gen, statistics_gen, schema_gen, example_validator, transform]


def trainer(model: str, run_fn: str, schema_gen, transform, custom_config: dict,
            resources=None):
    """A Trainer on the Transform output; `resources` is a KFP ResourceSpec (Kubeflow)."""
    component = tfx.components.Trainer(
        run_fn=run_fn,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema_gen.outputs["schema"],
        custom_config=custom_config).with_id(node_ids(model)["trainer"])
    if resources is not None:
        component.with_platform_config(resources)
    return component


def latest_blessed_baseline(model: str):
    """The latest model of *this* model's Trainer that *its* Evaluator blessed; the
    channels are keyed by producer so one model never baselines against another."""
    ids = node_ids(model)
    return tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=standard_artifacts.Model,
                              producer_component_id=ids["trainer"], output_key="model"),
        model_blessing=tfx.dsl.Channel(type=standard_artifacts.ModelBlessing,
                                       producer_component_id=ids["evaluator"],
                                       output_key="blessing"),
    ).with_id(ids["baseline"])


def pusher(config: PipelineConfig, model_name: str, **inputs):
    """Pusher into `<serving_root>/<corpus>_<model>/<version>/` (TF Serving's layout);
    `inputs` are the Pusher's model / model_blessing / infra_blessing channels."""
    return tfx.components.Pusher(
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=os.path.join(config.serving_root,
                                            config.serving_model_name(model_name)))),
        **inputs).with_id(node_ids(model_name)["pusher"])


def pipeline(config: PipelineConfig, components: List, metadata_connection_config=None,
             beam_args: Optional[List[str]] = None) -> tfx.dsl.Pipeline:
    return tfx.dsl.Pipeline(
        pipeline_name=config.name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_args if beam_args is not None else config.beam_args),
    )
