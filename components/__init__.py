"""Custom TFX components and the file readers they use.

Shared by every task: the ExampleGens (IDX, CIFAR-10 binary, image folders, text) with
their format readers (*_format.py, image_folder.py, text_corpora.py) and dataset
downloads (datasets.py); ServingBaseline (the served model as the baseline, and the
Evaluator that ignores an empty one); ServabilityCheck; the Trainer whose step runs a
Kubeflow TFJob of many workers (tfjob_trainer.py; the job's spec and client: tfjob.py).
Each task's own evaluation is its subpackage: image/ (TFMA config), word2vec/ and lm/
(their evaluators). Bad input raises input_errors.InputFileError, which names the file.

Layering: components may import trainer (the data contract, model code); never pipelines.
"""
from trainer import tf_env  # noqa: F401  (must run before TensorFlow is imported)
