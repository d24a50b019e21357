"""Pipeline configuration, the pipeline factories, runners and the `classics` CLI."""
from trainer import tf_env  # noqa: F401  (must run before TensorFlow is imported)
