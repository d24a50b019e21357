"""The pipeline factory for word vectors (word2vec skip-gram / CBOW).

TextExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform (one shared
vocabulary with counts), then for every selected model its own branch: Trainer ->
Word2VecEvaluator (against the version TF Serving serves now) -> Pusher into
`<serving_root>/text_<model>/<version>/`.
Node ids follow nodes.node_ids, so the report reads this run like every other.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional

from tfx import v1 as tfx

from components import word2vec_evaluator
from pipelines import nodes
from pipelines.config import TextPipelineConfig
from trainer import registry

PREPROCESSING_FN = "trainer.word2vec.preprocessing.preprocessing_fn"
RUN_FN = "trainer.word2vec.run.run_fn"


def create_pipeline(config: TextPipelineConfig, data_dir: str,
                    metadata_connection_config=None,
                    beam_args: Optional[List[str]] = None,
                    trainer_resources=None) -> tfx.dsl.Pipeline:
    """`trainer_resources` (nodes.trainer's `resources`) is set on every Trainer when compiling for
    Kubeflow; local runs leave it None."""
    registry.resolve(config.models, tasks=[registry.WORD2VEC])
    data = nodes.text_data(config, data_dir, PREPROCESSING_FN,
                           {"min_count": config.min_count, "max_size": config.max_vocab_size})
    components = list(data)
    for model in config.models:
        def evaluator(examples, candidate, baseline, model=model):
            return word2vec_evaluator.Word2VecEvaluator(
                examples=examples, model=candidate, baseline_model=baseline,
                thresholds=config.evaluator_thresholds(model),
                max_eval_tokens=config.max_eval_tokens)
        components += nodes.gated_branch(config, model, RUN_FN, data, evaluator,
                                         trainer_resources)

    return nodes.pipeline(config, components, metadata_connection_config, beam_args)


def read_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The candidate's scores from a Word2VecEvaluator's evaluation artifact."""
    return dict(word2vec_evaluator.read_metrics(evaluation_uri)["candidate"])


def describe_metrics(metrics: Dict[str, float]) -> str:
    if not metrics:
        return "no scores"
    fmt = lambda key, spec: (format(metrics[key], spec)  # noqa: E731
                             if isinstance(metrics.get(key), float)
                             and not math.isnan(metrics[key]) else "n/a")
    return (f"WS353 rho {fmt('ws353_spearman', '.3f')} (OOV {fmt('ws353_oov_rate', '.0%')}), "
            f"analogy {fmt('analogy_accuracy', '.3f')} (coverage "
            f"{fmt('analogy_coverage', '.0%')}), held-out loss {fmt('heldout_loss', '.3f')}")
