"""Exports a trained image classifier as a SavedModel that TF Serving and TFMA can call.

Signatures (all return `class_ids` int64 [N] and `probabilities` float32 [N, classes]):
- `serving_default(examples: string[N])`: serialized tf.Examples in the raw ExampleGen
  format; what TF Serving's classify/predict-on-Example clients and TFMA call.
- `serving_images(images: uint8[N, H, W] or [N, H, W, C])`: raw pixels, so a REST client
  can send an image without building a tf.Example.
Both run the Transform graph embedded in the model, so training/serving skew is impossible.
Models of folder corpora also return `class_names` (string [N]): the names the pipeline
passed in the Trainer's config (the class folder list, id order), not anything learned
from the data, so every id has its name even if a class never appeared in training.
"""
from __future__ import annotations

from typing import Optional, Sequence

import tensorflow as tf
import tensorflow_transform as tft

from trainer.contract import (EXAMPLES_INPUT, IMAGE_KEY, LABEL_KEY, LABEL_NAME_KEY,
                               SERVING_DEFAULT, SERVING_IMAGES)


def image_signature_shape(image_shape: Sequence[int]):
    """uint8 input shape of the raw-image signature: [N, H, W] for grey, else [N, H, W, C]."""
    h, w, c = image_shape
    return [None, h, w] if c == 1 else [None, h, w, c]


def build_signatures(model: tf.keras.Model, tft_output: tft.TFTransformOutput,
                     image_shape: Sequence[int], class_names: Optional[Sequence[str]] = None):
    """`class_names`: name of class id i at position i (None: no `class_names` output)."""
    # Tracked on the model so the Transform's tables/assets are saved with it (TFT #237).
    model.tft_layer = tft_output.transform_features_layer()
    raw_spec = tft_output.raw_feature_spec()
    # Callers send images, not answers: neither the label nor its name is required.
    raw_spec.pop(LABEL_KEY, None)
    raw_spec.pop(LABEL_NAME_KEY, None)
    shape = list(image_shape)
    flat = int(shape[0] * shape[1] * shape[2])
    names = list(class_names) if class_names else None
    if names is not None:
        if len(names) != int(model.output_shape[-1]):
            raise ValueError(f"{len(names)} class names for a model of "
                             f"{model.output_shape[-1]} classes")
        model.class_name_table = tf.Variable(names, trainable=False, name="class_names")

    # One trace of the model for both signatures: each signature calls this function
    # with the same input signature, so its concrete function is reused.
    pixels_spec = tft_output.transformed_feature_spec()[IMAGE_KEY]

    @tf.function(input_signature=[tf.TensorSpec([None, *pixels_spec.shape], pixels_spec.dtype)])
    def predict(pixels):
        images = tf.reshape(pixels, [-1] + shape)
        logits = tf.cast(model(images, training=False), tf.float32)
        probabilities = tf.nn.softmax(logits, axis=-1)
        class_ids = tf.argmax(probabilities, axis=-1)
        out = {"class_ids": class_ids, "probabilities": probabilities}
        if names is not None:
            out["class_names"] = tf.gather(model.class_name_table, class_ids)
        return out

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=EXAMPLES_INPUT)])
    def serve_examples(serialized):
        features = tf.io.parse_example(serialized, raw_spec)
        return predict(model.tft_layer(features)[IMAGE_KEY])

    @tf.function(input_signature=[
        tf.TensorSpec(image_signature_shape(image_shape), tf.uint8, name="images")])
    def serve_images(images):
        pixels = tf.reshape(tf.cast(images, tf.int64), [-1, flat])
        return predict(model.tft_layer({IMAGE_KEY: pixels})[IMAGE_KEY])

    return {
        SERVING_DEFAULT: serve_examples.get_concrete_function(),
        SERVING_IMAGES: serve_images.get_concrete_function(),
    }


def export_classifier(model: tf.keras.Model, tft_output: tft.TFTransformOutput,
                      export_dir: str, image_shape: Sequence[int],
                      class_names: Optional[Sequence[str]] = None) -> str:
    """The model is the SavedModel's root object (so its checkpoint is the model's own
    object graph, which warm starts read back: trainer/warm_start.py). Keras' `save_traces`
    is off: it would trace every layer's call for reviving layers without their code,
    which nothing here does (TF Serving, TFMA and the checks call the signatures), and for
    deep models that is most of the export's time and of every later load's."""
    signatures = build_signatures(model, tft_output, image_shape, class_names)
    model.save(export_dir, save_format="tf", signatures=signatures, save_traces=False,
               include_optimizer=False)
    return export_dir
