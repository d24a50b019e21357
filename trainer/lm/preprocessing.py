"""The Transform component's `preprocessing_fn` for the language models, and its reader.

Vocabulary layout (fixed, so every model and client agrees without reading counts):
- id 0 = `<unk>`: every word outside the vocabulary maps here (also a literal `<unk>`
  token, which PTB's pre-processed text is full of);
- id 1 = `<eos>`: appended to every chunk (one chunk = one PTB line, or one piece of a
  longer document), the end-of-sentence token of PTB's word stream;
- ids 2.. = the most frequent other words of the `train` split, most frequent first,
  at most `max_size - 2` of them, so the whole vocabulary is at most `max_size` entries
  (PTB's 10,000 includes `<unk>` and `<eos>`).
The two reserved tokens are tf.Transform's `reserved_tokens`: written at the top of the
vocabulary file whether or not the corpus contains them, and never counted among the
frequent words, so they are never duplicated. The vocabulary file (`lm_words`) holds one
word per line; line number = id.

Settings come from the Transform's `custom_config`:
{"max_size": 10000, "min_count": 1}  (min_count: words seen fewer times are `<unk>`).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Tuple

import tensorflow as tf
import tensorflow_transform as tft

from trainer.contract import IDS_KEY, TOKENS_KEY

VOCAB_NAME = "lm_words"
UNK = "<unk>"
EOS = "<eos>"
UNK_ID = 0
EOS_ID = 1
RESERVED_TOKENS = (UNK, EOS)  # in id order
DEFAULT_MAX_SIZE = 10_000
DEFAULT_MIN_COUNT = 1
SETTINGS = ("max_size", "min_count")


def vocabulary_settings(custom_config: Optional[Mapping[str, Any]]) -> Tuple[int, int]:
    """(max_size, min_count) from the Transform's custom_config, validated."""
    cfg = dict(custom_config or {})
    unknown = set(cfg) - set(SETTINGS)
    if unknown:
        raise ValueError(f"LM Transform custom_config: unknown keys {sorted(unknown)}; "
                         f"known keys are {list(SETTINGS)}")
    max_size = cfg.get("max_size")
    max_size = DEFAULT_MAX_SIZE if max_size is None else max_size
    min_count = cfg.get("min_count")
    min_count = DEFAULT_MIN_COUNT if min_count is None else min_count
    if isinstance(max_size, bool) or isinstance(min_count, bool) or \
            int(max_size) != max_size or int(min_count) != min_count:
        raise ValueError(f"LM Transform: max_size and min_count must be integers, got "
                         f"max_size={max_size!r} min_count={min_count!r}")
    if max_size < len(RESERVED_TOKENS) + 1 or min_count < 1:
        raise ValueError(f"LM Transform: need max_size >= {len(RESERVED_TOKENS) + 1} "
                         f"(room for {list(RESERVED_TOKENS)} and a word) and "
                         f"min_count >= 1, got max_size={max_size} min_count={min_count}")
    return int(max_size), int(min_count)


def _as_ragged(tokens) -> tf.RaggedTensor:
    if isinstance(tokens, tf.SparseTensor):
        return tf.RaggedTensor.from_sparse(tokens)
    if isinstance(tokens, tf.RaggedTensor):
        return tokens
    tokens = tf.convert_to_tensor(tokens)
    if tokens.shape.rank == 1:  # one token per example
        tokens = tokens[:, None]
    return tf.RaggedTensor.from_tensor(tokens)


def with_eos(tokens) -> tf.RaggedTensor:
    """[batch, None] tokens with `<eos>` appended to every row."""
    ragged = _as_ragged(tokens)
    eos = tf.fill(tf.stack([ragged.nrows(), tf.constant(1, ragged.row_splits.dtype)]), EOS)
    eos = tf.RaggedTensor.from_tensor(eos, row_splits_dtype=ragged.row_splits.dtype)
    return tf.concat([ragged, eos], axis=1)


def preprocessing_fn(inputs: Dict[str, Any], custom_config: Optional[Mapping[str, Any]] = None
                     ) -> Dict[str, tf.SparseTensor]:
    """{"ids": int64 var-len [batch, None]}: each chunk's ids followed by EOS_ID."""
    max_size, min_count = vocabulary_settings(custom_config)
    tokens = with_eos(inputs[TOKENS_KEY])
    # The reserved tokens are taken out before counting: tf.Transform applies top_k
    # before it sets reserved tokens aside, so a frequent `<eos>` would otherwise use up
    # a word's slot under the cap.
    is_word = tf.ragged.map_flat_values(
        lambda t: tf.reduce_all(tf.stack([tf.not_equal(t, r) for r in RESERVED_TOKENS]),
                                axis=0), tokens)
    vocab = tft.vocabulary(
        tf.ragged.boolean_mask(tokens, is_word), top_k=max_size - len(RESERVED_TOKENS),
        frequency_threshold=min_count if min_count > 1 else None,
        vocab_filename=VOCAB_NAME, reserved_tokens=list(RESERVED_TOKENS))
    # Literal `<unk>` / `<eos>` tokens find their reserved lines; other unknown words
    # get the `<unk>` id.
    ids = tft.apply_vocabulary(tokens, vocab, default_value=UNK_ID, num_oov_buckets=0)
    # Sparse output: the transformed schema gets a plain VarLenFeature.
    return {IDS_KEY: ids.to_sparse()}


def parse_vocabulary_file(path: str) -> List[str]:
    """The words of an `lm_words` vocabulary file, in id order, layout checked."""
    words: List[str] = []
    with tf.io.gfile.GFile(path, "rb") as f:
        for raw in f:
            word = raw.decode("utf-8").rstrip("\n")
            words.append(word)
    if tuple(words[:len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
        raise ValueError(f"{path}: an LM vocabulary starts with {list(RESERVED_TOKENS)}, "
                         f"found {words[:len(RESERVED_TOKENS)]}")
    if len(words) <= len(RESERVED_TOKENS):
        raise ValueError(f"{path}: the vocabulary holds no word besides "
                         f"{list(RESERVED_TOKENS)}; the corpus is too small for the "
                         f"min_count setting")
    if len(set(words)) != len(words):
        raise ValueError(f"{path}: duplicate entries in the vocabulary")
    return words


def read_vocabulary(tft_output: tft.TFTransformOutput) -> Tuple[str, List[str]]:
    """(vocabulary file path, words in id order) of the Transform's `lm_words`."""
    path = tft_output.vocabulary_file_by_name(VOCAB_NAME)
    return path, parse_vocabulary_file(path)


__all__ = ["preprocessing_fn", "read_vocabulary", "parse_vocabulary_file",
           "vocabulary_settings", "with_eos", "VOCAB_NAME", "UNK", "EOS", "UNK_ID",
           "EOS_ID", "RESERVED_TOKENS", "DEFAULT_MAX_SIZE", "DEFAULT_MIN_COUNT"]
