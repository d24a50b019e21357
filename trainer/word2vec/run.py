"""The Trainer's `run_fn` for word2vec (referenced as `trainer.word2vec.run.run_fn`).

custom_config = the fields of trainer.word2vec.config.Word2VecConfig (model
"skipgram"/"cbow", embedding_dim, window, epochs, batch_size, num_sampled, loss, ...). The
vocabulary and its counts come from the Transform's vocabulary asset
(trainer/word2vec/preprocessing.py). Writes the SavedModel (trainer/word2vec/export.py),
`model_run_dir/training_stats.json`, the projector files and the loss curve for
TensorBoard (`model_run_dir/logs/train`), from the chief only.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

import absl.logging
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from trainer import outputs, strategy as strategy_lib
from trainer.word2vec import evaluation
from trainer.word2vec.config import Word2VecConfig
from trainer.word2vec.data import id_blocks, token_stats
from trainer.word2vec.export import export, write_projector
from trainer.word2vec.model import TrainResult
from trainer.word2vec.preprocessing import read_vocabulary
from trainer.word2vec.train import train as train_vectors, write_loss_curve


def train(fn_args: FnArgs) -> TrainResult:
    cfg = Word2VecConfig.from_dict(dict(fn_args.custom_config or {}))
    tf.keras.utils.set_random_seed(cfg.seed)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    vocab_file, words, counts = read_vocabulary(tft_output)
    vocab_size = len(words)
    strategy = strategy_lib.make_strategy()
    global_batch = cfg.batch_size  # a global batch: replicas split it
    absl.logging.info("word2vec %s on %d replica(s) with %s, global batch %d, vocab %d",
                      cfg.model, strategy.num_replicas_in_sync, type(strategy).__name__,
                      global_batch, vocab_size)
    train_stats = token_stats(id_blocks(fn_args.train_files, 512, False), vocab_size)
    eval_stats = token_stats(id_blocks(fn_args.eval_files, 512, False), vocab_size)
    if train_stats["tokens"] == 0 or eval_stats["tokens"] == 0:
        raise ValueError(f"Trainer: empty split (train={train_stats['tokens']}, "
                         f"eval={eval_stats['tokens']} tokens)")

    def blocks_fn(ctx: Optional[tf.distribute.InputContext]):
        return id_blocks(fn_args.train_files, cfg.sequences_per_block, shuffle=True,
                         seed=cfg.seed, input_context=ctx)

    result = train_vectors(blocks_fn, counts, cfg, strategy, log=absl.logging.info)
    heldout = evaluation.heldout_loss(
        result.model, id_blocks(fn_args.eval_files, cfg.sequences_per_block, False),
        counts, cfg)

    with outputs.replica_outputs(fn_args) as (run_dir, export_dir):
        export(result.model, cfg, vocab_file, words, counts, export_dir)
        write_projector(result.model.vectors(), words, run_dir)
        write_loss_curve(result, cfg.epochs, os.path.join(run_dir, "logs"))

    stats = {
        "model": cfg.model, "strategy": strategy_lib.describe(strategy),
        "replicas": strategy.num_replicas_in_sync, "epochs": cfg.epochs,
        "global_batch_size": global_batch, "vocab_size": vocab_size,
        "train_tokens": train_stats["tokens"],
        "train_oov_rate": train_stats["oov_tokens"] / train_stats["tokens"],
        "eval_tokens": eval_stats["tokens"],
        "eval_oov_rate": eval_stats["oov_tokens"] / eval_stats["tokens"],
        "train_examples": result.examples_per_epoch, "steps": result.steps,
        "fit_seconds": result.seconds, "epoch_seconds": result.epoch_seconds,
        "examples_per_sec": result.examples / max(result.seconds, 1e-9),
        "words_per_sec": train_stats["tokens"] * cfg.epochs / max(result.seconds, 1e-9),
        "final_train_loss": result.losses[-1], **heldout,
        "config": dataclasses.asdict(cfg),
    }
    outputs.write_stats(fn_args, stats)
    return result


def run_fn(fn_args: FnArgs) -> None:
    train(fn_args)

