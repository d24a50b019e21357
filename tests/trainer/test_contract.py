"""trainer/contract.py: the example builders write the records every reader expects."""
import numpy as np
import pytest
import tensorflow as tf

from trainer import contract


def _by_features(image, label, label_name=None):
    """The same record built the long way, from Feature messages."""
    feature = {contract.IMAGE_KEY: tf.train.Feature(int64_list=tf.train.Int64List(
                   value=[int(v) for v in np.asarray(image).reshape(-1)])),
               contract.LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(
                   value=[int(label)]))}
    if label_name is not None:
        feature[contract.LABEL_NAME_KEY] = tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[label_name.encode("utf-8")]))
    return tf.train.Example(features=tf.train.Features(feature=feature))


@pytest.mark.parametrize("shape", [(32, 32, 3), (28, 28), (5, 7, 1)])
def test_image_example_bytes_equal_the_feature_built_record(shape):
    rng = np.random.RandomState(len(shape))
    image = rng.randint(0, 256, size=shape).astype(np.uint8)
    image.flat[:4] = [0, 127, 128, 255]  # varint widths change at 128
    got = contract.serialize(contract.image_example(image, 7))
    assert got == contract.serialize(_by_features(image, 7))
    assert got != contract.serialize(_by_features(image, 6))


@pytest.mark.parametrize("shape", [(32, 32, 3), (28, 28), (1, 1)])
def test_image_examples_are_the_per_record_bytes_for_a_whole_range(shape):
    rng = np.random.RandomState(len(shape))
    images = rng.randint(0, 256, size=(5,) + shape).astype(np.uint8)
    images[0].flat[:1] = 255  # the widest pixel varint
    labels = np.array([0, 9, 3, 1, 255], np.uint8)  # 255: a two-byte label varint
    got = contract.image_examples(images, labels)
    assert got == [contract.serialize(_by_features(i, int(y))) for i, y in zip(images, labels)]
    parsed = tf.io.parse_example(got, {
        contract.IMAGE_KEY: tf.io.FixedLenFeature([int(np.prod(shape))], tf.int64),
        contract.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64)})
    np.testing.assert_array_equal(parsed[contract.IMAGE_KEY].numpy(), images.reshape(5, -1))
    np.testing.assert_array_equal(parsed[contract.LABEL_KEY].numpy(), labels)


def test_image_examples_of_an_empty_range_is_empty():
    assert contract.image_examples(np.zeros([0, 28, 28], np.uint8), np.zeros([0])) == []


def test_image_example_parses_to_pixels_label_and_class_name():
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    record = contract.serialize(contract.image_example(image, 3, label_name="chat"))
    assert record == contract.serialize(_by_features(image, 3, "chat"))
    parsed = tf.io.parse_single_example(record, {
        contract.IMAGE_KEY: tf.io.FixedLenFeature([12], tf.int64),
        contract.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64),
        contract.LABEL_NAME_KEY: tf.io.FixedLenFeature([], tf.string)})
    assert parsed[contract.IMAGE_KEY].numpy().tolist() == list(range(12))
    assert int(parsed[contract.LABEL_KEY]) == 3
    assert parsed[contract.LABEL_NAME_KEY].numpy() == b"chat"


def test_image_example_without_class_name_has_two_features():
    example = contract.image_example(np.zeros([2, 2], np.uint8), 0)
    assert sorted(example.features.feature) == [contract.IMAGE_KEY, contract.LABEL_KEY]
