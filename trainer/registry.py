"""The model registry base: what every model's entry holds, and looking names up.

Each task keeps its entries in its own package (`trainer/<task>/specs.py`, a `MODELS`
dict of entries of that task's spec class, subclasses of `ModelSpec`); the task table
(pipelines/tasks.py) gathers them into the one `Registry` the command line, the
pipeline configs and the reports read. Adding a model = one file of model code in its
task's package plus one entry in that task's `specs.py`.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, TypeVar

S = TypeVar("S", bound="ModelSpec")

# The distances TFX's DistributionValidator (TFDV's drift comparators) measures.
JENSEN_SHANNON = "jensen_shannon"  # numeric histograms and categorical values
L_INFINITY = "l_infinity"  # categorical values (strings, token frequencies) only
DISTANCES = (JENSEN_SHANNON, L_INFINITY)


@dataclasses.dataclass(frozen=True)
class DriftCheck:
    """One bar of the drift gate: the training data's `feature` may lie at most `bar`
    away (by `distance`) from the data the served version was trained on."""
    feature: str
    distance: str  # one of DISTANCES
    bar: float

    def __post_init__(self):
        if self.distance not in DISTANCES:
            raise ValueError(f"drift check on {self.feature!r}: unknown distance "
                             f"{self.distance!r}; known: {', '.join(DISTANCES)}")
        if not 0.0 < self.bar <= 1.0:
            raise ValueError(f"drift check on {self.feature!r}: the bar must be in (0, 1], "
                             f"got {self.bar}")


# The text tasks' default bar: the largest change of one token's share of the corpus
# (L-infinity over TFDV's top token values); "tokens" is trainer.contract.TOKENS_KEY.
TEXT_DRIFT_CHECKS = (DriftCheck("tokens", L_INFINITY, 0.05),)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ModelSpec:
    """What every model's entry holds; a task's spec class adds its training recipe and
    its evaluator's bars."""
    task: ClassVar[str] = ""  # the task whose pipeline runs the model
    name: str
    description: str
    # On Kubeflow: train on this many TFJob workers (MultiWorkerMirroredStrategy; 1 = the
    # Trainer's own pod) with this many GPUs each (None: the compile's --gpus). Local runs
    # train in one process whatever these say.
    workers: int = 1
    gpus_per_worker: Optional[int] = None
    # The drift gate's bars against the data the served version was trained on
    # (components/drift_gate.py); each task's spec class sets its own default.
    drift_checks: Tuple[DriftCheck, ...] = ()
    # Start training from the served version's weights (`classics run --warm-start`
    # turns it on for every model of a run).
    warm_start: bool = False


def lookup(models: Mapping[str, S], name: str) -> S:
    """`models[name]`, or a KeyError that lists the known names."""
    try:
        return models[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(models)}") from None


class Registry:
    """Every model of every task, by name, in the order the tasks list them."""

    def __init__(self, specs: Iterable[ModelSpec]):
        self.models: Dict[str, ModelSpec] = {}
        for spec in specs:
            if spec.name in self.models:
                raise ValueError(f"model {spec.name!r} is registered twice "
                                 f"({self.models[spec.name].task} and {spec.task})")
            self.models[spec.name] = spec

    def get(self, name: str) -> ModelSpec:
        return lookup(self.models, name)

    def names(self, task: Optional[str] = None) -> List[str]:
        """Model names, all or of one task, in registry order."""
        return [n for n, spec in self.models.items() if task is None or spec.task == task]

    def resolve(self, model_names: Sequence[str],
                tasks: Optional[Sequence[str]] = None) -> List[ModelSpec]:
        """Checks a user's model list (e.g. from --models) in one go, keeping its order:
        every name known, at least one, all of one task (and one of `tasks` when given)."""
        allowed = self.names() if tasks is None else [n for t in tasks for n in self.names(t)]
        unknown = [n for n in model_names if n not in allowed]
        if unknown or not model_names:
            raise KeyError(f"unknown model(s) {', '.join(unknown) or '(none given)'}; "
                           f"known: {', '.join(allowed)}")
        specs = [self.models[n] for n in model_names]
        found = sorted({s.task for s in specs})
        if len(found) > 1:
            raise KeyError(f"models {', '.join(model_names)} belong to different tasks "
                           f"({', '.join(found)}); run each task separately")
        return specs
