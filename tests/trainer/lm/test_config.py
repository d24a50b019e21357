"""LMConfig: strict from_dict, validation, presets as published, the decay schedule."""
import dataclasses

import pytest

from trainer.lm import config as lc


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match=r"unknown keys \['hidden_units'\]"):
        lc.LMConfig.from_dict({"hidden_units": 100})
    with pytest.raises(ValueError, match="unknown keys"):
        lc.from_custom_config({"preset": "tiny", "keep_prob": 0.5})
    cfg = lc.LMConfig.from_dict({"cell": "gru", "hidden_size": 64})
    assert cfg.cell == "gru" and cfg.embedding_size == 64  # embedding_dim follows


@pytest.mark.parametrize("bad, match", [
    ({"cell": "rnn"}, "cell must be one of"),
    ({"optimizer": "rmsprop"}, "optimizer must be one of"),
    ({"dropout": 1.0}, "dropout must be in"),
    ({"num_layers": 0}, "must be >= 1"),
    ({"hidden_size": 2.5}, "must be an integer"),
    ({"stateful": "yes"}, "true or false"),
    ({"max_grad_norm": 0}, "max_grad_norm"),
    ({"lr_decay": 1.5}, "lr_decay"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"init_scale": 0}, "init_scale"),
])
def test_values_are_validated(bad, match):
    with pytest.raises(ValueError, match=match):
        lc.LMConfig.from_dict(bad)


def test_presets_are_zarembas():
    small, medium, large = (lc.CONFIGS[n] for n in ("small", "medium", "large"))
    assert (small.num_layers, small.hidden_size, small.num_steps, small.batch_size,
            small.dropout, small.init_scale, small.max_grad_norm, small.decay_after,
            small.lr_decay, small.epochs) == (2, 200, 20, 20, 0.0, 0.1, 5.0, 4, 0.5, 13)
    assert (medium.hidden_size, medium.num_steps, medium.dropout, medium.init_scale,
            medium.max_grad_norm, medium.decay_after, medium.lr_decay, medium.epochs) == \
        (650, 35, 0.5, 0.05, 5.0, 6, 0.8, 39)
    assert (large.hidden_size, large.num_steps, large.dropout, large.init_scale,
            large.max_grad_norm, large.decay_after, large.epochs) == \
        (1500, 35, 0.65, 0.04, 10.0, 14, 55)
    assert large.lr_decay == pytest.approx(1 / 1.15)
    for cfg in (small, medium, large):
        assert (cfg.cell, cfg.optimizer, cfg.learning_rate, cfg.batch_size) == \
            ("lstm", "sgd", 1.0, 20)
    assert lc.PUBLISHED_TEST_PERPLEXITY == pytest.approx(
        {"small": 115.9, "medium": 82.1, "large": 78.3}, abs=0.05)
    assert lc.PUBLISHED_VOCAB_SIZE == 10_000
    assert lc.LMConfig() == small  # the dataclass defaults are the small preset


def test_zaremba_decay_schedule():
    small = lc.CONFIGS["small"]
    # Epochs 1-4 at 1.0, then halving every epoch.
    assert [small.learning_rate_at(e) for e in range(7)] == \
        [1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.125]
    medium = lc.CONFIGS["medium"]
    assert medium.learning_rate_at(5) == 1.0
    assert medium.learning_rate_at(6) == pytest.approx(0.8)


def test_custom_config_overrides_a_preset():
    cfg = lc.from_custom_config({"preset": "medium", "epochs": 2, "cell": "gru"})
    assert (cfg.hidden_size, cfg.dropout, cfg.epochs, cfg.cell) == (650, 0.5, 2, "gru")
    assert lc.from_custom_config(None) == lc.LMConfig()
    with pytest.raises(ValueError, match="unknown LM preset"):
        lc.from_custom_config({"preset": "huge"})
    # Presets are not mutated by overrides.
    assert lc.CONFIGS["medium"].epochs == 39
    assert dataclasses.asdict(lc.preset("tiny")) == dataclasses.asdict(lc.CONFIGS["tiny"])
