"""The fake task: a line fitted to points in a CSV file."""
from pipelines.fake import config, pipeline
from pipelines.task import Task
from trainer.fake import specs
from components.fake import evaluator

TASK = Task(name=specs.TASK, corpora=("points",), config_class=config.LineConfig,
            models=specs.MODELS, create_pipeline=pipeline.create_pipeline,
            read_metrics=evaluator.read_metrics,
            describe_metrics=lambda m: f"error {m.get('error', float('nan')):.3f}")
