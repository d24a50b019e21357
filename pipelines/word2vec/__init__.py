"""Word embeddings: word2vec skip-gram and CBOW on a text corpus (text8, PTB, Wikipedia
XML, plain text). Its config, pipeline factory and report section; `TASK` is its row of
the task table (pipelines/tasks.py)."""
from pipelines.task import Task
from pipelines.word2vec import config, pipeline, report
from trainer.word2vec import specs

TASK = Task(name=specs.TASK, corpora=("text",),
            config_class=config.Word2VecPipelineConfig, models=specs.MODELS,
            create_pipeline=pipeline.create_pipeline, read_metrics=report.read_metrics,
            describe_metrics=report.describe_metrics, report_section=report.section)
