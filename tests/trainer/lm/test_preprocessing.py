"""The LM vocabulary Transform: reserved `<unk>`/`<eos>` ids, `<eos>` per chunk, the cap."""
import os

import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from trainer.contract import IDS_KEY, TOKENS_KEY
from trainer.lm import preprocessing as lp

SPEC = {TOKENS_KEY: tf.io.VarLenFeature(tf.string)}


def run_transform(rows, tmp_path, custom_config):
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(SPEC))
    out = str(tmp_path / "transform_fn")
    with tft_beam.Context(temp_dir=str(tmp_path / "tmp")):
        (transformed, meta), transform_fn = (
            ([{TOKENS_KEY: r} for r in rows], metadata)
            | tft_beam.AnalyzeAndTransformDataset(
                lambda inputs: lp.preprocessing_fn(inputs, custom_config)))
        _ = transform_fn | tft_beam.WriteTransformFn(out)
    return transformed, meta, tft.TFTransformOutput(out)


def test_reserved_ids_eos_per_chunk_and_cap(tmp_path):
    # Frequencies: a 5, b 4, c 3, d 2 (+ a literal <unk> twice and one <eos>).
    rows = [["a", "b", "a", "c", "<unk>"], ["a", "b", "d", "c"], ["b", "a", "c", "d"],
            ["a", "b", "<unk>", "<eos>"]]
    transformed, meta, out = run_transform(rows, tmp_path, {"max_size": 5})
    path, words = lp.read_vocabulary(out)
    # Cap 5 = the two reserved tokens + the three most frequent words; the corpus'
    # own <unk>/<eos> are not counted as words (no duplicates).
    assert words == ["<unk>", "<eos>", "a", "b", "c"]
    assert os.path.basename(path).startswith(lp.VOCAB_NAME)
    ids = [list(r[IDS_KEY]) for r in transformed]
    assert ids == [[2, 3, 2, 4, 0, 1],   # literal <unk> -> 0, <eos> appended
                   [2, 3, 0, 4, 1],      # "d" is beyond the cap -> <unk>
                   [3, 2, 4, 0, 1],
                   [2, 3, 0, 1, 1]]      # a literal <eos> maps to the <eos> id
    # The output is a var-len int64 feature the Trainer parses as `ids`.
    spec = schema_utils.schema_as_feature_spec(meta.schema).feature_spec
    assert spec[IDS_KEY].dtype == tf.int64


def test_min_count_and_defaults(tmp_path):
    rows = [["x", "x", "y"], ["x", "z", "y"]]
    transformed, _, out = run_transform(rows, tmp_path, {"min_count": 2})
    _, words = lp.read_vocabulary(out)
    assert words == ["<unk>", "<eos>", "x", "y"]  # z seen once
    assert [list(r[IDS_KEY]) for r in transformed] == [[2, 2, 3, 1], [2, 0, 3, 1]]
    assert lp.vocabulary_settings(None) == (lp.DEFAULT_MAX_SIZE, lp.DEFAULT_MIN_COUNT)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="unknown keys"):
        lp.vocabulary_settings({"vocab_size": 100})
    with pytest.raises(ValueError, match="max_size >= 3"):
        lp.vocabulary_settings({"max_size": 2})
    with pytest.raises(ValueError, match="integers"):
        lp.vocabulary_settings({"max_size": 10.5})


def test_vocabulary_file_layout_is_checked(tmp_path):
    p = tmp_path / "v"
    p.write_text("the\n<unk>\n<eos>\n")
    with pytest.raises(ValueError, match="starts with"):
        lp.parse_vocabulary_file(str(p))
    p.write_text("<unk>\n<eos>\n")
    with pytest.raises(ValueError, match="no word besides"):
        lp.parse_vocabulary_file(str(p))
    p.write_text("<unk>\n<eos>\nthe\ncat\n")
    assert lp.parse_vocabulary_file(str(p)) == ["<unk>", "<eos>", "the", "cat"]
