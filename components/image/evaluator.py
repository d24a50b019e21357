"""The image classifiers' evaluation: TFMA's Evaluator (components/serving_baseline.py)
with this config, and its figures read back.

Accuracy must clear an absolute bar and must not fall below the served model's; per-class
slices and a confusion matrix are computed for the run report, not gated.
"""
from __future__ import annotations

from typing import Dict

import tensorflow_model_analysis as tfma

from trainer.contract import LABEL_KEY, SERVING_DEFAULT

ACCURACY = "sparse_categorical_accuracy"
BASELINE = "baseline"  # TFMA's model name for the baseline model


def eval_config(min_accuracy: float, max_accuracy_drop: float) -> tfma.EvalConfig:
    return tfma.EvalConfig(
        # The export's signatures are the contract (TF Serving calls them too). Named as
        # TF_GENERIC, TFMA calls them without first trying to rebuild each model (and
        # the baseline) as Keras from the SavedModel.
        model_specs=[tfma.ModelSpec(signature_name=SERVING_DEFAULT, label_key=LABEL_KEY,
                                    prediction_key="probabilities",
                                    model_type=tfma.TF_GENERIC)],
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
            elif kv.key.model_name == BASELINE:
                out["baseline_accuracy"] = value
            else:
                out["accuracy"] = value
    return out
