"""Pipelines: what runs, in which order, where.

The task table (tasks.py) names every task with its config class (config.py) and its
pipeline factory (image_pipeline.py, word2vec_pipeline.py); nodes.py holds the nodes they
share, corpora.py the image corpora. local_runner.py and kubeflow_runner.py run or compile
any task's pipeline (kfp_compat.py: what open-source KFP needs in the compiled IR); report.py reads runs back from ML Metadata (with their lineage);
report_page.py writes a run's HTML report from them, with report_kit.py (figures, gate
checks) and each task's section (image_report.py, word2vec_report.py); progress.py and
console.py decide what the terminal shows; cli.py is `classics`.

Layering: pipelines may import components and trainer; nothing imports pipelines.
"""
from trainer import tf_env  # noqa: F401  (must run before TensorFlow is imported)
