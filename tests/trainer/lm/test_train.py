"""The LM training loop: learns, carries state, logs, and gives the same result on 2 replicas."""
import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from trainer.lm import config as lc, data, evaluation as ev, train

from tests.paths import REPO
QUIET = lambda _: None  # noqa: E731


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_repetitive_corpus_is_learned(cell, tmp_path):
    # "a b c d e" repeated (ids 2..6 of a 7-word vocabulary): fully predictable.
    cfg = dataclasses.replace(lc.preset("tiny"), cell=cell, batch_size=10, num_steps=10,
                              epochs=2, seed=3)
    ids = np.tile(np.arange(2, 7), 2020)  # 10 rows of 1010: 100 windows per epoch
    result = train.train(ids, ids[:1500], 7, cfg, log_dir=str(tmp_path / "logs"), log=QUIET)
    assert result.steps == 2 * data.window_count(ids.size, 10, 10) == 200
    assert result.eval_perplexity[-1] < 1.5
    assert result.train_perplexity[0] > result.train_perplexity[-1]
    assert result.learning_rates == [cfg.learning_rate_at(0), cfg.learning_rate_at(1)]
    assert result.tokens_per_sec > 0 and len(result.epoch_seconds) == 2
    assert result.train_tokens_per_epoch == 100 * 100
    # The returned model is the configured one (stateful, fixed batch) with the weights.
    assert result.model.input_shape == (10, None)
    windows = data.batch_windows(ids[:1500], 10, 10)
    assert ev.evaluate(result.model, windows).perplexity == pytest.approx(
        result.eval_perplexity[-1], rel=1e-4)
    stats = result.stats()
    json.dumps(stats)
    assert stats["final_eval_perplexity"] == result.eval_perplexity[-1]
    # TensorBoard scalars in Keras' layout: train and validation perplexity per epoch.
    tags = {}
    for run in ("train", "validation"):
        for path in tf.io.gfile.glob(str(tmp_path / "logs" / run / "events.*")):
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    tags.setdefault((run, value.tag), []).append(
                        (event.step, float(tf.make_ndarray(value.tensor))))
    assert [s for s, _ in tags["train", "epoch_perplexity"]] == [0, 1]
    assert tags["train", "epoch_perplexity"][-1][1] == pytest.approx(
        result.train_perplexity[-1], rel=1e-5)
    assert tags["validation", "epoch_perplexity"][-1][1] == pytest.approx(
        result.eval_perplexity[-1], rel=1e-5)


def test_carried_state_knows_what_a_reset_state_cannot():
    """Windows of 4 tokens read [0, 1, M, N]; M = 2 + i and N = 6 + i with i cycling
    0, 1, 2, 3 from one window to the next (period 16 > num_steps 4). Each window's
    first rows are identical, so from a reset state the target M (after "0 1") is a
    4-way guess: at least ln 4 nats per 4-token window, perplexity >= 4 ** (1/4) =
    1.414 for any model. With the state carried from the previous window (which ended
    with that window's M, N) M is predictable, and a trained model gets close to 1."""
    pattern = np.concatenate([[0, 1, 2 + i, 6 + i] for i in range(4)])
    rows = 8
    train_ids = np.append(np.tile(pattern, rows * 32), 0)  # rows start at phase 0
    eval_ids = np.append(np.tile(pattern, rows * 4), 0)
    cfg = dataclasses.replace(lc.preset("tiny"), hidden_size=64, num_steps=4,
                              batch_size=rows, epochs=3, learning_rate=2e-2,
                              decay_after=10, stateful=True, seed=1)
    result = train.train(train_ids, eval_ids, 10, cfg, log=QUIET)
    windows = data.batch_windows(eval_ids, rows, 4)
    carried = ev.evaluate(result.model, windows, carry_state=True).perplexity
    reset = ev.evaluate(result.model, windows, carry_state=False).perplexity
    assert carried == pytest.approx(result.eval_perplexity[-1], rel=1e-4)
    assert carried < 1.15
    assert reset > 4 ** 0.25 - 1e-3
    assert reset - carried > 0.25


_TWO_REPLICAS = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import trainer
from trainer import strategy
strategy.split_cpu(2)
import numpy as np
from trainer.lm import config, train
cfg = config.LMConfig(**json.loads(sys.argv[2]))
ids = np.array(json.loads(sys.argv[3]))
r = train.train(ids, ids[:300], 30, cfg, strategy=strategy.make_strategy(),
                log=lambda _: None)
print(json.dumps({"strategy": r.strategy, "replicas": r.replicas,
                  "eval": r.eval_perplexity, "train": r.train_perplexity,
                  "weights": [w.tolist() for w in r.model.get_weights()]}))
"""


def test_two_replicas_train_exactly_like_one():
    """Rows sharded per replica, state carried per replica, gradients summed across
    replicas and clipped by their global norm (0.5: clipping is active) give the same
    weights as one device."""
    cfg = lc.LMConfig(cell="lstm", num_layers=1, hidden_size=16, num_steps=5, batch_size=4,
                      epochs=2, learning_rate=0.5, max_grad_norm=0.5, decay_after=1)
    ids = np.random.default_rng(0).integers(0, 30, size=1000)
    one = train.train(ids, ids[:300], 30, cfg, strategy=tf.distribute.get_strategy(),
                      log=QUIET)
    assert one.strategy == "DefaultStrategy" and min(one.grad_norms) > 0.5
    proc = subprocess.run(
        [sys.executable, "-c", _TWO_REPLICAS, REPO, json.dumps(cfg.to_dict()),
         json.dumps(ids.tolist())],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": REPO})
    assert proc.returncode == 0, proc.stderr[-3000:]
    two = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (two["strategy"], two["replicas"]) == ("MirroredStrategy", 2)
    np.testing.assert_allclose(two["eval"], one.eval_perplexity, rtol=1e-4)
    np.testing.assert_allclose(two["train"], one.train_perplexity, rtol=1e-4)
    for a, b in zip(one.model.get_weights(), two["weights"]):
        np.testing.assert_allclose(np.array(b), a, atol=2e-5)


def test_bad_inputs_are_refused():
    cfg = dataclasses.replace(lc.preset("tiny"), batch_size=4, num_steps=5, epochs=1)
    with pytest.raises(ValueError, match="too few ids"):
        train.train(np.arange(10) % 5, np.arange(100) % 5, 5, cfg, log=QUIET)
    with pytest.raises(ValueError, match=r"ids must lie in \[0, 5\)"):
        train.train(np.arange(100), np.arange(100) % 5, 5, cfg, log=QUIET)
