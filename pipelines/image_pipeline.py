"""The one pipeline factory for image classification.

ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform, then for every
selected model its own branch: Trainer -> (latest blessed baseline) Evaluator -> Pusher
into `<serving_root>/<corpus>_<model>/<version>/`. Local and Kubeflow runs both call
`create_pipeline`; only the runner differs.
"""
from __future__ import annotations

import os
from typing import List, Optional

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from components.servability_check import ServabilityCheck
from pipelines.config import PipelineConfig
from trainer import registry
from trainer.features import LABEL_KEY

PREPROCESSING_FN = "trainer.preprocessing.preprocessing_fn"
RUN_FN = "trainer.run.run_fn"
ACCURACY = "sparse_categorical_accuracy"


def eval_config(min_accuracy: float, max_accuracy_drop: float) -> tfma.EvalConfig:
    """Accuracy must clear an absolute bar and must not fall below the blessed baseline."""
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", label_key=LABEL_KEY,
                                    prediction_key="probabilities")],
        slicing_specs=[tfma.SlicingSpec(),  # overall
                       tfma.SlicingSpec(feature_keys=[LABEL_KEY])],  # per class
        metrics_specs=[tfma.MetricsSpec(metrics=[
            tfma.MetricConfig(class_name="ExampleCount"),
            tfma.MetricConfig(
                class_name="SparseCategoricalAccuracy",
                # Gate on the overall slice only; per-class slices are reported, not gated.
                per_slice_thresholds=[tfma.PerSliceMetricThreshold(
                    slicing_specs=[tfma.SlicingSpec()],
                    threshold=tfma.MetricThreshold(
                        value_threshold=tfma.GenericValueThreshold(
                            lower_bound={"value": min_accuracy}),
                        # Ignored on the first run, when there is no blessed baseline yet.
                        change_threshold=tfma.GenericChangeThreshold(
                            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                            absolute={"value": -max(max_accuracy_drop, 1e-10)})))]),
        ])])


def node_ids(model: str) -> dict:
    return {"trainer": f"Trainer.{model}", "baseline": f"LatestBlessed.{model}",
            "evaluator": f"Evaluator.{model}", "servability": f"ServabilityCheck.{model}",
            "pusher": f"Pusher.{model}"}


def create_pipeline(config: PipelineConfig, data_dir: str,
                    metadata_connection_config=None,
                    beam_args: Optional[List[str]] = None,
                    trainer_resources=None) -> tfx.dsl.Pipeline:
    """The pipeline for `config`. `trainer_resources` (a KFP ResourceSpec) is set on every
    Trainer when compiling for Kubeflow; local runs leave it None."""
    resources = trainer_resources
    corpus = config.image_corpus().for_data(data_dir)
    specs = registry.resolve(config.models)

    example_gen = corpus.make_example_gen(data_dir)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN)
    components = [example_gen, statistics_gen, schema_gen, example_validator, transform]

    for spec in specs:
        ids = node_ids(spec.name)
        custom_config = {"model": spec.name, "image_shape": list(corpus.image_shape),
                         "num_classes": corpus.num_classes,
                         "mixed_precision": config.mixed_precision}
        if config.epochs:
            custom_config["epochs"] = config.epochs
        if config.batch_size:
            custom_config["batch_size"] = config.batch_size
        trainer = tfx.components.Trainer(
            run_fn=RUN_FN,
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            schema=schema_gen.outputs["schema"],
            custom_config=custom_config).with_id(ids["trainer"])
        # Baseline = the latest model of *this* Trainer that *this* Evaluator blessed;
        # channels keyed by producer so one model never baselines against another.
        baseline = tfx.dsl.Resolver(
            strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
            model=tfx.dsl.Channel(type=standard_artifacts.Model,
                                  producer_component_id=ids["trainer"], output_key="model"),
            model_blessing=tfx.dsl.Channel(type=standard_artifacts.ModelBlessing,
                                           producer_component_id=ids["evaluator"],
                                           output_key="blessing"),
        ).with_id(ids["baseline"])
        min_accuracy = config.min_accuracy if config.min_accuracy is not None \
            else spec.min_accuracy
        evaluator = tfx.components.Evaluator(
            examples=example_gen.outputs["examples"],
            model=trainer.outputs["model"],
            baseline_model=baseline.outputs["model"],
            eval_config=eval_config(min_accuracy, config.max_accuracy_drop),
        ).with_id(ids["evaluator"])
        # Loads the SavedModel as TF Serving would, calls it on eval examples and stamps
        # a copy with warm-up requests; the Pusher pushes that stamped copy.
        servability = ServabilityCheck(
            model=trainer.outputs["model"], examples=example_gen.outputs["examples"],
            serving_model_name=config.serving_model_name(spec.name),
        ).with_id(ids["servability"])
        pusher = tfx.components.Pusher(
            model_blessing=evaluator.outputs["blessing"],
            infra_blessing=servability.outputs["blessing"],
            push_destination=tfx.proto.PushDestination(
                filesystem=tfx.proto.PushDestination.Filesystem(
                    base_directory=os.path.join(config.serving_root,
                                                config.serving_model_name(spec.name)))),
        ).with_id(ids["pusher"])
        if resources is not None:
            trainer.with_platform_config(resources)
        components += [trainer, baseline, evaluator, servability, pusher]

    return tfx.dsl.Pipeline(
        pipeline_name=config.name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_args if beam_args is not None else config.beam_args),
    )
