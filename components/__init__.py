"""Custom TFX components and the file-format readers they use."""
from trainer import tf_env  # noqa: F401  (must run before TensorFlow is imported)
