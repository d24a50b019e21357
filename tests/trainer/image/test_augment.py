"""Training augmentation: pad-4 random crop (a translation of the padded image) and random
horizontal flip, per image, on batches, deterministic for a fixed seed."""
import numpy as np
import pytest
import tensorflow as tf

from trainer.image import augment as aug

H, W, C, PAD = 6, 7, 3, aug.PAD


def _images(n=32, seed=0):
    # Distinct random content per pixel (never zero), so every window is unique.
    return np.random.RandomState(seed).uniform(0.1, 1.0, (n, H, W, C)).astype(np.float32)


def _padded(img):
    return np.pad(img, [(PAD, PAD), (PAD, PAD), (0, 0)])


def _offsets(out, img):
    """All (dy, dx) such that `out` is the HxW window of the padded `img` at (dy, dx)."""
    p = _padded(img)
    return [(dy, dx) for dy in range(2 * PAD + 1) for dx in range(2 * PAD + 1)
            if np.array_equal(p[dy:dy + H, dx:dx + W], out)]


def test_augment_preserves_shapes_dtypes_and_labels():
    x, y = _images(), np.arange(32, dtype=np.int64)
    out_x, out_y = aug.augment(x, y, seed=3)
    assert out_x.shape == x.shape and out_x.dtype == tf.float32
    np.testing.assert_array_equal(np.asarray(out_y), y)
    # Inside a tf.data map on batches of unknown size (including a short last batch).
    ds = tf.data.Dataset.from_tensor_slices((x[:10], y[:10])).batch(4).map(aug.augment)
    assert ds.element_spec[0].shape.as_list() == [None, H, W, C]
    assert [b[0].shape[0] for b in ds] == [4, 4, 2]


def test_flip_mirrors_some_images_for_a_fixed_seed():
    x = _images(64)
    out = aug.random_flip(x, seed=7).numpy()
    flipped = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)]
    kept = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(f != k for f, k in zip(flipped, kept))  # each image: exactly one of the two
    assert 10 < sum(flipped) < 54  # about half, independently per image
    np.testing.assert_array_equal(aug.random_flip(x, seed=7).numpy(), out)  # deterministic
    assert not np.array_equal(aug.random_flip(x, seed=8).numpy(), out)


def test_crop_is_a_translation_of_the_padded_image():
    x = _images(32)
    out = aug.random_crop(x, seed=11).numpy()
    offsets = []
    for o, i in zip(out, x):
        found = _offsets(o, i)
        assert len(found) == 1, found
        offsets.append(found[0])
    assert len(set(offsets)) > 5  # independent offsets per image
    assert all(0 <= dy <= 2 * PAD and 0 <= dx <= 2 * PAD for dy, dx in offsets)
    # Shifted windows bring in the zero padding (not wrapped-around pixels).
    assert any(dy != PAD or dx != PAD for dy, dx in offsets)


def test_augment_is_crop_then_flip():
    x, y = _images(32), np.zeros(32, np.int64)
    out = aug.augment(x, y, seed=5)[0].numpy()
    n_flipped = 0
    for o, i in zip(out, x):
        straight, mirrored = _offsets(o, i), _offsets(o[:, ::-1], i)
        assert len(straight) + len(mirrored) == 1
        n_flipped += bool(mirrored)
    assert 0 < n_flipped < 32
    np.testing.assert_array_equal(aug.augment(x, y, seed=5)[0].numpy(), out)


def test_unseeded_calls_draw_fresh_randomness():
    x = _images(16)
    a = aug.augment(x, np.zeros(16))[0].numpy()
    b = aug.augment(x, np.zeros(16))[0].numpy()
    assert not np.array_equal(a, b)


def test_augment_dataset_is_reproducible_and_varies_per_batch():
    x = np.repeat(_images(1), 16, axis=0)  # the same image 16 times
    ds = tf.data.Dataset.from_tensor_slices((x, np.zeros(16, np.int64))).batch(8)
    run1 = [b[0].numpy() for b in aug.augment_dataset(ds, seed=42)]
    run2 = [b[0].numpy() for b in aug.augment_dataset(ds, seed=42)]
    for a, b in zip(run1, run2):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(run1[0], run1[1])  # each batch gets its own seed


@pytest.mark.parametrize("seed", [None, 1])
def test_pixel_values_are_never_invented(seed):
    x = _images(8)
    out = aug.augment(x, np.zeros(8), seed=seed)[0].numpy()
    # Every output pixel is an input pixel of the same image or padding zero.
    for o, i in zip(out, x):
        assert set(np.unique(o)) <= set(np.unique(i)) | {0.0}
