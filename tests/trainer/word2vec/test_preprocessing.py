"""The vocabulary Transform: frequency ranking, min count, max size, OOV bucket, counts."""
import os

import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from trainer.word2vec import preprocessing as tp

SPEC = {"tokens": tf.io.VarLenFeature(tf.string)}


def run_transform(rows, tmp_path, custom_config):
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(SPEC))
    out = str(tmp_path / "transform_fn")
    with tft_beam.Context(temp_dir=str(tmp_path / "tmp")):
        (transformed, _), transform_fn = (
            ([{"tokens": r} for r in rows], metadata)
            | tft_beam.AnalyzeAndTransformDataset(
                lambda inputs: tp.preprocessing_fn(inputs, custom_config)))
        _ = transform_fn | tft_beam.WriteTransformFn(out)
    return transformed, tft.TFTransformOutput(out)


def test_vocabulary_with_counts_min_count_and_oov_bucket(tmp_path):
    rows = [["the", "cat", "the", "dog"], ["the", "cat", "rare"], ["dog", "the", "cat"]]
    transformed, out = run_transform(rows, tmp_path, {"min_count": 2})
    path, words, counts = tp.read_vocabulary(out)
    assert words == ["the", "cat", "dog"] and counts.tolist() == [4, 3, 2]
    assert os.path.basename(path).startswith(tp.VOCAB_NAME)
    ids = [list(r[tp.IDS_KEY]) for r in transformed]
    assert ids == [[0, 1, 0, 2], [0, 1, 3], [2, 0, 1]]  # "rare" -> OOV bucket id 3


def test_max_size_keeps_the_most_frequent(tmp_path):
    rows = [["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2]
    _, out = run_transform(rows, tmp_path, {"min_count": 1, "max_size": 2})
    _, words, counts = tp.read_vocabulary(out)
    assert words == ["a", "b"] and counts.tolist() == [5, 4]


def test_settings_are_validated():
    assert tp.vocabulary_settings(None) == (tp.DEFAULT_MIN_COUNT, None)
    with pytest.raises(ValueError, match="unknown keys"):
        tp.vocabulary_settings({"min_freq": 3})
    with pytest.raises(ValueError, match="max_size >= 2"):
        tp.vocabulary_settings({"max_size": 1})


def test_too_small_vocabulary_file_is_an_error(tmp_path):
    p = tmp_path / "v"
    p.write_text("7 only\n")
    with pytest.raises(ValueError, match="vocabulary has 1 word"):
        tp.parse_vocabulary_file(str(p))
    p.write_text("7 a\nbroken\n")
    with pytest.raises(ValueError, match="line 2"):
        tp.parse_vocabulary_file(str(p))
