"""The transformed-example files behind a Trainer's file patterns, in a stable order."""
from __future__ import annotations

from typing import List, Sequence, Union

import tensorflow as tf


def match_files(patterns: Union[str, Sequence[str]]) -> List[str]:
    """Every file the patterns match, sorted per pattern, or an error naming the patterns."""
    if isinstance(patterns, str):
        patterns = [patterns]
    files: List[str] = []
    for pattern in patterns:
        files.extend(sorted(tf.io.gfile.glob(pattern)))
    if not files:
        raise FileNotFoundError(f"no transformed example files match {list(patterns)}")
    return files
