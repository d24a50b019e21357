"""Training-time augmentation for colour corpora (CIFAR-style): the "standard" scheme of
He et al. 2015 / Lin et al. 2013 -- pad 4 pixels on each side, crop a random HxW window
back out, and flip horizontally with probability 1/2.

For the TRAINING input pipeline only (never eval or serving), and only for colour natural
images: a mirrored digit is a different glyph, so greyscale digit corpora skip it.

Everything works on whole batches [N, H, W, C] with an independent crop offset and flip
per image, so it is cheap inside `tf.data.Dataset.map` after `.batch()`:

    ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)   # fresh randomness per batch
    ds = augment_dataset(ds, seed=42)                              # reproducible per batch

`seed=None` uses TensorFlow's stateful RNG (new draws every call; reproducible under
`tf.keras.utils.set_random_seed`); an int or a shape-[2] integer tensor uses stateless
ops, so the same seed gives the same augmentation (pass a different seed per batch:
`augment_dataset` does that).
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

import tensorflow as tf

PAD = 4
Seed = Union[None, int, tf.Tensor, Tuple[int, int]]


def _seed_pair(seed) -> tf.Tensor:
    if isinstance(seed, int):
        return tf.constant([seed, 0], tf.int64)
    return tf.cast(tf.reshape(seed, [2]), tf.int64)


def _uniform_int(shape, maxval: int, seed) -> tf.Tensor:
    """Integers in [0, maxval) (stateless when `seed` is given)."""
    if seed is None:
        return tf.random.uniform(shape, 0, maxval, dtype=tf.int32)
    return tf.random.stateless_uniform(shape, seed=seed, minval=0, maxval=maxval,
                                       dtype=tf.int32)


def random_crop(images: tf.Tensor, pad: int = PAD, seed: Seed = None) -> tf.Tensor:
    """Zero-pads each image by `pad` on every side and crops an HxW window at an
    independent random offset in [0, 2*pad] x [0, 2*pad] per image."""
    images = tf.convert_to_tensor(images)
    shape = tf.shape(images)
    n, h, w = shape[0], shape[1], shape[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    if seed is None:
        sy = sx = None
    else:
        sy, sx = tf.unstack(tf.random.experimental.stateless_split(_seed_pair(seed), 2))
    dy = _uniform_int([n], 2 * pad + 1, sy)
    dx = _uniform_int([n], 2 * pad + 1, sx)
    rows = dy[:, None] + tf.range(h)[None, :]  # [N, H]
    cols = dx[:, None] + tf.range(w)[None, :]  # [N, W]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)    # [N, H, W + 2 pad, C]
    out = tf.gather(out, cols, axis=2, batch_dims=1)       # [N, H, W, C]
    out.set_shape(images.shape)
    return out


def random_flip(images: tf.Tensor, seed: Seed = None) -> tf.Tensor:
    """Mirrors each image left-right with probability 1/2, independently per image."""
    images = tf.convert_to_tensor(images)
    flip = _uniform_int([tf.shape(images)[0]], 2, None if seed is None else _seed_pair(seed))
    flip = tf.cast(flip, tf.bool)[:, None, None, None]
    return tf.where(flip, tf.reverse(images, axis=[2]), images)


def augment(images: tf.Tensor, labels: tf.Tensor, seed: Seed = None
            ) -> Tuple[tf.Tensor, tf.Tensor]:
    """Random pad-4 crop and horizontal flip of a batch; labels pass through unchanged."""
    if seed is None:
        crop_seed = flip_seed = None
    else:
        crop_seed, flip_seed = tf.unstack(
            tf.random.experimental.stateless_split(_seed_pair(seed), 2))
    images = random_crop(images, PAD, crop_seed)
    return random_flip(images, flip_seed), labels


def augment_dataset(ds: tf.data.Dataset, seed: Optional[int] = None) -> tf.data.Dataset:
    """Applies `augment` to a batched (images, labels) dataset; with `seed`, every batch
    gets its own stateless seed drawn from a seeded stream, so runs are reproducible."""
    if seed is None:
        return ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    seeds = tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)
    return tf.data.Dataset.zip((ds, seeds)).map(
        lambda batch, s: augment(batch[0], batch[1], seed=s),
        num_parallel_calls=tf.data.AUTOTUNE)
