"""The language model's serving SavedModel: score sentences, predict next words.

Signatures (TF Serving and `tf.saved_model.load(...).signatures[...]`):
- `serving_default` (= scoring): `sentences` string [N], space-separated tokens ->
  `log_prob` float32 [N]: the natural-log probability of the sentence's tokens followed
  by `<eos>`, and `perplexity` float32 [N] = exp(-log_prob / (tokens + 1)).
  Context: every sentence is scored on its own, from a zero state, with `<eos>` as the
  token before its first word, as in PTB's stream where every sentence follows an
  `<eos>`. An empty sentence scores P(<eos> | <eos>).
- `next_words`: `prefix` string [N], `k` int32 [] -> `words` string [N, k] and
  `probabilities` float32 [N, k], the k most probable next tokens after the prefix
  (same start context), most probable first (k is capped at the vocabulary size; the
  candidates include `<eos>`, "the sentence ends here", and `<unk>`), and
  `unknown_words` string [N]: the prefix's words not in the vocabulary, space-separated
  (read as `<unk>`; empty when every word is known).
Tokens map through the vocabulary (`assets/lm_words.txt`, one word per line, line =
id); anything else maps to `<unk>`. No lower-casing or other normalisation is done:
clients send text tokenised the way the corpus was.

Besides the signatures the module has `score_windows(inputs int64 [N, T], targets int64
[N, T], state float32 [N, S, H]) -> {log_probs [N, T], state}` and
`initial_state(batch_size int32 [])`, the explicit-state model for evaluating a stream
of windows with the state carried (trainer/lm/evaluation.py). `assets.extra/lm.json`
holds the training config and vocabulary facts; `assets.extra/tf_serving_warmup_requests`
one request per signature.

The exported model is a stateless copy of the trained weights (batch size free), built
in the explicit-state form, so serving never depends on a state left by earlier calls.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from trainer.contract import NEXT_WORDS_SIGNATURE, SERVING_DEFAULT
from trainer.lm import model as model_lib
from trainer.lm.config import LMConfig
from trainer.lm.evaluation import token_nll
from trainer.lm.preprocessing import EOS, EOS_ID, UNK, UNK_ID
from trainer.serving import warmup

SCORE_SIGNATURE = SERVING_DEFAULT  # scores token windows
CONFIG_FILE = "lm.json"
VOCAB_ASSET = "lm_words.txt"


class LMExport(tf.Module):
    """The saved object: the model's variables, the vocabulary and the functions."""

    def __init__(self, trained: tf.keras.Model, cfg: LMConfig, words: Sequence[str],
                 vocab_file: str):
        super().__init__(name="lm_export")
        vocab_size = len(words)
        net = model_lib.build(vocab_size, cfg, stateful=False, with_state=True,
                              name=f"{cfg.cell}_lm_serving")
        model_lib.copy_weights(trained, net)
        # The functions below close over `net`; tracking its variables (rather than the
        # Keras model) saves them without Keras' own SavedModel serialisation.
        self.lm_variables = list(net.variables)
        self.vocab_asset = tf.saved_model.Asset(vocab_file)
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.vocab_asset, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
            default_value=UNK_ID)
        self.words = tf.Variable(list(words), trainable=False, name="words")
        self.vocab_size = tf.Variable(vocab_size, trainable=False, dtype=tf.int64,
                                      name="vocab_size")
        slots, hidden = model_lib.state_slots(cfg), cfg.hidden_size

        def token_ids(texts):
            return tf.ragged.map_flat_values(self.table.lookup, tf.strings.split(texts))

        def with_start(ids):
            """[eos] + ids, dense (right-padded: later padding cannot change earlier
            outputs of a recurrent model), and each row's length."""
            eos = tf.fill(tf.stack([ids.nrows(), 1]), tf.constant(EOS_ID, tf.int64))
            full = tf.concat([tf.RaggedTensor.from_tensor(eos), ids], axis=1)
            return tf.cast(full.to_tensor(0), tf.int32), full.row_lengths()

        def zeros(n):
            return tf.zeros(tf.stack([n, slots, hidden]), tf.float32)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sentences")],
                     autograph=False)
        def score(sentences):
            ids = token_ids(sentences)
            inputs, lengths = with_start(ids)
            eos = tf.fill(tf.stack([ids.nrows(), 1]), tf.constant(EOS_ID, tf.int64))
            targets = tf.concat([ids, tf.RaggedTensor.from_tensor(eos)], axis=1)
            targets = targets.to_tensor(0, shape=tf.shape(inputs, out_type=tf.int64))
            logits, _ = net([inputs, zeros(tf.shape(inputs)[0])], training=False)
            mask = tf.sequence_mask(lengths, tf.shape(inputs)[1], dtype=tf.float32)
            log_prob = -tf.reduce_sum(token_nll(logits, targets) * mask, axis=1)
            perplexity = tf.exp(-log_prob / tf.cast(lengths, tf.float32))
            return {"log_prob": log_prob, "perplexity": perplexity}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="prefix"),
                                      tf.TensorSpec([], tf.int32, name="k")],
                     autograph=False)
        def next_words(prefix, k):
            tokens = tf.strings.split(prefix)
            ids = tf.ragged.map_flat_values(self.table.lookup, tokens)
            inputs, lengths = with_start(ids)
            logits, _ = net([inputs, zeros(tf.shape(inputs)[0])], training=False)
            last = tf.gather(logits, lengths - 1, batch_dims=1)  # after the last token
            probabilities = tf.nn.softmax(tf.cast(last, tf.float32), axis=-1)
            k = tf.clip_by_value(k, 0, vocab_size)
            top_p, top_ids = tf.math.top_k(probabilities, k=k)
            # Clients can tell a prediction after an unknown word (read as <unk>) from one
            # after the words they typed.
            unknown = tf.ragged.boolean_mask(
                tokens, tf.equal(ids, UNK_ID) & tf.not_equal(tokens, UNK))
            return {"words": tf.gather(self.words, top_ids), "probabilities": top_p,
                    "unknown_words": tf.strings.reduce_join(unknown, axis=1, separator=" ")}

        @tf.function(input_signature=[
            tf.TensorSpec([None, None], tf.int64, name="inputs"),
            tf.TensorSpec([None, None], tf.int64, name="targets"),
            tf.TensorSpec([None, slots, hidden], tf.float32, name="state")],
            autograph=False)
        def score_windows(inputs, targets, state):
            logits, new_state = net([tf.cast(inputs, tf.int32), state], training=False)
            return {"log_probs": -token_nll(logits, targets), "state": new_state}

        @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="batch_size")],
                     autograph=False)
        def initial_state(batch_size):
            return zeros(batch_size)

        self.score = score
        self.next_words = next_words
        self.score_windows = score_windows
        self.initial_state = initial_state

    def signatures(self) -> Dict[str, Any]:
        return {SCORE_SIGNATURE: self.score.get_concrete_function(),
                NEXT_WORDS_SIGNATURE: self.next_words.get_concrete_function()}


def sample_requests(words: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """Small, valid inputs for each signature (the warm-up records)."""
    plain = [w for w in words if w not in (UNK, EOS)][:6] or [UNK]
    sentences = np.array([" ".join(plain[:4]), " ".join(plain[2:]), ""], dtype=object)
    return {SCORE_SIGNATURE: {"sentences": sentences},
            NEXT_WORDS_SIGNATURE: {"prefix": np.array([" ".join(plain[:2]), ""],
                                                      dtype=object),
                                   "k": np.int32(min(5, len(words)))}}


def export(model: tf.keras.Model, cfg: LMConfig, words: Sequence[str], export_dir: str,
           model_name: Optional[str] = None) -> str:
    """Saves the serving SavedModel of a trained model (any variant from
    trainer.lm.model.build) with vocabulary `words` (id order) into `export_dir`."""
    words = list(words)
    if tuple(words[:2]) != (UNK, EOS):
        raise ValueError(f"the vocabulary must start with {UNK!r}, {EOS!r} (ids "
                         f"{UNK_ID}, {EOS_ID}); got {words[:2]}")
    emb = model.get_layer(model_lib.EMBEDDING_LAYER)
    if emb.input_dim != len(words):
        raise ValueError(f"the model has {emb.input_dim} word ids, the vocabulary "
                         f"{len(words)} words")
    if any((not w) or any(c.isspace() for c in w) for w in words):
        raise ValueError("vocabulary words must be non-empty and contain no whitespace")
    with tempfile.TemporaryDirectory(prefix="lm-vocab-") as tmp:
        vocab_file = os.path.join(tmp, VOCAB_ASSET)
        with open(vocab_file, "w", encoding="utf-8") as f:
            f.write("".join(w + "\n" for w in words))
        module = LMExport(model, cfg, words, vocab_file)
        tf.saved_model.save(module, export_dir, signatures=module.signatures())
    extra = os.path.join(export_dir, warmup.WARMUP_DIR)
    tf.io.gfile.makedirs(extra)
    with tf.io.gfile.GFile(os.path.join(extra, CONFIG_FILE), "w") as f:
        json.dump({"config": cfg.to_dict(), "vocab_size": len(words), "unk": UNK,
                   "unk_id": UNK_ID, "eos": EOS, "eos_id": EOS_ID,
                   "state_slots": model_lib.state_slots(cfg),
                   "signatures": [SCORE_SIGNATURE, NEXT_WORDS_SIGNATURE]}, f, indent=2)
    # TF Serving replays these when it loads the version: the first real request does
    # not pay for initialisation.
    name = model_name or f"lm_{cfg.cell}"
    warmup.write_warmup(export_dir, [warmup.warmup_log(name, sig, inputs=inputs)
                                     for sig, inputs in sample_requests(words).items()])
    return export_dir


def load_config(export_dir: str) -> Dict[str, Any]:
    """The contents of `assets.extra/lm.json`, with "config" as an LMConfig."""
    with tf.io.gfile.GFile(os.path.join(export_dir, warmup.WARMUP_DIR, CONFIG_FILE)) as f:
        meta = json.load(f)
    meta["config"] = LMConfig.from_dict(meta["config"])
    return meta


def load_vocabulary(loaded) -> List[str]:
    """The words of a loaded LM SavedModel, in id order."""
    return [w.decode("utf-8") for w in loaded.words.numpy()]


__all__ = ["export", "LMExport", "load_config", "load_vocabulary", "sample_requests",
           "SCORE_SIGNATURE", "NEXT_WORDS_SIGNATURE", "CONFIG_FILE", "VOCAB_ASSET"]
