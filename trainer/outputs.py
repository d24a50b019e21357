"""Where a Trainer replica writes, and the training stats every task's Trainer keeps."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Any, Dict, Iterator, Tuple

import absl.logging
import tensorflow as tf

from trainer import strategy
from trainer.contract import STATS_FILE


@contextlib.contextmanager
def replica_outputs(fn_args) -> Iterator[Tuple[str, str]]:
    """(run_dir, export_dir) this replica writes to. Saving reads distributed variables
    through collectives, so every worker makes the same calls; only the chief's copy lands
    in the Trainer's outputs, the others write to a scratch folder removed afterwards."""
    if strategy.is_chief():
        yield fn_args.model_run_dir, fn_args.serving_model_dir
        return
    scratch = tempfile.mkdtemp(prefix="worker-export-")
    try:
        yield os.path.join(scratch, "run"), os.path.join(scratch, "export")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_stats(fn_args, stats: Dict[str, Any]) -> None:
    """Logs the training stats; the chief also writes them (STATS_FILE) into the run
    folder, where the run report reads them (every worker measured; one copy is kept)."""
    if strategy.is_chief():
        tf.io.gfile.makedirs(fn_args.model_run_dir)
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, STATS_FILE), "w") as f:
            json.dump(stats, f, indent=2)
    absl.logging.info("Training stats: %s", json.dumps(stats))
