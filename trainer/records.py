"""What every task's Trainer shares about its inputs and its configuration.

- `match_files`: the transformed-example files behind a Trainer's file patterns, in a
  stable order, or an error naming the patterns;
- `from_dict`: a config dataclass from a custom_config dict, refusing unknown keys, so a
  misspelt setting can never fall back to a default silently.
"""
from __future__ import annotations

import dataclasses
from typing import Any, List, Mapping, Sequence, Type, TypeVar, Union

import tensorflow as tf

T = TypeVar("T")


def match_files(patterns: Union[str, Sequence[str]]) -> List[str]:
    if isinstance(patterns, str):
        patterns = [patterns]
    files: List[str] = []
    for pattern in patterns:
        files.extend(sorted(tf.io.gfile.glob(pattern)))
    if not files:
        raise FileNotFoundError(f"no transformed example files match {list(patterns)}")
    return files


def from_dict(cls: Type[T], values: Mapping[str, Any], what: str) -> T:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{what}: unknown keys {sorted(unknown)}; known keys are "
                         f"{sorted(known)}")
    return cls(**dict(values))
