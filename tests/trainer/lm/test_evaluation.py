"""Split perplexity (token-weighted), evaluation with carried/reset state, the gate."""
import math

import numpy as np
import pytest
import tensorflow as tf

from trainer.lm import config as lc, data, evaluation as ev, model as lm


def test_uniform_model_has_perplexity_of_the_vocabulary_size():
    vocab = 37
    meter = ev.PerplexityMeter()
    rng = np.random.default_rng(0)
    for _ in range(3):
        targets = rng.integers(0, vocab, size=(4, 6))
        meter.add_logits(tf.fill([4, 6, vocab], 2.5), targets)  # all logits equal
    assert meter.tokens == 72
    assert meter.result() == pytest.approx(vocab, rel=1e-6)


def test_split_perplexity_weights_by_tokens():
    # Batch 1: 1 token at loss 3 nats; batch 2: 9 tokens at loss 1 nat each.
    meter = ev.PerplexityMeter()
    meter.add(3.0, 1)
    meter.add(9.0, 9)
    right = math.exp(12.0 / 10)
    mean_of_batches = (math.exp(3.0) + math.exp(1.0)) / 2
    assert meter.result() == pytest.approx(right)
    assert abs(meter.result() - mean_of_batches) > 5  # 3.32 vs 11.4
    # The same through logits: a one-token batch and a nine-token batch.
    logits_a = tf.constant([[[0.0, 3.0, 3.0, 3.0]]])  # p(target 0) small
    logits_b = tf.zeros([3, 3, 4])
    m2 = ev.PerplexityMeter()
    m2.add_logits(logits_a, [[0]])
    m2.add_logits(logits_b, np.zeros([3, 3], np.int64))
    nll_a = float(ev.token_nll(logits_a, [[0]])[0, 0])
    assert m2.result() == pytest.approx(math.exp((nll_a + 9 * math.log(4)) / 10), rel=1e-6)
    # Padding masked out by weights counts neither loss nor tokens.
    m3 = ev.PerplexityMeter()
    m3.add_logits(tf.zeros([1, 4, 4]), [[0, 1, 2, 3]], weights=[[1, 1, 0, 0]])
    assert m3.tokens == 2 and m3.result() == pytest.approx(4.0, rel=1e-6)
    with pytest.raises(ValueError):
        ev.perplexity(1.0, 0)
    assert ev.perplexity(1e6, 1) == math.inf


def test_evaluate_carries_or_resets_the_state():
    cfg = lc.LMConfig(num_layers=1, hidden_size=8, batch_size=2, num_steps=4,
                      init_scale=0.5)
    stateful = lm.build(11, cfg)
    explicit = lm.copy_weights(stateful, lm.build(11, cfg, stateful=False, with_state=True))
    fresh = lm.copy_weights(stateful, lm.build(11, cfg, stateful=False))
    ids = np.arange(90) % 11
    windows = data.batch_windows(ids, 2, 4)
    carried = ev.evaluate(stateful, windows)
    assert carried.windows == data.window_count(90, 2, 4) == 11
    assert carried.tokens == 11 * 2 * 4
    # The explicit-state form carries the same state, so it scores the same.
    assert ev.evaluate(explicit, windows).perplexity == pytest.approx(carried.perplexity,
                                                                      rel=1e-5)
    reset = ev.evaluate(stateful, windows, carry_state=False)
    assert ev.evaluate(fresh, windows).perplexity == pytest.approx(reset.perplexity,
                                                                   rel=1e-5)
    assert ev.evaluate(explicit, windows, carry_state=False).perplexity == \
        pytest.approx(reset.perplexity, rel=1e-5)
    assert abs(carried.total_nll - reset.total_nll) > 1e-3
    # By hand: the mean per-token loss of the stateless model over all windows.
    nll = [ev.token_nll(fresh(x), y).numpy() for x, y in windows]
    assert reset.perplexity == pytest.approx(math.exp(np.mean(nll)), rel=1e-5)
    with pytest.raises(ValueError, match="cannot carry"):
        ev.evaluate(fresh, windows, carry_state=True)
    with pytest.raises(TypeError):
        ev.evaluate(object(), windows)


def test_decide_ceiling_baseline_and_nan():
    blessed, reasons = ev.decide(150.0, None, max_perplexity=120.0, max_increase=0.02)
    assert not blessed and any("ceiling" in r and r.startswith("refused") for r in reasons)
    blessed, reasons = ev.decide(110.0, 100.0, max_perplexity=120.0, max_increase=0.05)
    assert not blessed and any("baseline" in r and r.startswith("refused") for r in reasons)
    blessed, reasons = ev.decide(104.0, 100.0, max_perplexity=120.0, max_increase=0.05)
    assert blessed and all(r.startswith("ok") for r in reasons)
    blessed, _ = ev.decide(95.0, 100.0, max_perplexity=120.0, max_increase=0.0)
    assert blessed
    blessed, _ = ev.decide(100.5, 100.0, max_perplexity=None, max_increase=0.0)
    assert not blessed  # "no worse than the baseline" at all
    for bad in (float("nan"), float("inf"), None, "x", 0.5):
        blessed, reasons = ev.decide(bad, 100.0, max_perplexity=1e9, max_increase=1.0)
        assert not blessed and reasons[0].startswith("refused")
    # A baseline that is not a number cannot be compared with: only the ceiling counts.
    blessed, reasons = ev.decide(90.0, float("nan"), max_perplexity=100.0,
                                 max_increase=0.0)
    assert blessed and any("not finite" in r for r in reasons)
    blessed, reasons = ev.decide(90.0, None, max_perplexity=100.0, max_increase=0.0)
    assert blessed and any("no baseline" in r for r in reasons)
    with pytest.raises(ValueError):
        ev.decide(90.0, 80.0, max_perplexity=None, max_increase=-0.1)
