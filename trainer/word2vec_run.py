"""The Trainer's `run_fn` for word2vec (referenced as `trainer.word2vec_run.run_fn`).

custom_config = the fields of trainer.word2vec.Word2VecConfig (model "skipgram"/"cbow",
embedding_dim, window, epochs, batch_size, num_sampled, loss, ...). The vocabulary and its
counts come from the Transform's vocabulary asset (trainer/text_preprocessing.py).

Outputs:
- the SavedModel (`serving_model_dir`), signatures:
  * `serving_default` = `embed`: `words` string [N] -> `vectors` float [N, D],
    `ids` int64 [N], `in_vocabulary` bool [N] (OOV words map to a zero vector);
  * `nearest`: `words` string [N], `k` int32 [] -> `neighbours` string [N, k],
    `scores` float [N, k] (cosine similarity), `in_vocabulary` bool [N];
  plus the trained variables (`embeddings`, `out_weights`, `out_biases`, `counts`) and
  `assets.extra/word2vec.json` (the training config), which the word2vec evaluator uses
  to compute the held-out loss;
- `model_run_dir/training_stats.json` (read by pipelines/report.py) and
  `model_run_dir/projector/{vectors,metadata}.tsv` + `projector_config.pbtxt` for the
  TensorBoard embedding projector.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from typing import Dict, List, Optional, Sequence

import absl.logging
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.trainer.fn_args_utils import FnArgs

from components import servability_check
from trainer import strategy as strategy_lib, word2vec
from trainer.text_preprocessing import IDS_KEY, read_vocabulary

STATS_FILE = "training_stats.json"
CONFIG_FILE = "word2vec.json"
SIGNATURE_EMBED = "embed"
SIGNATURE_NEAREST = "nearest"


def _files(patterns: Sequence[str]) -> List[str]:
    files: List[str] = []
    for p in patterns:
        files.extend(sorted(tf.io.gfile.glob(p)))
    if not files:
        raise FileNotFoundError(f"no transformed examples match {list(patterns)}")
    return files


def id_blocks(file_patterns: Sequence[str], sequences_per_block: int, shuffle: bool,
              seed: Optional[int] = None,
              input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """One pass over the transformed examples as ragged id blocks [n, None]."""
    files = _files(file_patterns)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if input_context and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    ds = ds.interleave(lambda f: tf.data.TFRecordDataset(f, compression_type="GZIP"),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=not shuffle)
    if shuffle:
        ds = ds.shuffle(4 * sequences_per_block, seed=seed, reshuffle_each_iteration=True)
    spec = {IDS_KEY: tf.io.RaggedFeature(tf.int64)}
    return (ds.batch(sequences_per_block)
            .map(lambda s: tf.io.parse_example(s, spec)[IDS_KEY],
                 num_parallel_calls=tf.data.AUTOTUNE))


def token_stats(blocks: tf.data.Dataset, vocab_size: int) -> Dict[str, int]:
    """Tokens and OOV tokens (id == vocab_size) in one pass."""
    def count(acc, ids):
        flat = ids.flat_values
        return (acc[0] + tf.size(flat, out_type=tf.int64),
                acc[1] + tf.reduce_sum(tf.cast(flat >= vocab_size, tf.int64)),
                acc[2] + tf.cast(ids.nrows(), tf.int64))
    zero = tf.constant(0, tf.int64)
    tokens, oov, seqs = blocks.reduce((zero, zero, zero), count)
    return {"tokens": int(tokens), "oov_tokens": int(oov), "sequences": int(seqs)}


class Word2VecExport(tf.Module):
    """What is saved: trained variables, the vocabulary asset and the serving functions."""

    def __init__(self, model: word2vec.Word2VecModel, vocab_file: str, words: Sequence[str],
                 counts: np.ndarray):
        super().__init__(name="word2vec_export")
        vocab_size = model.vocab_size
        emb = model.embeddings.numpy().copy()
        emb[vocab_size:] = 0.0  # the OOV bucket: no meaningful vector
        self.embeddings = tf.Variable(emb, trainable=False, name="embeddings")
        self.out_weights = tf.Variable(model.out_weights.numpy(), trainable=False,
                                       name="out_weights")
        self.out_biases = tf.Variable(model.out_biases.numpy(), trainable=False,
                                      name="out_biases")
        self.counts = tf.Variable(np.asarray(counts, np.int64), trainable=False, name="counts")
        self.vocab_asset = tf.saved_model.Asset(vocab_file)
        # The Transform's own lookup, rebuilt from its vocabulary file: `<count> <word>`
        # lines, word -> line number, one OOV bucket -> id vocab_size.
        self.table = tf.lookup.StaticVocabularyTable(
            tf.lookup.TextFileInitializer(
                self.vocab_asset, key_dtype=tf.string, key_index=1, value_dtype=tf.int64,
                value_index=tf.lookup.TextFileIndex.LINE_NUMBER, delimiter=" "),
            num_oov_buckets=1)
        self.words = tf.Variable(tf.constant(list(words) + ["[OOV]"]), trainable=False,
                                 name="words")
        self.vocab_size = tf.Variable(vocab_size, trainable=False, dtype=tf.int64,
                                      name="vocab_size")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words")])
        def embed(words):
            ids = self.table.lookup(words)
            return {"vectors": tf.gather(self.embeddings, ids), "ids": ids,
                    "in_vocabulary": ids < self.vocab_size}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="words"),
                                      tf.TensorSpec([], tf.int32, name="k")])
        def nearest(words, k):
            ids = self.table.lookup(words)
            unit = tf.math.l2_normalize(self.embeddings[:vocab_size], axis=1)
            query = tf.math.l2_normalize(tf.gather(self.embeddings, ids), axis=1)
            sims = tf.matmul(query, unit, transpose_b=True)
            # The query word itself is not its own neighbour.
            own = tf.one_hot(tf.minimum(ids, vocab_size - 1), vocab_size, on_value=True,
                             off_value=False) & (ids < vocab_size)[:, None]
            sims = tf.where(own, tf.fill(tf.shape(sims), -2.0), sims)
            k = tf.minimum(k, vocab_size - 1)
            scores, top = tf.math.top_k(sims, k=k)
            return {"neighbours": tf.gather(self.words, top), "scores": scores,
                    "in_vocabulary": ids < self.vocab_size}

        self.embed = embed
        self.nearest = nearest

    def signatures(self):
        embed = self.embed.get_concrete_function()
        return {"serving_default": embed, SIGNATURE_EMBED: embed,
                SIGNATURE_NEAREST: self.nearest.get_concrete_function()}


def export(model: word2vec.Word2VecModel, cfg: word2vec.Word2VecConfig, vocab_file: str,
           words: Sequence[str], counts: np.ndarray, export_dir: str) -> str:
    module = Word2VecExport(model, vocab_file, words, counts)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    extra = os.path.join(export_dir, "assets.extra")
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, CONFIG_FILE), "w") as f:
        json.dump({"config": dataclasses.asdict(cfg), "vocab_size": model.vocab_size}, f,
                  indent=2)
    # TF Serving replays these at load time, so the first real request is not the slow one.
    name, sample = f"text_{cfg.model}", list(words[:8])
    servability_check.write_warmup(export_dir, [
        servability_check.warmup_log(name, "serving_default", inputs={"words": sample}),
        servability_check.warmup_log(name, SIGNATURE_NEAREST,
                                     inputs={"words": sample, "k": np.int32(5)}),
    ])
    return export_dir


def load_config(export_dir: str) -> word2vec.Word2VecConfig:
    with tf.io.gfile.GFile(os.path.join(export_dir, "assets.extra", CONFIG_FILE)) as f:
        return word2vec.Word2VecConfig.from_dict(json.load(f)["config"])


def write_projector(vectors: np.ndarray, words: Sequence[str], out_dir: str) -> str:
    """vectors.tsv + metadata.tsv + projector_config.pbtxt (TensorBoard's projector)."""
    folder = os.path.join(out_dir, "projector")
    tf.io.gfile.makedirs(folder)
    with tf.io.gfile.GFile(os.path.join(folder, "vectors.tsv"), "w") as f:
        for row in vectors:
            f.write("\t".join(f"{x:.5g}" for x in row) + "\n")
    with tf.io.gfile.GFile(os.path.join(folder, "metadata.tsv"), "w") as f:
        for w in words:
            f.write(w + "\n")
    with tf.io.gfile.GFile(os.path.join(folder, "projector_config.pbtxt"), "w") as f:
        f.write('embeddings {\n  tensor_name: "word2vec"\n  tensor_path: "vectors.tsv"\n'
                '  metadata_path: "metadata.tsv"\n}\n')
    return folder


class LoadedModel:
    """A word2vec SavedModel loaded back with what `word2vec.heldout_loss` needs."""

    def __init__(self, export_dir: str):
        self.obj = tf.saved_model.load(export_dir)
        self.cfg = load_config(export_dir)
        self.vocab_size = int(self.obj.vocab_size.numpy())
        self.counts = self.obj.counts.numpy()
        self.words = [w.decode("utf-8") for w in self.obj.words.numpy()[: self.vocab_size]]
        model = word2vec.Word2VecModel(
            self.vocab_size, self.cfg, self.counts, name="loaded_word2vec",
            variables=(self.obj.embeddings, self.obj.out_weights, self.obj.out_biases))
        self.model = model

    def vectors(self) -> np.ndarray:
        return self.obj.embeddings.numpy()[: self.vocab_size]


def train(fn_args: FnArgs) -> word2vec.TrainResult:
    cfg = word2vec.Word2VecConfig.from_dict(dict(fn_args.custom_config or {}))
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

    result = word2vec.train(blocks_fn, counts, cfg, strategy, log=absl.logging.info)
    heldout = word2vec.heldout_loss(
        result.model, id_blocks(fn_args.eval_files, cfg.sequences_per_block, False),
        counts, cfg)

    if strategy_lib.is_chief():
        export(result.model, cfg, vocab_file, words, counts, fn_args.serving_model_dir)
        write_projector(result.model.vectors(), words, fn_args.model_run_dir)
    else:
        tmp = tempfile.mkdtemp(prefix="worker-export-")
        export(result.model, cfg, vocab_file, words, counts, tmp)
        shutil.rmtree(tmp, ignore_errors=True)

    stats = {
        "model": cfg.model, "strategy": type(strategy).__name__,
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
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, STATS_FILE), "w") as f:
        json.dump(stats, f, indent=2)
    absl.logging.info("Training stats: %s", json.dumps(stats))
    return result


def run_fn(fn_args: FnArgs) -> None:
    train(fn_args)


__all__ = ["run_fn", "train", "export", "LoadedModel", "Word2VecExport", "id_blocks",
           "token_stats", "write_projector", "load_config"]
