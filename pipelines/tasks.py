"""The task table: what `classics run <corpus>` can run, and how.

Each task (image classification, word embeddings, language model) is one package on this
floor whose `__init__.py` defines its `TASK` row (pipelines/task.py): the corpora it
reads, its config class, its registry entries, its pipeline factory, how its evaluation
reads back and its section of the HTML run report. Adding a task = one subpackage per
floor plus its line in `TASK_PACKAGES`. The CLI, the local and Kubeflow runners and the
reports go through this table; only a task's own package branches on its corpora or
settings. Which task runs is decided by the models asked for (their registry entries name
the task), else by the corpus's first task; the chosen config's `check()` checks the
model names.
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Dict, List, Optional, Sequence

from pipelines.config import PipelineConfig
from pipelines.task import Task
from trainer.registry import Registry

TASK_PACKAGES = (
    "pipelines.image",
    "pipelines.word2vec",
    "pipelines.lm",
)

TASKS: Dict[str, Task] = {}
for _package in TASK_PACKAGES:
    _task = importlib.import_module(_package).TASK
    TASKS[_task.name] = _task

# The one model registry: every task's entries, in table order.
MODELS = Registry(spec for task in TASKS.values() for spec in task.models.values())


def corpora() -> List[str]:
    """Every `classics run` target, in table order."""
    seen: List[str] = []
    for task in TASKS.values():
        seen += [c for c in task.corpora if c not in seen]
    return seen


def tasks_for_corpus(corpus: str) -> List[Task]:
    found = [t for t in TASKS.values() if corpus in t.corpora]
    if not found:
        raise KeyError(f"unknown corpus {corpus!r}; known: {', '.join(corpora())}")
    return found


def select(corpus: str, models: Optional[Sequence[str]] = None) -> Task:
    """The task that runs `models` on `corpus` (the corpus's first task when no models are
    named)."""
    candidates = tasks_for_corpus(corpus)
    if not models:
        return candidates[0]
    specs = MODELS.resolve(models, tasks=[t.name for t in candidates])
    return TASKS[specs[0].task]


def of_config(config: PipelineConfig) -> Task:
    return TASKS[config.task]


def of_model(model: str) -> Task:
    return TASKS[MODELS.get(model).task]


def make_config(corpus: str, models: Optional[Sequence[str]] = None,
                **settings) -> PipelineConfig:
    """A checked config for `classics run <corpus> --models ...`; `settings` are fields of
    the task's config class (unknown ones are an error)."""
    task = select(corpus, models)
    fields = {f.name for f in dataclasses.fields(task.config_class)}
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise ValueError(f"{task.name} pipelines have no setting(s) {', '.join(unknown)}")
    config = task.config_class(corpus=corpus, **settings)
    if models:
        config.models = list(models)
    config.check()
    return config
