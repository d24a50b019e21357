"""Custom TFX components and the file readers they use.

ExampleGens (IDX, CIFAR-10 binary, image folders, text) with their format readers
(*_format.py, image_folder.py, text_corpora.py), dataset downloads (datasets.py),
ServabilityCheck, ServingBaseline (the served model as the baseline, and the Evaluator
that ignores an empty one), the word2vec evaluator, and the Trainer whose step runs a
Kubeflow TFJob of many workers (tfjob_trainer.py; the job's spec and client: tfjob.py).
Bad input raises
input_errors.InputFileError, which names the file.

Layering: components may import trainer (the data contract, model code); never pipelines.
"""
from trainer import tf_env  # noqa: F401  (must run before TensorFlow is imported)
