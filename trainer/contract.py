"""The data contract: every name that crosses a component boundary, and the example builders.

ExampleGens write tf.Examples with these keys, Transform and the Trainers read them, the
exports answer under these signature names, and the report reads these file names. Change
a name here and every side changes with it.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np
import tensorflow as tf

# ------------------------------------------------------------------- raw example features
IMAGE_KEY = "image"  # int64 list of H*W*C pixel values 0-255, row-major HWC
LABEL_KEY = "label"  # int64 class id
# Image-folder corpora also carry the class folder name; class id i is the i-th name of
# sorted(class folder names), the same for every split.
LABEL_NAME_KEY = "label_name"
TOKENS_KEY = "tokens"  # text: one chunk of tokens (bytes list)
DOC_KEY = "doc"  # text: the document a chunk came from
CHUNK_KEY = "chunk"  # text: the chunk's index within its document
SOURCE_KEY = "source"  # text: the file a chunk came from

# ---------------------------------------------------------------- transformed features
IDS_KEY = "ids"  # text: token ids under the Transform vocabulary
WORDS_VOCAB = "words"  # text: Transform vocabulary name (`<count> <word>` lines)

# ------------------------------------------------------------------ serving signatures
SERVING_DEFAULT = "serving_default"
SERVING_IMAGES = "serving_images"  # image classifiers: uint8 pixels in
EXAMPLES_INPUT = "examples"  # serving_default's input: serialized raw tf.Examples
EMBED_SIGNATURE = "embed"  # word2vec: words -> vectors
NEAREST_SIGNATURE = "nearest"  # word2vec: words, k -> neighbours
NEXT_WORDS_SIGNATURE = "next_words"  # language models: prefix, k -> next words

# -------------------------------------------------------------------- files in outputs
STATS_FILE = "training_stats.json"  # in a Trainer's model_run: what training measured
KERAS_FILE = "keras_model.keras"  # in a Trainer's model_run: the Keras model itself
# In an ExampleGen's Examples artifact (image folders): what was skipped and why.
SKIPPED_FILES_FILE = "skipped_files.txt"
SKIPPED_FILES_PROPERTY = "skipped_files"
CLASS_NAMES_PROPERTY = "class_names"


def _int64s(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def _bytes(values: Sequence[str]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(
        value=[v.encode("utf-8") for v in values]))


def image_example(image: np.ndarray, label: int,
                  label_name: Optional[str] = None) -> tf.train.Example:
    """An image record: pixels (any shape, flattened row-major), label, optional class name.

    Filled in place: building Feature messages first and passing them in copies every
    pixel list twice more (the same bytes, ~20% slower). Whole ranges of images without
    class names are built faster by image_examples."""
    example = tf.train.Example()
    feature = example.features.feature
    feature[IMAGE_KEY].int64_list.value.extend(np.asarray(image).reshape(-1).tolist())
    feature[LABEL_KEY].int64_list.value.append(int(label))
    if label_name is not None:
        feature[LABEL_NAME_KEY].bytes_list.value.append(label_name.encode("utf-8"))
    return example


def _encode(message: str, fields: Sequence[str], values: Sequence[tf.Tensor]) -> tf.Tensor:
    """One `message` per row, each field given once per row (singular or a full list)."""
    n = int(values[0].shape[0])
    sizes = tf.stack([tf.fill([n], tf.shape(v)[1]) for v in values], axis=1)
    return tf.reshape(tf.io.encode_proto(sizes, list(values), list(fields), message), [n, 1])


def image_examples(images: np.ndarray, labels: Sequence[int]) -> List[bytes]:
    """Serialized image records for a whole range at once: the bytes of
    serialize(image_example(image, label)) for every row, built by TensorFlow's
    encode_proto outside Python's lock (the ExampleGens' writer threads then use every
    core) and ~3x faster than filling each proto from a Python list. Map entries go in
    key order, as deterministic serialization writes them (tests/trainer/test_contract.py)."""
    n = len(labels)
    if n == 0:
        return []
    pixels = tf.constant(np.asarray(images).reshape(n, -1), tf.int64)
    label_ids = tf.constant(np.asarray(labels, np.int64).reshape(n, 1))
    entries = []
    for key, values in sorted({IMAGE_KEY: pixels, LABEL_KEY: label_ids}.items()):
        int64_list = _encode("tensorflow.Int64List", ["value"], [values])
        feature = _encode("tensorflow.Feature", ["int64_list"], [int64_list])
        entries.append(_encode("tensorflow.Features.FeatureEntry", ["key", "value"],
                               [tf.fill([n, 1], key), feature]))
    features = _encode("tensorflow.Features", ["feature"], [tf.concat(entries, axis=1)])
    return _encode("tensorflow.Example", ["features"], [features])[:, 0].numpy().tolist()


def text_example(tokens: Sequence[str], doc: str, chunk: int, source: str) -> tf.train.Example:
    """A text record: one chunk of tokens with where it came from."""
    return tf.train.Example(features=tf.train.Features(feature={
        TOKENS_KEY: _bytes(tokens), DOC_KEY: _bytes([doc]),
        CHUNK_KEY: _int64s([int(chunk)]), SOURCE_KEY: _bytes([source])}))


def serialize(example: tf.train.Example) -> bytes:
    """Deterministic bytes, so hash splits and written files do not depend on map order."""
    return example.SerializeToString(deterministic=True)
