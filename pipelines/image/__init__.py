"""Image classification: MNIST IDX, CIFAR-10 binary and image folders, classified by
softmax regression, the LeNet-style CNN, Network-in-Network, Inception, ResNet and
Highway networks. Its config, corpora, pipeline factory and report section; `TASK` is
its row of the task table (pipelines/tasks.py)."""
from pipelines.image import config, pipeline, report
from pipelines.task import Task
from trainer.image import specs

TASK = Task(name=specs.TASK, corpora=("mnist", "cifar10", "folder"),
            config_class=config.ImagePipelineConfig, models=specs.MODELS,
            create_pipeline=pipeline.create_pipeline, read_metrics=report.read_metrics,
            describe_metrics=report.describe_metrics, report_section=report.section)
