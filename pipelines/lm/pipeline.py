"""The pipeline factory for recurrent language models (LSTM / GRU).

TextExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform (one
vocabulary capped at `vocab_size` with `<unk>` and `<eos>`, trainer/lm/preprocessing.py),
then for every selected model its gated branch (pipelines/nodes.py): Trainer ->
LanguageModelEvaluator (perplexity, against the version TF Serving serves now) -> Pusher
into `<serving_root>/text_<model>/<version>/`.
"""
from __future__ import annotations

from typing import List, Optional

from tfx import v1 as tfx

from components.lm.evaluator import LanguageModelEvaluator
from pipelines import nodes
from pipelines.lm.config import LanguageModelPipelineConfig

PREPROCESSING_FN = "trainer.lm.preprocessing.preprocessing_fn"
RUN_FN = "trainer.lm.run.run_fn"


def create_pipeline(config: LanguageModelPipelineConfig, data_dir: str,
                    metadata_connection_config=None,
                    beam_args: Optional[List[str]] = None,
                    trainer_resources=None) -> tfx.dsl.Pipeline:
    """As pipelines/image/pipeline.py's, over a text corpus."""
    return nodes.gated_pipeline(
        config, nodes.text_data(config, data_dir, PREPROCESSING_FN), RUN_FN,
        nodes.text_evaluator(config, LanguageModelEvaluator), metadata_connection_config,
        beam_args, trainer_resources, servability_check=True)
