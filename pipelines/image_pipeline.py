"""The one pipeline factory for image classification.

ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform, then for every
selected model its own branch: Trainer -> (latest blessed baseline) Evaluator ->
ServabilityCheck -> Pusher into `<serving_root>/<corpus>_<model>/<version>/`. Local and
Kubeflow runs both call `create_pipeline`; only the runner differs. The pieces shared with
the text pipeline live in pipelines/common.py.
"""
from __future__ import annotations

from typing import List, Optional

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.servability_check import ServabilityCheck
from pipelines import common
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


def create_pipeline(config: PipelineConfig, data_dir: str,
                    metadata_connection_config=None,
                    beam_args: Optional[List[str]] = None,
                    trainer_resources=None) -> tfx.dsl.Pipeline:
    """The pipeline for `config`. `trainer_resources` (a KFP ResourceSpec) is set on every
    Trainer when compiling for Kubeflow; local runs leave it None."""
    corpus = config.image_corpus().for_data(data_dir)
    specs = registry.resolve(config.models)
    example_gen = corpus.make_example_gen(data_dir)
    components = common.data_components(example_gen, PREPROCESSING_FN)
    schema_gen, transform = components[2], components[4]

    for spec in specs:
        ids = common.node_ids(spec.name)
        custom_config = {"model": spec.name, "image_shape": list(corpus.image_shape),
                         "num_classes": corpus.num_classes,
                         "mixed_precision": config.mixed_precision}
        if config.epochs:
            custom_config["epochs"] = config.epochs
        if config.batch_size:
            custom_config["batch_size"] = config.batch_size
        trainer = common.trainer(spec.name, RUN_FN, schema_gen, transform, custom_config,
                                 trainer_resources)
        baseline = common.latest_blessed_baseline(spec.name)
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
        pusher = common.pusher(config, spec.name,
                               model_blessing=evaluator.outputs["blessing"],
                               infra_blessing=servability.outputs["blessing"])
        components += [trainer, baseline, evaluator, servability, pusher]

    return common.pipeline(config, components, metadata_connection_config, beam_args)
