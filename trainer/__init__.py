"""Training side of tfx-classics: the model registry, run_fn, preprocessing_fn, exports."""
from trainer import tf_env  # noqa: F401  (must run before TensorFlow is imported)
