"""ServabilityCheck: a Kubeflow-compilable stand-in for InfraValidator.

TFX's InfraValidator cannot be compiled by the Kubeflow V2 runner, so this component
does the part of its job that needs no model server: it loads the candidate SavedModel
the way TF Serving does (`tf.saved_model.load`, by signature), runs the serving signature
on a few real eval examples, checks the outputs are finite and well-shaped, and then
stamps a copy of the model with TF Serving warm-up requests
(`assets.extra/tf_serving_warmup_requests`, PredictionLog records built from the same
examples). Like InfraValidator with `make_warmup`, its `InfraBlessing` output carries
that stamped model, and the stock Pusher pushes it from there.
"""
# No `from __future__ import annotations`: @component reads the annotations at runtime.

import os
from typing import List

import tensorflow as tf
from absl import logging
from tensorflow_serving.apis import prediction_log_pb2
from tfx import v1 as tfx

from trainer.contract import EXAMPLES_INPUT, SERVING_DEFAULT
from trainer.serving.warmup import warmup_log, write_warmup

STAMPED_MODEL_DIR = "stamped_model"  # where Pusher looks in an InfraBlessing (path_utils)


class ServabilityError(RuntimeError):
    pass


def read_eval_examples(examples_uri: str, split: str, count: int) -> List[bytes]:
    files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    if not files:
        raise ServabilityError(f"{examples_uri}: no files in split {split!r}")
    ds = tf.data.TFRecordDataset(sorted(files), compression_type="GZIP").take(count)
    return [r.numpy() for r in ds]


def check_signature(model_dir: str, signature: str, serialized: List[bytes]) -> dict:
    """Calls `signature` on the examples; raises ServabilityError on anything unservable."""
    try:
        loaded = tf.saved_model.load(model_dir)
    except Exception as e:  # pylint: disable=broad-except
        raise ServabilityError(f"{model_dir}: SavedModel does not load: {e}") from e
    if signature not in loaded.signatures:
        raise ServabilityError(f"{model_dir}: no signature {signature!r} "
                               f"(has {sorted(loaded.signatures)})")
    fn = loaded.signatures[signature]
    inputs = fn.structured_input_signature[1]
    if list(inputs) != [EXAMPLES_INPUT] or inputs[EXAMPLES_INPUT].dtype != tf.string:
        raise ServabilityError(f"{model_dir}: {signature!r} must take one string input "
                               f"{EXAMPLES_INPUT!r}, takes {inputs}")
    try:
        outputs = fn(**{EXAMPLES_INPUT: tf.constant(serialized)})
    except Exception as e:  # pylint: disable=broad-except
        raise ServabilityError(f"{model_dir}: {signature!r} failed on eval examples: {e}") from e
    for name, value in outputs.items():
        if value.shape[0] != len(serialized):
            raise ServabilityError(f"{model_dir}: output {name!r} has batch {value.shape[0]}, "
                                   f"expected {len(serialized)}")
        if value.dtype.is_floating and not bool(tf.reduce_all(tf.math.is_finite(value))):
            raise ServabilityError(f"{model_dir}: output {name!r} is not finite")
    return {k: v.numpy() for k, v in outputs.items()}


def stamp_model(model_dir: str, stamped_dir: str, log: prediction_log_pb2.PredictionLog,
                ) -> str:
    """Copies the SavedModel and writes the warm-up TFRecord into its assets.extra/."""
    tmp = stamped_dir + ".tmp"
    if tf.io.gfile.exists(tmp):
        tf.io.gfile.rmtree(tmp)
    for src_dir, _, files in tf.io.gfile.walk(model_dir):
        rel = os.path.relpath(src_dir, model_dir)
        dst_dir = os.path.join(tmp, rel) if rel != "." else tmp
        tf.io.gfile.makedirs(dst_dir)
        for f in files:
            tf.io.gfile.copy(os.path.join(src_dir, f), os.path.join(dst_dir, f), overwrite=True)
    write_warmup(tmp, [log])
    tf.io.gfile.rename(tmp, stamped_dir, overwrite=True)
    return stamped_dir


@tfx.dsl.components.component
def ServabilityCheck(
    model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
    examples: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Examples],
    blessing: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.InfraBlessing],
    serving_model_name: tfx.dsl.components.Parameter[str],
    signature_name: tfx.dsl.components.Parameter[str] = SERVING_DEFAULT,
    num_examples: tfx.dsl.components.Parameter[int] = 8,
    split: tfx.dsl.components.Parameter[str] = "eval",
) -> None:
    """Blesses the model for serving only if its signature answers on real eval examples."""
    model_dir = os.path.join(model.uri, "Format-Serving")
    if not tf.io.gfile.exists(model_dir):
        model_dir = model.uri
    try:
        serialized = read_eval_examples(examples.uri, split, num_examples)
        check_signature(model_dir, signature_name, serialized)
        stamp_model(model_dir, os.path.join(blessing.uri, STAMPED_MODEL_DIR),
                    warmup_log(serving_model_name, signature_name, serialized))
    except ServabilityError as e:
        logging.error("ServabilityCheck: NOT blessed: %s", e)
        blessing.set_int_custom_property("blessed", 0)
        blessing.set_int_custom_property("has_model", 0)
        blessing.set_string_custom_property("reason", str(e))
        return
    logging.info("ServabilityCheck: %s answered %d eval examples; warm-up written",
                 signature_name, len(serialized))
    blessing.set_int_custom_property("blessed", 1)
    blessing.set_int_custom_property("has_model", 1)  # Pusher pushes the stamped copy
