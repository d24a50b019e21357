"""The pipeline factory for word vectors (word2vec skip-gram / CBOW).

TextExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform (one shared
vocabulary with counts), then for every selected model its gated branch
(pipelines/nodes.py): Trainer -> Word2VecEvaluator (against the version TF Serving serves
now) -> Pusher into `<serving_root>/text_<model>/<version>/`.
"""
from __future__ import annotations

from typing import List, Optional

from tfx import v1 as tfx

from components.word2vec.evaluator import Word2VecEvaluator
from pipelines import nodes
from pipelines.word2vec.config import Word2VecPipelineConfig

PREPROCESSING_FN = "trainer.word2vec.preprocessing.preprocessing_fn"
RUN_FN = "trainer.word2vec.run.run_fn"


def create_pipeline(config: Word2VecPipelineConfig, data_dir: str,
                    metadata_connection_config=None,
                    beam_args: Optional[List[str]] = None,
                    trainer_resources=None) -> tfx.dsl.Pipeline:
    """As pipelines/image/pipeline.py's, over a text corpus."""
    return nodes.gated_pipeline(
        config, nodes.text_data(config, data_dir, PREPROCESSING_FN), RUN_FN,
        nodes.text_evaluator(config, Word2VecEvaluator), metadata_connection_config,
        beam_args, trainer_resources, servability_check=True)
