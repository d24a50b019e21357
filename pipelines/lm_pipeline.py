"""The pipeline factory for recurrent language models (LSTM / GRU).

TextExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform (one
vocabulary capped at `vocab_size` with `<unk>` and `<eos>`, trainer/lm/preprocessing.py),
then for every selected model its own branch: Trainer -> ServingBaseline ->
LanguageModelEvaluator (perplexity gate) -> Pusher into
`<serving_root>/text_<model>/<version>/`.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional

from tfx import v1 as tfx

from components import lm_evaluator
from pipelines import nodes
from pipelines.config import LanguageModelPipelineConfig
from trainer import registry

PREPROCESSING_FN = "trainer.lm.preprocessing.preprocessing_fn"
RUN_FN = "trainer.lm.run.run_fn"


def create_pipeline(config: LanguageModelPipelineConfig, data_dir: str,
                    metadata_connection_config=None,
                    beam_args: Optional[List[str]] = None,
                    trainer_resources=None) -> tfx.dsl.Pipeline:
    """`trainer_resources` (nodes.trainer's `resources`) is set on every Trainer when compiling for
    Kubeflow; local runs leave it None."""
    registry.resolve(config.models, tasks=[registry.LANGUAGE_MODEL])
    data = nodes.text_data(config, data_dir, PREPROCESSING_FN, config.transform_config())
    components = list(data)
    for model in config.models:
        def evaluator(examples, candidate, baseline, model=model):
            return lm_evaluator.LanguageModelEvaluator(
                examples=examples, model=candidate, baseline_model=baseline,
                thresholds=config.evaluator_thresholds(model),
                max_eval_tokens=config.max_eval_tokens)
        components += nodes.gated_branch(config, model, RUN_FN, data, evaluator,
                                         trainer_resources)

    return nodes.pipeline(config, components, metadata_connection_config, beam_args)


def read_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The candidate's perplexity (and the baseline's, when there was one)."""
    scores = lm_evaluator.read_scores(evaluation_uri)
    out = dict(scores["candidate"])
    if scores.get("baseline"):
        out["baseline_perplexity"] = scores["baseline"]["perplexity"]
    return out


def describe_metrics(metrics: Dict[str, float]) -> str:
    ppl = metrics.get("perplexity")
    if not isinstance(ppl, float) or math.isnan(ppl):
        return "no perplexity"
    text = f"eval perplexity {ppl:.1f}"
    if "baseline_perplexity" in metrics:
        text += f" (served model {metrics['baseline_perplexity']:.1f})"
    return text
