"""Pipelines: what runs, in which order, where.

The task table (tasks.py) lists one package per task: image/ (image classification),
word2vec/ (word embeddings) and lm/ (language models), each with its config, pipeline
factory, report section and its `TASK` row (task.py). Shared at this level: config.py
(what every run's config holds, the local Beam modes), nodes.py (the data half and the
gated branch every factory builds), runners/ (LocalDagRunner; the Kubeflow compile and
submit), report/ (runs read back from ML Metadata, the HTML report), progress.py and
console.py (what the terminal shows) and cli.py (`classics`).

Layering: pipelines may import components and trainer; nothing imports pipelines.
"""
from trainer import tf_env  # noqa: F401  (must run before TensorFlow is imported)
