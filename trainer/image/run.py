"""The Trainer's `run_fn` for image classifiers (referenced as `trainer.image.run.run_fn`)."""
from __future__ import annotations

from tfx.components.trainer.fn_args_utils import FnArgs

from trainer.image.train import train


def run_fn(fn_args: FnArgs) -> None:
    train(fn_args)
