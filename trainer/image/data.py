"""tf.data input pipelines over the Transform component's output (gzipped TFRecords)."""
from __future__ import annotations

from typing import Optional, Sequence

import tensorflow as tf
import tensorflow_transform as tft

from trainer.image import augment as augment_lib
from trainer.contract import IMAGE_KEY, LABEL_KEY
from trainer.example_files import match_files

_PARSE_BATCH = 1024


def count_examples(file_patterns: Sequence[str]) -> int:
    """Records in the files, read but not parsed: training parses them once, into its
    cache, and needs the count before that (steps per epoch of a repeated dataset)."""
    ds = tf.data.TFRecordDataset(match_files(file_patterns), compression_type="GZIP",
                                 num_parallel_reads=tf.data.AUTOTUNE)
    return int(ds.batch(_PARSE_BATCH).reduce(
        tf.constant(0, tf.int64), lambda n, batch: n + tf.size(batch, out_type=tf.int64)))


def image_dataset(file_patterns: Sequence[str], tft_output: tft.TFTransformOutput,
                  image_shape: Sequence[int], batch_size: int, shuffle: bool,
                  seed: int = 0, input_context: Optional[tf.distribute.InputContext] = None,
                  augment: bool = False) -> tf.data.Dataset:
    """(image [H, W, C] float32, label int64) batches, cached in memory after one pass.

    Parsing is vectorised (parse a block of records at once, then unbatch), and the parsed
    tensors are cached so later epochs cost what an in-memory `model.fit` costs.
    `augment` (training only) applies random pad-crop + flip to colour images after the
    cache, so every epoch sees fresh crops; grey digits are never mirrored.
    """
    feature_spec = tft_output.transformed_feature_spec()
    files = match_files(file_patterns)
    ds = tf.data.Dataset.from_tensor_slices(files)
    shards = input_context.num_input_pipelines if input_context else 1
    shard_id = input_context.input_pipeline_id if input_context else 0
    # Each worker reads its own share: whole files when there are enough, else records.
    shard_files = 1 < shards <= len(files)
    if shard_files:
        ds = ds.shard(shards, shard_id)
    ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    shape = list(image_shape)

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, feature_spec)
        images = tf.reshape(parsed[IMAGE_KEY], [-1] + shape)
        return images, tf.reshape(parsed[LABEL_KEY], [-1])

    if shards > 1 and not shard_files:
        ds = ds.shard(shards, shard_id)
    ds = ds.batch(_PARSE_BATCH).map(parse, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(50_000, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if augment and shape[-1] == 3:
        ds = ds.map(lambda x, y: augment_lib.augment(x, y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE).with_options(_without_autotune_thread())


def _without_autotune_thread() -> tf.data.Options:
    """Options that keep tf.data's autotuning thread from starting. Destroying an
    iterator can miss that thread's cancellation in TF 2.16 and then waits out its sleep,
    which doubles up to a minute as training goes on: `fit` destroys its iterators as it
    returns, so it ended with 0-60 s of nothing at random. Without the thread, AUTOTUNE
    still means one parallel call per core (where autotuning starts) and prefetch still
    sizes its own buffer."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options
