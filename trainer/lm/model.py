"""One Keras builder for the recurrent language models: LSTM or GRU stacks, PTB style.

    ids [B, T] -> Embedding -> Dropout -> N x (LSTM|GRU -> Dropout) -> logits [B, T, V]

- Every weight starts uniform in [-init_scale, init_scale] (Zaremba et al.); biases at
  zero (Keras' LSTM still adds 1 to the forget-gate bias, `unit_forget_bias`).
- Dropout is a separate `Dropout` layer on the non-recurrent connections only; the
  recurrent layers keep the exact form whose GPU kernel is cuDNN (tanh, sigmoid gates,
  no recurrent dropout, not unrolled, with biases, GRU `reset_after=True`), which
  `cudnn_eligible` checks. No masking is ever used (the windows have no padding), so
  the "strictly right-padded mask" condition holds by construction.
- Tied embeddings: the output layer is `h . E^T + b` with E the embedding matrix (the
  embedding layer itself, called a second time: `TiedEmbedding`); when the embedding
  size differs from the last hidden size a linear projection to the embedding size
  comes first. Untied, the output layer is a Dense layer named "logits".

Three variants of the same weights (same layer names, so weights copy across):
- `build(vocab, cfg)`: stateful per `cfg.stateful`; a stateful model has a fixed batch
  (cfg.batch_size or `batch_size`) and carries its state in the layers between calls
  (`model.reset_states()` to start over);
- `build(vocab, cfg, stateful=False)`: every call starts from a zero state;
- `build(vocab, cfg, stateful=False, with_state=True)`: explicit state, any batch size:
  inputs [ids [B, T], state [B, S, H]], outputs [logits, final state [B, S, H]], with
  S = `state_slots(cfg)` slots in layer order ([h, c] per LSTM layer, [h] per GRU layer).
  The trainer uses this form: Keras refuses stateful RNN layers under a tf.distribute
  strategy, while an explicit state is just another per-replica tensor.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import tensorflow as tf

from trainer.lm.config import LMConfig

EMBEDDING_LAYER = "embedding"
LOGITS_LAYER = "logits"
IDS_INPUT = "ids"
STATE_INPUT = "state"


def rnn_layer_name(index: int) -> str:
    return f"rnn_{index}"


def state_slots(cfg: LMConfig) -> int:
    """Vectors of size hidden_size in the state of the whole stack."""
    return cfg.num_layers * (2 if cfg.cell == "lstm" else 1)


def zero_state(cfg: LMConfig, batch_size: int) -> tf.Tensor:
    return tf.zeros([batch_size, state_slots(cfg), cfg.hidden_size], tf.float32)


@tf.keras.utils.register_keras_serializable(package="classics_lm")
class TiedEmbedding(tf.keras.layers.Embedding):
    """An Embedding that also serves as the output layer: called on ids it looks them up;
    called with `output=True` on hidden vectors h [B, T, D] it returns the logits
    h . E^T + b with the same matrix E and a bias of its own. One shared layer (rather
    than a second layer holding a reference to the first) keeps the model saveable in
    the .keras format."""

    def build(self, input_shape=None):
        super().build(input_shape)
        self.output_bias = self.add_weight(name="output_bias", shape=[self.input_dim],
                                           initializer="zeros", trainable=True)

    def call(self, inputs, output=False):
        if output:
            return tf.tensordot(inputs, self.embeddings, axes=[[2], [1]]) + self.output_bias
        return super().call(inputs)


def _uniform(cfg: LMConfig) -> tf.keras.initializers.Initializer:
    return tf.keras.initializers.RandomUniform(-cfg.init_scale, cfg.init_scale)


def _rnn(cfg: LMConfig, index: int, stateful: bool, return_state: bool):
    common = dict(units=cfg.hidden_size, activation="tanh", recurrent_activation="sigmoid",
                  use_bias=True, dropout=0.0, recurrent_dropout=0.0, unroll=False,
                  return_sequences=True, return_state=return_state, stateful=stateful,
                  kernel_initializer=_uniform(cfg), recurrent_initializer=_uniform(cfg),
                  bias_initializer="zeros", name=rnn_layer_name(index))
    if cfg.cell == "lstm":
        return tf.keras.layers.LSTM(unit_forget_bias=True, **common)
    return tf.keras.layers.GRU(reset_after=True, **common)


def build(vocab_size: int, cfg: LMConfig, *, stateful: Optional[bool] = None,
          batch_size: Optional[int] = None, with_state: bool = False,
          name: Optional[str] = None) -> tf.keras.Model:
    """The language model: int ids [B, T] -> logits [B, T, vocab_size] (see the module
    docstring for `stateful` and `with_state`)."""
    if vocab_size < 2:
        raise ValueError(f"a language model needs a vocabulary of >= 2, got {vocab_size}")
    stateful = cfg.stateful if stateful is None else stateful
    if stateful and with_state:
        raise ValueError("with_state=True is the explicit-state form; it is not stateful")
    batch = (batch_size or cfg.batch_size) if stateful else batch_size
    ids = tf.keras.Input(batch_shape=(batch, None), dtype=tf.int32, name=IDS_INPUT)
    inputs = [ids]
    embedding_cls = TiedEmbedding if cfg.tie_embeddings else tf.keras.layers.Embedding
    embedding = embedding_cls(vocab_size, cfg.embedding_size,
                              embeddings_initializer=_uniform(cfg), name=EMBEDDING_LAYER)
    h = embedding(ids)
    if cfg.dropout:
        h = tf.keras.layers.Dropout(cfg.dropout, name="embedding_dropout")(h)
    per_layer = 2 if cfg.cell == "lstm" else 1
    if with_state:
        state_in = tf.keras.Input(batch_shape=(batch, state_slots(cfg), cfg.hidden_size),
                                  dtype=tf.float32, name=STATE_INPUT)
        inputs.append(state_in)
    final_states = []
    for i in range(cfg.num_layers):
        layer = _rnn(cfg, i, stateful, return_state=with_state)
        if with_state:
            initial = [state_in[:, i * per_layer + k] for k in range(per_layer)]
            out = layer(h, initial_state=initial)
            h = out[0]
            final_states.extend(out[1:])
        else:
            h = layer(h)
        if cfg.dropout:
            h = tf.keras.layers.Dropout(cfg.dropout, name=f"rnn_{i}_dropout")(h)
    if cfg.tie_embeddings:
        if cfg.embedding_size != cfg.hidden_size:
            h = tf.keras.layers.Dense(cfg.embedding_size, use_bias=False,
                                      kernel_initializer=_uniform(cfg),
                                      name="projection")(h)
        logits = embedding(h, output=True)
    else:
        logits = tf.keras.layers.Dense(vocab_size, kernel_initializer=_uniform(cfg),
                                       name=LOGITS_LAYER)(h)
    name = name or f"{cfg.cell}_lm"
    if with_state:
        state_out = tf.stack(final_states, axis=1)
        return tf.keras.Model(inputs, [logits, state_out], name=name)
    return tf.keras.Model(ids, logits, name=name)


def rnn_layers(model: tf.keras.Model) -> List[tf.keras.layers.RNN]:
    return [l for l in model.layers
            if isinstance(l, (tf.keras.layers.LSTM, tf.keras.layers.GRU))]


def copy_weights(source: tf.keras.Model, target: tf.keras.Model) -> tf.keras.Model:
    """Copies weights between two variants of the same configuration, layer by layer
    (by name), so a state-input copy of a stateful model gets exactly its weights."""
    for layer in target.layers:
        if layer.weights:
            src = source.get_layer(layer.name)
            layer.set_weights(src.get_weights())
    return target


def _activation_name(fn) -> str:
    try:
        return tf.keras.activations.serialize(fn)
    except ValueError:
        return getattr(fn, "__name__", repr(fn))


def cudnn_eligible(layer) -> Tuple[bool, List[str]]:
    """Whether an LSTM/GRU layer meets tf_keras' conditions for its cuDNN kernel on a
    GPU (lstm.py / gru.py docstrings), with the reasons it does not. The input
    conditions (a strictly right-padded mask, eager outermost context) are not
    properties of the layer: these models use no mask and are built eagerly."""
    reasons: List[str] = []
    if not isinstance(layer, (tf.keras.layers.LSTM, tf.keras.layers.GRU)):
        return False, [f"{type(layer).__name__} is not an LSTM or GRU layer"]
    if _activation_name(layer.activation) != "tanh":
        reasons.append(f"activation is {_activation_name(layer.activation)}, not tanh")
    if _activation_name(layer.recurrent_activation) != "sigmoid":
        reasons.append(f"recurrent_activation is "
                       f"{_activation_name(layer.recurrent_activation)}, not sigmoid")
    if layer.recurrent_dropout != 0:
        reasons.append(f"recurrent_dropout is {layer.recurrent_dropout}, not 0")
    if layer.unroll:
        reasons.append("unroll is True")
    if not layer.use_bias:
        reasons.append("use_bias is False")
    if isinstance(layer, tf.keras.layers.GRU) and not layer.reset_after:
        reasons.append("reset_after is False (GRU)")
    if not reasons and getattr(layer, "_could_use_gpu_kernel", True) is False:
        # Keras' own decision, made at construction (e.g. built inside a tf.function).
        reasons.append("Keras did not select its cuDNN-capable implementation")
    return not reasons, reasons


__all__ = ["build", "cudnn_eligible", "rnn_layers", "copy_weights", "state_slots",
           "zero_state", "TiedEmbedding", "rnn_layer_name", "EMBEDDING_LAYER",
           "LOGITS_LAYER", "IDS_INPUT", "STATE_INPUT"]
