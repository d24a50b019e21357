"""word2vec's exported SavedModel, its warm-up records, and the projector files.

Signatures:
* `serving_default` = `embed`: `words` string [N] -> `vectors` float [N, D],
  `ids` int64 [N], `in_vocabulary` bool [N] (OOV words map to a zero vector);
* `nearest`: `words` string [N], `k` int32 [] -> `neighbours` string [N, k],
  `scores` float [N, k] (cosine similarity), `in_vocabulary` bool [N];
plus the trained variables (`embeddings`, `out_weights`, `out_biases`, `counts`) and
`assets.extra/word2vec.json` (the training config), which the word2vec evaluator uses to
compute the held-out loss. `model_run_dir/projector/` holds vectors.tsv, metadata.tsv and
projector_config.pbtxt for TensorBoard's embedding projector.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from trainer.contract import EMBED_SIGNATURE, NEAREST_SIGNATURE, SERVING_DEFAULT
from trainer.serving import warmup
from trainer.word2vec.config import Word2VecConfig
from trainer.word2vec.model import Word2VecModel

CONFIG_FILE = "word2vec.json"


class Word2VecExport(tf.Module):
    """What is saved: trained variables, the vocabulary asset and the serving functions."""

    def __init__(self, model: Word2VecModel, vocab_file: str, words: Sequence[str],
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
        return {SERVING_DEFAULT: embed, EMBED_SIGNATURE: embed,
                NEAREST_SIGNATURE: self.nearest.get_concrete_function()}


def export(model: Word2VecModel, cfg: Word2VecConfig, vocab_file: str,
           words: Sequence[str], counts: np.ndarray, export_dir: str) -> str:
    module = Word2VecExport(model, vocab_file, words, counts)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    extra = os.path.join(export_dir, "assets.extra")
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, CONFIG_FILE), "w") as f:
        json.dump({"config": dataclasses.asdict(cfg), "vocab_size": model.vocab_size}, f,
                  indent=2)
    # TF Serving replays these at load time, so the first real request is not the slow one;
    # one per signature, also the request the ServabilityCheck sends each.
    name, sample = f"text_{cfg.model}", list(words[:8])
    warmup.write_warmup(export_dir, [
        warmup.warmup_log(name, SERVING_DEFAULT, inputs={"words": sample}),
        warmup.warmup_log(name, EMBED_SIGNATURE, inputs={"words": sample}),
        warmup.warmup_log(name, NEAREST_SIGNATURE,
                          inputs={"words": sample, "k": np.int32(5)}),
    ])
    return export_dir


def load_config(export_dir: str) -> Word2VecConfig:
    with tf.io.gfile.GFile(os.path.join(export_dir, "assets.extra", CONFIG_FILE)) as f:
        return Word2VecConfig.from_dict(json.load(f)["config"])


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
        model = Word2VecModel(
            self.vocab_size, self.cfg, self.counts, name="loaded_word2vec",
            variables=(self.obj.embeddings, self.obj.out_weights, self.obj.out_biases))
        self.model = model

    def vectors(self) -> np.ndarray:
        return self.obj.embeddings.numpy()[: self.vocab_size]

