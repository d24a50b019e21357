"""Language models: LSTM and GRU next-word models (PTB-style) on a text corpus. Its
config, pipeline factory and report section; `TASK` is its row of the task table
(pipelines/tasks.py)."""
from pipelines.lm import config, pipeline, report
from pipelines.task import Task
from trainer.lm import specs

TASK = Task(name=specs.TASK, corpora=("text",),
            config_class=config.LanguageModelPipelineConfig, models=specs.MODELS,
            create_pipeline=pipeline.create_pipeline, read_metrics=report.read_metrics,
            describe_metrics=report.describe_metrics, report_section=report.section)
