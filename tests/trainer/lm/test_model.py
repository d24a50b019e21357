"""The LM builder: shapes, tied weights, the three variants agree, cuDNN eligibility."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from trainer.lm import config as lc, model as lm


def small_cfg(**kw):
    base = dict(num_layers=2, hidden_size=8, num_steps=5, batch_size=3, init_scale=0.3)
    base.update(kw)
    return lc.LMConfig(**base)


@pytest.mark.parametrize("name, cell", [(n, "lstm") for n in sorted(lc.CONFIGS)]
                         + [("small", "gru")])
def test_every_preset_keeps_the_cudnn_form(name, cell):
    # The layers alone decide; the vocabulary is kept tiny so "large" builds quickly.
    cfg = dataclasses.replace(lc.CONFIGS[name], cell=cell)
    layers = lm.rnn_layers(lm.build(10, cfg))
    assert len(layers) == cfg.num_layers
    for layer in layers:
        ok, reasons = lm.cudnn_eligible(layer)
        assert ok, reasons
        assert layer.stateful == cfg.stateful


def test_layers_off_the_cudnn_path_are_reported():
    ok, reasons = lm.cudnn_eligible(tf.keras.layers.LSTM(4, recurrent_dropout=0.2))
    assert not ok and any("recurrent_dropout" in r for r in reasons)
    ok, reasons = lm.cudnn_eligible(tf.keras.layers.GRU(4, reset_after=False))
    assert not ok and any("reset_after" in r for r in reasons)
    ok, reasons = lm.cudnn_eligible(tf.keras.layers.LSTM(4, activation="relu",
                                                         unroll=True, use_bias=False))
    assert not ok and len(reasons) == 3
    ok, reasons = lm.cudnn_eligible(tf.keras.layers.GRU(4, recurrent_activation="hard_sigmoid"))
    assert not ok and "sigmoid" in reasons[0]
    assert lm.cudnn_eligible(tf.keras.layers.Dense(3))[0] is False


def test_shapes_dropout_layers_and_stateful_batch():
    cfg = small_cfg(dropout=0.3)
    model = lm.build(20, cfg)
    assert model.input_shape == (3, None)  # stateful: the batch is fixed
    assert model.output_shape == (3, None, 20)
    assert sum(isinstance(l, tf.keras.layers.Dropout) for l in model.layers) == 3
    # Dropout is only the separate layers' (non-recurrent connections).
    assert all(l.recurrent_dropout == 0 and l.dropout == 0 for l in lm.rnn_layers(model))
    free = lm.build(20, cfg, stateful=False)
    assert free.input_shape == (None, None)
    assert free(np.zeros([7, 4], np.int32)).shape == (7, 4, 20)


def test_tied_embeddings_share_the_matrix(tmp_path):
    cfg = small_cfg(tie_embeddings=True)
    model = lm.build(20, cfg, stateful=False)
    untied = lm.build(20, dataclasses.replace(cfg, tie_embeddings=False), stateful=False)
    # The tied output has only a bias of its own: 20 x 8 weights fewer.
    assert untied.count_params() - model.count_params() == 20 * 8
    emb = model.get_layer(lm.EMBEDDING_LAYER)
    x = np.array([[1, 2, 3]], np.int32)
    h = tf.keras.Model(model.input, model.get_layer("rnn_1").output)(x)
    expected = tf.tensordot(h, emb.embeddings, [[2], [1]]) + emb.output_bias
    np.testing.assert_allclose(model(x).numpy(), expected.numpy(), atol=1e-6)
    # Saved in the .keras format and loaded back (the layer is registered), same logits.
    model.save(str(tmp_path / "tied.keras"))
    loaded = tf.keras.models.load_model(str(tmp_path / "tied.keras"), compile=False)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), atol=1e-6)
    # Embedding size != hidden size: a projection comes first.
    proj = lm.build(20, dataclasses.replace(cfg, embedding_dim=6), stateful=False)
    assert proj.get_layer("projection").kernel.shape == (8, 6)
    assert proj(x).shape == (1, 3, 20)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_stateful_and_explicit_state_forms_agree(cell):
    cfg = small_cfg(cell=cell)
    stateful = lm.build(20, cfg)
    explicit = lm.copy_weights(stateful, lm.build(20, cfg, stateful=False, with_state=True))
    fresh = lm.copy_weights(stateful, lm.build(20, cfg, stateful=False))
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 20, size=(3, 5)).astype(np.int32) for _ in range(2))
    state = lm.zero_state(cfg, 3)
    assert state.shape == (3, lm.state_slots(cfg), 8)
    assert lm.state_slots(cfg) == (4 if cell == "lstm" else 2)
    for x in (a, b):  # the second window continues from the first one's state
        want = stateful(x).numpy()
        got, state = explicit([x, state])
        np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    # A stateless model restarts: its answer for b differs from the carried one.
    assert np.abs(fresh(b).numpy() - want).max() > 1e-4
    stateful.reset_states()
    np.testing.assert_allclose(stateful(a).numpy(), fresh(a).numpy(), atol=1e-5)


def test_weights_start_uniform_within_init_scale():
    model = lm.build(50, small_cfg(init_scale=0.05), stateful=False)
    emb = model.get_layer(lm.EMBEDDING_LAYER).embeddings.numpy()
    kernel = model.get_layer("rnn_0").cell.kernel.numpy()
    for w in (emb, kernel):
        assert np.abs(w).max() <= 0.05 and np.abs(w).max() > 0.04


def test_invalid_combinations():
    with pytest.raises(ValueError, match="explicit-state"):
        lm.build(20, small_cfg(), stateful=True, with_state=True)
    with pytest.raises(ValueError, match="vocabulary"):
        lm.build(1, small_cfg())
