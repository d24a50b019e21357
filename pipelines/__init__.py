"""Pipelines: what runs, in which order, where.

The task table (tasks.py) names every task with its config class (config.py) and its
pipeline factory (image_pipeline.py, word2vec_pipeline.py); nodes.py holds the nodes they
share, corpora.py the image corpora. local_runner.py and kubeflow_runner.py run or compile
any task's pipeline; report.py reads a run back from ML Metadata; cli.py is `classics`.

Layering: pipelines may import components and trainer; nothing imports pipelines.
"""
from trainer import tf_env  # noqa: F401  (must run before TensorFlow is imported)
