"""The one pipeline factory for image classification.

ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform, then for every
selected model its own branch: Trainer -> Evaluator (against the version TF Serving
serves now, see components/serving_baseline.py) -> ServabilityCheck -> Pusher into
`<serving_root>/<corpus>_<model>/<version>/`. Local and
Kubeflow runs both call `create_pipeline`; only the runner differs. The nodes shared with
the other tasks live in pipelines/nodes.py.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from components.servability_check import ServabilityCheck
from components.serving_baseline import Evaluator
from pipelines import nodes
from pipelines.config import ImagePipelineConfig
from trainer import registry
from trainer.contract import LABEL_KEY, SERVING_DEFAULT

PREPROCESSING_FN = "trainer.image.preprocessing.preprocessing_fn"
RUN_FN = "trainer.image.run.run_fn"
ACCURACY = "sparse_categorical_accuracy"


def eval_config(min_accuracy: float, max_accuracy_drop: float) -> tfma.EvalConfig:
    """Accuracy must clear an absolute bar and must not fall below the served model's."""
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name=SERVING_DEFAULT, label_key=LABEL_KEY,
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
                        # Ignored when no model is in service (the first run).
                        change_threshold=tfma.GenericChangeThreshold(
                            direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                            absolute={"value": -max(max_accuracy_drop, 1e-10)})))]),
            # Counts of (true class, top predicted class), for the run report.
            tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
        ])])


def create_pipeline(config: ImagePipelineConfig, data_dir: str,
                    metadata_connection_config=None,
                    beam_args: Optional[List[str]] = None,
                    trainer_resources=None) -> tfx.dsl.Pipeline:
    """The pipeline for `config`. `trainer_resources` (nodes.trainer's `resources`) is set on every
    Trainer when compiling for Kubeflow; local runs leave it None."""
    corpus = config.image_corpus().for_data(data_dir)
    specs = registry.resolve(config.models, tasks=[registry.IMAGE])
    example_gen = corpus.make_example_gen(data_dir)
    components = nodes.data_components(example_gen, PREPROCESSING_FN,
                                       transform_statistics=config.transform_statistics)
    schema_gen, transform = components[2], components[4]

    for spec in specs:
        ids = nodes.node_ids(spec.name)
        trainer = nodes.trainer(spec.name, RUN_FN, schema_gen, transform,
                                config.trainer_config(spec.name, corpus), trainer_resources)
        baseline = nodes.serving_baseline(config, spec.name)
        evaluator = Evaluator(
            examples=example_gen.outputs["examples"],
            model=trainer.outputs["model"],
            baseline_model=baseline.outputs["model"],
            eval_config=eval_config(config.min_accuracy_for(spec.name),
                                    config.max_accuracy_drop),
        ).with_id(ids["evaluator"])
        # Loads the SavedModel as TF Serving would, calls it on eval examples and stamps
        # a copy with warm-up requests; the Pusher pushes that stamped copy.
        servability = ServabilityCheck(
            model=trainer.outputs["model"], examples=example_gen.outputs["examples"],
            serving_model_name=config.serving_model_name(spec.name),
        ).with_id(ids["servability"])
        pusher = nodes.pusher(config, spec.name,
                              model_blessing=evaluator.outputs["blessing"],
                              infra_blessing=servability.outputs["blessing"])
        components += [trainer, baseline, evaluator, servability, pusher]

    return nodes.pipeline(config, components, metadata_connection_config, beam_args)


def read_metrics(evaluation_uri: str) -> Dict[str, float]:
    """Overall (unsliced) metrics of an Evaluator's ModelEvaluation artifact:
    `accuracy`, and `baseline_accuracy` / `accuracy_change` when there was a baseline."""
    out: Dict[str, float] = {}
    for slice_metrics in tfma.load_metrics(evaluation_uri):
        if slice_metrics.slice_key.single_slice_keys:
            continue
        for kv in slice_metrics.metric_keys_and_values:
            if kv.key.name != ACCURACY:
                continue
            value = kv.value.double_value.value
            if kv.key.is_diff:
                out["accuracy_change"] = value
            elif kv.key.model_name == "baseline":  # TFMA's name for the baseline model
                out["baseline_accuracy"] = value
            else:
                out["accuracy"] = value
    return out


def describe_metrics(metrics: Dict[str, float]) -> str:
    acc = metrics.get("accuracy")
    return f"eval accuracy {acc:.4f}" if acc is not None else "eval accuracy n/a"
