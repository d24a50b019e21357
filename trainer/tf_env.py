"""The one place that fixes the TensorFlow environment for every process of this project.

TFX 1.16's Transform and model analysis build on Keras 2 (`tf_keras`), so `tf.keras` must
mean Keras 2 everywhere: the CLI, the components TFX runs, Beam workers and the tests.
The variable is read when TensorFlow first resolves `tf.keras`, so this module is imported
by every package's `__init__` before anything imports TensorFlow.
"""
import os
import sys
import warnings

os.environ["TF_USE_LEGACY_KERAS"] = "1"
# TensorFlow's C++ log lines drown the pipeline's own output; the CUDA plugin lines
# printed at import ("Unable to register cuDNN factory") are ERROR severity, so only 3
# (FATAL only) silences them. Real failures still surface as Python exceptions;
# `classics --verbose` sets 0 before TensorFlow is imported (pipelines/console.py).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Google client libraries (pulled in by TFX) warn about Python 3.10 on every import.
warnings.filterwarnings("ignore", category=FutureWarning, module=r"google\..*")

if "tensorflow" in sys.modules and "keras.src" in sys.modules and "tf_keras" not in sys.modules:
    # Keras 3 was already bound to tf.keras by an earlier import; say so, loudly.
    warnings.warn(
        "TensorFlow was imported with Keras 3 before tfx-classics set TF_USE_LEGACY_KERAS=1; "
        "import tfx-classics first (or export TF_USE_LEGACY_KERAS=1).",
        RuntimeWarning,
        stacklevel=2,
    )
