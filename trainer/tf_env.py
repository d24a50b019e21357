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


# Libraries whose code AutoGraph must leave as written: `tf_keras` is tf.keras up to
# TF 2.15 (`keras`), which TensorFlow's own rules skip, under the name TF_USE_LEGACY_KERAS
# gives it, which they miss; tf.Transform's layer code is graph-mode code from TF 1.
AUTOGRAPH_SKIPS = ("tf_keras", "tensorflow_transform")


def keep_autograph_out_of_libraries() -> None:
    """Makes AutoGraph run `AUTOGRAPH_SKIPS`' code as it is. Without this a Trainer's first
    `fit` converts some 160 Keras functions (train_step, Layer.__call__, losses, metrics,
    the optimizer) from source, ~13 s of a 2-core CPU for a small CNN before its first
    step, and the first export converts the Transform layer's (~1.5 s). The models' own
    layers are still converted. Imports TensorFlow; idempotent."""
    from tensorflow.python.autograph.core import config, config_lib

    for library in AUTOGRAPH_SKIPS:
        if not any(isinstance(rule, config_lib.DoNotConvert) and rule.matches(library)
                   for rule in config.CONVERSION_RULES):
            config.CONVERSION_RULES = (*config.CONVERSION_RULES,
                                       config_lib.DoNotConvert(library))
