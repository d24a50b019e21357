"""The pipeline factory for image classification.

ExampleGen (MNIST IDX, CIFAR-10 binary or an image folder) -> StatisticsGen -> SchemaGen
-> ExampleValidator -> Transform, then for every selected model its gated branch
(pipelines/nodes.py): Trainer -> Evaluator (TFMA, against the version TF Serving serves
now) -> ServabilityCheck -> Pusher into `<serving_root>/<corpus>_<model>/<version>/`.
Local and Kubeflow runs both call `create_pipeline`; only the runner differs.
"""
from __future__ import annotations

from typing import List, Optional

from tfx import v1 as tfx

from components.image import evaluator as image_evaluator
from components.serving_baseline import Evaluator
from pipelines import nodes
from pipelines.image.config import ImagePipelineConfig

PREPROCESSING_FN = "trainer.image.preprocessing.preprocessing_fn"
RUN_FN = "trainer.image.run.run_fn"


def create_pipeline(config: ImagePipelineConfig, data_dir: str,
                    metadata_connection_config=None,
                    beam_args: Optional[List[str]] = None,
                    trainer_resources=None) -> tfx.dsl.Pipeline:
    """`trainer_resources` (nodes.trainer's `resources`) is set on every Trainer when
    compiling for Kubeflow; local runs leave it None."""
    corpus = config.image_corpus().for_data(data_dir, config.span)
    data = nodes.data_components(corpus.make_example_gen(data_dir, span=config.span),
                                 PREPROCESSING_FN,
                                 transform_statistics=config.transform_statistics)

    def evaluator(model, examples, candidate, baseline):
        return Evaluator(examples=examples, model=candidate, baseline_model=baseline,
                         eval_config=image_evaluator.eval_config(
                             config.min_accuracy_for(model), config.max_accuracy_drop))

    return nodes.gated_pipeline(
        config, data, RUN_FN, evaluator, metadata_connection_config, beam_args,
        trainer_resources, trainer_config=lambda model: config.trainer_config(model, corpus),
        servability_check=True)
