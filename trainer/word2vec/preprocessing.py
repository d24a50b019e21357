"""The Transform component's `preprocessing_fn` for word2vec.

One shared vocabulary over the `train` split, computed by tf.Transform: frequency-ranked,
words seen fewer than `min_count` times dropped, at most `max_size` words, and a single
OOV bucket (id = vocabulary size) for everything else. The vocabulary file is written
with `store_frequency=True`, so each line is `<count> <word>`: the Trainer reads the
counts back from the transform graph's assets for subsampling and the unigram^0.75
negative sampler (`read_vocabulary`).

Settings come from the Transform's `custom_config`: {"min_count": 5, "max_size": null}.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from trainer.contract import IDS_KEY, TOKENS_KEY, WORDS_VOCAB

VOCAB_NAME = WORDS_VOCAB
DEFAULT_MIN_COUNT = 5


def vocabulary_settings(custom_config: Optional[Dict[str, Any]]) -> Tuple[int, Optional[int]]:
    cfg = dict(custom_config or {})
    unknown = set(cfg) - {"min_count", "max_size"}
    if unknown:
        raise ValueError(f"text Transform custom_config: unknown keys {sorted(unknown)}")
    min_count = int(cfg.get("min_count") or DEFAULT_MIN_COUNT)
    max_size = cfg.get("max_size")
    if min_count < 1 or (max_size is not None and int(max_size) < 2):
        raise ValueError(f"text Transform: need min_count >= 1 and max_size >= 2, got "
                         f"min_count={min_count} max_size={max_size}")
    return min_count, (int(max_size) if max_size is not None else None)


def preprocessing_fn(inputs, custom_config=None):
    min_count, max_size = vocabulary_settings(custom_config)
    ids = tft.compute_and_apply_vocabulary(
        inputs[TOKENS_KEY], top_k=max_size, frequency_threshold=min_count,
        num_oov_buckets=1, vocab_filename=VOCAB_NAME, store_frequency=True)
    return {IDS_KEY: ids}


def parse_vocabulary_file(path: str) -> Tuple[List[str], np.ndarray]:
    """(words, counts) from a `<count> <word>` vocabulary file, in id order."""
    words: List[str] = []
    counts: List[int] = []
    with tf.io.gfile.GFile(path, "rb") as f:
        for line_no, raw in enumerate(f, 1):
            line = raw.decode("utf-8").rstrip("\n")
            if not line:
                continue
            count, sep, word = line.partition(" ")
            if not sep or not word:
                raise ValueError(f"{path}: line {line_no}: expected '<count> <word>'")
            counts.append(int(float(count)))
            words.append(word)
    if len(words) < 2:
        raise ValueError(f"{path}: vocabulary has {len(words)} word(s); the corpus is too "
                         f"small for the min_count/max_size settings")
    return words, np.asarray(counts, dtype=np.int64)


def read_vocabulary(tft_output: tft.TFTransformOutput) -> Tuple[str, List[str], np.ndarray]:
    """(vocabulary file path, words, counts) of the Transform's vocabulary."""
    path = tft_output.vocabulary_file_by_name(VOCAB_NAME)
    words, counts = parse_vocabulary_file(path)
    return path, words, counts
