"""A Trainer's config dataclass from its custom_config dict."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Type, TypeVar

T = TypeVar("T")


def from_dict(cls: Type[T], values: Mapping[str, Any], what: str) -> T:
    """`cls(**values)`, refusing unknown keys, so a misspelt setting can never fall back to
    a default silently."""
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"{what}: unknown keys {sorted(unknown)}; known keys are "
                         f"{sorted(known)}")
    return cls(**dict(values))
