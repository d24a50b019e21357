"""The TFX Trainer's `run_fn` for the language models (`trainer.lm.run.run_fn`).

custom_config = LMConfig fields (trainer/lm/config.py), optionally on top of a preset:
{"preset": "small", "epochs": 2, "cell": "gru"}. The vocabulary comes from the
Transform's `lm_words` asset (trainer/lm/preprocessing.py); the train/eval id streams
from the transformed examples' `ids` (every chunk already ends with `<eos>`).

Outputs:
- `serving_model_dir`: the serving SavedModel (trainer/lm/export.py);
- `model_run_dir/training_stats.json`: what training measured (per-epoch train/eval
  perplexity, tokens/s, ...), `model_run_dir/keras_model.keras` (the trained model in
  its stateless form: any batch size, every call from a zero state) and
  `model_run_dir/logs/` (TensorBoard scalars).
Only the chief writes them. Every worker exports (under MultiWorkerMirroredStrategy
every worker must make the same calls), the others into a temporary folder they delete.
"""
from __future__ import annotations

import os

import absl.logging
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from trainer import outputs, strategy as strategy_lib
from trainer.contract import KERAS_FILE
from trainer.lm import config as config_lib, data, export, model as model_lib, preprocessing
from trainer.lm import train as train_lib

LOGS_DIR = "logs"


def train(fn_args: FnArgs) -> train_lib.TrainResult:
    cfg = config_lib.from_custom_config(fn_args.custom_config)
    # A multi-worker strategy must exist before any other TensorFlow work in the process.
    strategy = strategy_lib.make_strategy()
    tft_output = tft.TFTransformOutput(fn_args.transform_output)
    vocab_file, words = preprocessing.read_vocabulary(tft_output)
    train_ids = data.read_id_stream(fn_args.train_files)
    eval_ids = data.read_id_stream(fn_args.eval_files)
    absl.logging.info("LM Trainer: vocabulary %d (%s), train %d ids, eval %d ids",
                      len(words), vocab_file, train_ids.size, eval_ids.size)

    with outputs.replica_outputs(fn_args) as (run_dir, export_dir):
        result = train_lib.train(train_ids, eval_ids, len(words), cfg, strategy,
                                 log_dir=os.path.join(run_dir, LOGS_DIR))
        export.export(result.model, cfg, words, export_dir)
        # The Keras model too (for fine-tuning and for checking the export): the
        # stateless form, any batch size, every call from a zero state.
        tf.io.gfile.makedirs(run_dir)
        model_lib.copy_weights(result.model, model_lib.build(
            len(words), cfg, stateful=False)).save(os.path.join(run_dir, KERAS_FILE))
    outputs.write_stats(fn_args, {
        **result.stats(), "task": strategy_lib.task_name(),
        "train_ids": int(train_ids.size), "eval_ids": int(eval_ids.size),
        "unk_rate_train": float((train_ids == preprocessing.UNK_ID).mean()),
        "unk_rate_eval": float((eval_ids == preprocessing.UNK_ID).mean())})
    return result


def run_fn(fn_args: FnArgs) -> None:
    train(fn_args)


__all__ = ["run_fn", "train", "LOGS_DIR"]
