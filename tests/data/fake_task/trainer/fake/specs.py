"""The fake task's one registry entry."""
import dataclasses
from typing import ClassVar, Dict

from trainer.registry import ModelSpec

TASK = "fake"


@dataclasses.dataclass(frozen=True, kw_only=True)
class LineSpec(ModelSpec):
    task: ClassVar[str] = TASK
    epochs: int
    max_error: float  # the evaluator's bar on |f(3) - 7|


MODELS: Dict[str, LineSpec] = {"line": LineSpec(
    name="line", description="y = a x + b, fitted by SGD", epochs=60, max_error=0.5)}
