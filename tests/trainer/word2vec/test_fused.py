"""word2vec's compiled training op and the kernel "fused" training path."""
import collections
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

from trainer.word2vec import config as w2v_config, data as w2v_data, fused, train as w2v_train

from tests.paths import REPO as ROOT


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _logistic_step(h, out, target, label, alpha, neu1e):
    """word2vec.c's update of one output row; returns the term's loss."""
    f = float(h @ out[target])
    g = (label - _sigmoid(f)) * alpha
    neu1e += g * out[target]
    out[target] += g * h
    return -np.log(_sigmoid(f) if label else 1.0 - _sigmoid(f))


def _only_negative(vocab, word):
    """An alias table that always draws `word`."""
    weights = np.zeros(vocab)
    weights[word] = 1.0
    prob, alias = w2v_data.alias_table(weights)
    return tf.constant(prob), tf.constant(alias, tf.int64)


def _run(emb, out, seqs, *, cbow, window=1, negative=1, neg_word=None, keep=None,
         alpha=0.1):
    vocab = out.shape[0]
    emb_v, out_v = tf.Variable(emb), tf.Variable(out)
    values = np.concatenate(seqs).astype(np.int64)
    splits = np.cumsum([0] + [len(s) for s in seqs]).astype(np.int64)
    keep = np.ones(vocab, np.float32) if keep is None else np.asarray(keep, np.float32)
    prob, alias = _only_negative(vocab, vocab - 1 if neg_word is None else neg_word)
    examples, loss = fused.load_op().word2vec_train_block(
        emb_v.handle, out_v.handle, values, splits, keep, prob, alias, alpha, alpha, 7,
        cbow=cbow, window=window, negative=negative)
    return emb_v.numpy(), out_v.numpy(), int(examples), float(loss)


def _tables(vocab, dim, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-0.5, 0.5, (vocab + 1, dim)).astype(np.float32),
            rng.uniform(-0.5, 0.5, (vocab, dim)).astype(np.float32))


def test_skipgram_updates_match_word2vec_c_in_numpy():
    emb, out = _tables(4, 6)
    got_emb, got_out, examples, loss = _run(emb, out, [[0, 1, 2]], cbow=False)
    # Window 1 (no reduced window possible), negatives always word 3: the pairs in
    # word2vec.c's order, each (context row -> center, negative) then the context update.
    e, o = emb.astype(np.float64), out.astype(np.float64)
    want_loss = 0.0
    for center, context in [(0, 1), (1, 0), (1, 2), (2, 1)]:
        neu1e = np.zeros(6)
        h = e[context].copy()
        want_loss += _logistic_step(h, o, center, 1.0, 0.1, neu1e)
        want_loss += _logistic_step(h, o, 3, 0.0, 0.1, neu1e)
        e[context] += neu1e
    assert examples == 4
    np.testing.assert_allclose(got_emb, e, atol=1e-5)
    np.testing.assert_allclose(got_out, o, atol=1e-5)
    assert loss == pytest.approx(want_loss, rel=1e-4)
    assert np.array_equal(got_emb[4], emb[4])  # the OOV row is never trained


def test_cbow_updates_match_word2vec_c_in_numpy():
    emb, out = _tables(5, 6, seed=1)
    got_emb, got_out, examples, loss = _run(emb, out, [[0, 1, 2, 3]], cbow=True, neg_word=4)
    e, o = emb.astype(np.float64), out.astype(np.float64)
    want_loss = 0.0
    for center, contexts in [(0, [1]), (1, [0, 2]), (2, [1, 3]), (3, [2])]:
        neu1e = np.zeros(6)
        h = e[contexts].mean(axis=0)
        want_loss += _logistic_step(h, o, center, 1.0, 0.1, neu1e)
        want_loss += _logistic_step(h, o, 4, 0.0, 0.1, neu1e)
        for c in contexts:  # every context word gets the whole gradient
            e[c] += neu1e
    assert examples == 4
    np.testing.assert_allclose(got_emb, e, atol=1e-5)
    np.testing.assert_allclose(got_out, o, atol=1e-5)
    assert loss == pytest.approx(want_loss, rel=1e-4)


def test_windows_stay_in_their_sequence_and_drop_oov_subsampled_and_target_negatives():
    emb, out = _tables(4, 6)
    # Sequence 2 holds the OOV id 4 and word 1 (kept with probability 0): only 0 and 2
    # remain, so they become neighbours. Negatives are always word 0, skipped when the
    # center is 0 itself.
    got_emb, got_out, examples, _ = _run(emb, out, [[3, 3], [0, 4, 1, 2]], cbow=False,
                                         keep=[1, 0, 1, 1], neg_word=0)
    assert examples == 4  # (3,3) twice, (0,2) and (2,0): never (3,0) across sequences
    assert np.array_equal(got_emb[1], emb[1]) and np.array_equal(got_out[1], out[1])
    assert np.array_equal(got_emb[4], emb[4])


def test_bad_inputs_are_refused():
    emb, out = _tables(4, 6)
    op = fused.load_op()
    emb_v, out_v = tf.Variable(emb), tf.Variable(out)
    prob, alias = _only_negative(4, 3)
    keep = np.ones(4, np.float32)
    values = np.array([0, 1, 2], np.int64)
    with pytest.raises(tf.errors.InvalidArgumentError, match="row_splits"):
        op.word2vec_train_block(emb_v.handle, out_v.handle, values, np.array([0, 2], np.int64),
                                keep, prob, alias, 0.1, 0.1, 1, cbow=False, window=1,
                                negative=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one entry per word"):
        op.word2vec_train_block(emb_v.handle, out_v.handle, values, np.array([0, 3], np.int64),
                                keep[:3], prob, alias, 0.1, 0.1, 1, cbow=False, window=1,
                                negative=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a word id"):
        op.word2vec_train_block(emb_v.handle, out_v.handle, values, np.array([0, 3], np.int64),
                                keep, prob, tf.constant([0, 1, 2, 9], tf.int64), 0.1, 0.1, 1,
                                cbow=False, window=1, negative=1)


_M64 = (1 << 64) - 1


class _Lcg:
    """The op's generator (word2vec.c's), on unsigned 64-bit state."""

    def __init__(self, seed):
        self.state = seed & _M64

    def next(self):
        self.state = (self.state * 25214903917 + 11) & _M64
        return self.state


def _reference(emb, out, seqs, *, cbow, window, negative, keep, prob, alias, alpha_start,
               alpha_end, seed, clip=True, falling=True):
    """The op's loop in float64 numpy, drawing the same random numbers in the same order:
    returns (embeddings, out_weights, examples, loss, counts of the branches taken, the
    closest any logit came to +-6).
    clip=False / falling=False drop the +-6 clip / the falling rate (to show that the
    tests below can tell)."""
    e, o = emb.astype(np.float64), out.astype(np.float64)
    vocab, dim = out.shape
    rnd = _Lcg(seed)
    seen = collections.Counter()
    alphas, negatives_drawn = set(), set()
    state = {"loss": 0.0, "examples": 0, "margin": np.inf}

    def draw():
        negs = []
        for _ in range(negative):
            slot = (rnd.next() >> 16) % vocab
            coin = (rnd.next() >> 40) / 16777216.0
            if coin < prob[slot]:
                negs.append(slot)
                seen["slot kept"] += 1
            else:
                negs.append(int(alias[slot]))
                seen["alias taken"] += 1
        negatives_drawn.update(negs)
        return negs

    def step(h, target, label, alpha, neu1e):
        f = float(h @ o[target])
        state["margin"] = min(state["margin"], abs(abs(f) - 6.0))
        if clip and f > 6:
            g = (label - 1.0) * alpha
            seen["clip above 6"] += 1
        elif clip and f < -6:
            g = label * alpha
            seen["clip below -6"] += 1
        else:
            g = (label - _sigmoid(f)) * alpha
            seen["sigmoid"] += 1
        state["loss"] += np.logaddexp(0.0, -f if label else f)
        neu1e += g * o[target]
        o[target] += g * h

    next_negs = [draw()]

    def train_center(h, center, alpha):
        negs, next_negs[0] = next_negs[0], draw()
        neu1e = np.zeros(dim)
        step(h, center, 1.0, alpha, neu1e)
        for n in negs:
            if n != center:
                step(h, n, 0.0, alpha, neu1e)
            else:
                seen["negative = target, skipped"] += 1
        return neu1e

    total = sum(len(q) for q in seqs)
    begin = 0
    for seq in seqs:
        alpha = alpha_start + (alpha_end - alpha_start) * begin / total if falling \
            else alpha_start
        alphas.add(alpha)
        begin += len(seq)
        sen = [w for w in seq if 0 <= w < vocab
               and not (keep[w] < 1.0 and keep[w] < (rnd.next() & 0xFFFF) / 65536.0)]
        for i, center in enumerate(sen):
            b = rnd.next() % window
            seen["window shrunk"] += b > 0
            lo, hi = max(0, i - window + b), min(len(sen) - 1, i + window - b)
            context = [sen[j] for j in range(lo, hi + 1) if j != i]
            if cbow:
                if not context:
                    continue
                neu1e = train_center(e[context].mean(axis=0), center, alpha)
                for c in context:  # every context word gets the whole gradient
                    e[c] += neu1e
                state["examples"] += 1
            else:
                for c in context:
                    e[c] += train_center(e[c].copy(), center, alpha)
                    state["examples"] += 1
    seen["distinct rates"] = len(alphas)
    seen["distinct negatives"] = len(negatives_drawn)
    return e, o, state["examples"], state["loss"], seen, state["margin"]


def _run_op(emb, out, seqs, *, cbow, window, negative, keep, prob, alias, alpha_start,
            alpha_end, seed):
    emb_v, out_v = tf.Variable(emb), tf.Variable(out)
    values = np.concatenate(seqs).astype(np.int64)
    splits = np.cumsum([0] + [len(q) for q in seqs]).astype(np.int64)
    examples, loss = fused.load_op().word2vec_train_block(
        emb_v.handle, out_v.handle, values, splits, np.asarray(keep, np.float32),
        np.asarray(prob, np.float32), np.asarray(alias, np.int64), alpha_start, alpha_end,
        seed, cbow=cbow, window=window, negative=negative)
    return emb_v.numpy(), out_v.numpy(), int(examples), float(loss)


def _check_against_reference(emb, out, seqs, atol=1e-5, **kw):
    """Runs the op and the reference on the same inputs, asserts they agree and returns
    the reference's branch counts."""
    got_emb, got_out, examples, loss = _run_op(emb, out, seqs, **kw)
    want_emb, want_out, want_examples, want_loss, seen, margin = _reference(emb, out, seqs,
                                                                            **kw)
    # float32 against float64: a logit within rounding of +-6 could take either branch.
    assert margin > 1e-3
    assert examples == want_examples
    np.testing.assert_allclose(got_emb, want_emb, atol=atol)
    np.testing.assert_allclose(got_out, want_out, atol=atol)
    assert loss == pytest.approx(want_loss, rel=1e-4)
    return seen, got_emb, got_out


@pytest.mark.parametrize("cbow", [False, True])
def test_reduced_window_matches_the_reference(cbow):
    # Window 3 over 12 words: each center's window shrinks by b = rnd % 3, so which pairs
    # (or CBOW contexts) exist depends on the op drawing b as word2vec.c does.
    emb, out = _tables(6, 8, seed=2)
    prob, alias = _only_negative(6, 5)
    seqs = [[0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 1, 3]]
    seen, _, _ = _check_against_reference(
        emb, out, seqs, cbow=cbow, window=3, negative=1, keep=np.ones(6), prob=prob,
        alias=alias, alpha_start=0.1, alpha_end=0.1, seed=11)
    assert 0 < seen["window shrunk"] < 12  # shrunk for some centers, not for others


def test_alias_draw_over_many_words_matches_the_reference():
    counts = np.array([50, 20, 9, 5, 3, 1], np.float64)
    prob, alias = w2v_data.alias_table(counts ** 0.75)
    emb, out = _tables(6, 8, seed=3)
    seqs = [[0, 1, 2, 0, 3, 4, 5, 0, 1, 2], [3, 0, 1, 4, 2]]
    seen, _, _ = _check_against_reference(
        emb, out, seqs, cbow=False, window=2, negative=3, keep=np.ones(6), prob=prob,
        alias=alias, alpha_start=0.1, alpha_end=0.1, seed=5)
    # Both halves of the alias draw ran, over several words, one of them the target.
    assert seen["slot kept"] > 0 and seen["alias taken"] > 0
    assert seen["distinct negatives"] >= 4
    assert seen["negative = target, skipped"] > 0


@pytest.mark.parametrize("cbow", [False, True])
def test_falling_learning_rate_matches_the_reference(cbow):
    # The rate falls from 0.5 to 0.05 over the block, one rate per sequence by its start.
    emb, out = _tables(5, 6, seed=4)
    prob, alias = w2v_data.alias_table(np.array([5.0, 4.0, 3.0, 2.0, 1.0]))
    seqs = [[0, 1, 2, 3], [4, 3, 2], [1, 0, 4, 2, 3], [2, 2, 1], [0, 4]]
    kw = dict(cbow=cbow, window=2, negative=2, keep=np.ones(5), prob=prob, alias=alias,
              alpha_start=0.5, alpha_end=0.05, seed=9)
    seen, got_emb, _ = _check_against_reference(emb, out, seqs, **kw)
    assert seen["distinct rates"] == len(seqs)
    # The start rate throughout differs by more than ten times the tolerance.
    flat_emb = _reference(emb, out, seqs, falling=False, **kw)[0]
    assert np.abs(flat_emb - got_emb).max() > 1e-4


@pytest.mark.parametrize("cbow", [False, True])
def test_logit_clip_at_six_matches_the_reference(cbow):
    # Weights up to +-2 in 16 dimensions: logits go past +-6 on both sides, some not far
    # past, where the clip's zero gradient and the sigmoid's differ most.
    rng = np.random.default_rng(6)
    emb = rng.uniform(-2, 2, (6, 16)).astype(np.float32)
    out = rng.uniform(-2, 2, (5, 16)).astype(np.float32)
    prob, alias = w2v_data.alias_table(np.ones(5))
    seqs = [[0, 1, 2, 3, 4, 2, 0, 3, 1, 4]]
    kw = dict(cbow=cbow, window=2, negative=2, keep=np.ones(5), prob=prob, alias=alias,
              alpha_start=0.3, alpha_end=0.3, seed=3)
    seen, got_emb, got_out = _check_against_reference(emb, out, seqs, **kw)
    assert seen["clip above 6"] > 0 and seen["clip below -6"] > 0 and seen["sigmoid"] > 0
    # Without the clip (the sigmoid's gradient everywhere) the result differs by more than
    # ten times the tolerance.
    free_emb, free_out = _reference(emb, out, seqs, clip=False, **kw)[:2]
    assert max(np.abs(free_emb - got_emb).max(), np.abs(free_out - got_out).max()) > 1e-4


def _call_op(vocab=4, dim=3, graph=False, **overrides):
    """One small valid call of the op with some inputs replaced: a value, or a function
    of the two variables."""
    emb_v = tf.Variable(np.ones((vocab + 1, dim), np.float32))
    out_v = tf.Variable(np.ones((vocab, dim), np.float32))
    prob, alias = w2v_data.alias_table(np.ones(vocab)) if vocab else (
        np.zeros(0, np.float32), np.zeros(0, np.int64))
    args = dict(embeddings=emb_v.handle, out_weights=out_v.handle,
                values=np.array([0, 1, 2], np.int64), row_splits=np.array([0, 3], np.int64),
                keep_prob=np.ones(vocab, np.float32), neg_prob=prob, neg_alias=alias,
                alpha_start=np.float32(0.1), alpha_end=np.float32(0.1), seed=np.int64(1),
                cbow=False, window=1, negative=1)

    def run():  # the replacements are made inside tf.function's graph when graph=True
        for name, value in overrides.items():
            args[name] = value(emb_v, out_v) if callable(value) else value
        return fused.load_op().word2vec_train_block(**args)
    return tf.function(run)() if graph else run()


def _train_on_counts(counts):
    cfg = w2v_config.Word2VecConfig(kernel="fused", embedding_dim=4, epochs=1, loop_threads=1)
    return fused.train(lambda ctx: w2v_data.ragged_blocks([np.arange(5)], 1), counts, cfg)


def _pair(t):
    return lambda emb_v, out_v: tf.stack([t(emb_v, out_v)] * 2)


# Inputs of the wrong shape or size: case -> (call, error type, message). Unchecked, a
# wrong-shaped scalar aborts the process (a failed CHECK in scalar<>()) and an empty
# vocabulary divides by zero, so they run in a process of their own: a regression fails
# these tests instead of ending pytest.
_REFUSALS = {
    "embeddings not a scalar handle": (
        lambda: _call_op(embeddings=_pair(lambda e, o: e.handle)), "InvalidArgumentError",
        "embeddings must be a scalar, got shape [2]"),
    "out_weights not a scalar handle": (
        lambda: _call_op(out_weights=_pair(lambda e, o: o.handle)), "InvalidArgumentError",
        "out_weights must be a scalar, got shape [2]"),
    "values a matrix": (
        lambda: _call_op(values=np.array([[0], [1], [2]], np.int64)), "InvalidArgumentError",
        "values must be a vector, got shape [3,1]"),
    "values a scalar": (
        lambda: _call_op(values=np.int64(0), row_splits=np.array([0, 1], np.int64)),
        "InvalidArgumentError", "values must be a vector, got shape []"),
    "row_splits a matrix": (
        lambda: _call_op(row_splits=np.array([[0, 3]], np.int64)), "InvalidArgumentError",
        "row_splits must be a vector, got shape [1,2]"),
    "keep_prob a matrix": (
        lambda: _call_op(keep_prob=np.ones((2, 2), np.float32)), "InvalidArgumentError",
        "keep_prob must be a vector, got shape [2,2]"),
    "neg_prob a matrix": (
        lambda: _call_op(neg_prob=np.ones((2, 2), np.float32)), "InvalidArgumentError",
        "neg_prob must be a vector, got shape [2,2]"),
    "neg_alias a matrix": (
        lambda: _call_op(neg_alias=np.zeros((2, 2), np.int64)), "InvalidArgumentError",
        "neg_alias must be a vector, got shape [2,2]"),
    "alpha_start a vector": (
        lambda: _call_op(alpha_start=np.float32([0.1, 0.1])), "InvalidArgumentError",
        "alpha_start must be a scalar, got shape [2]"),
    "alpha_end a vector of one": (
        lambda: _call_op(alpha_end=np.float32([0.1])), "InvalidArgumentError",
        "alpha_end must be a scalar, got shape [1]"),
    "seed a matrix": (
        lambda: _call_op(seed=np.int64([[1, 2]])), "InvalidArgumentError",
        "seed must be a scalar, got shape [1,2]"),
    "alpha_start a vector, unknown shape in a graph": (
        lambda: _call_op(graph=True, alpha_start=lambda e, o: (
            tf.compat.v1.placeholder_with_default(tf.constant([0.1, 0.1]), shape=None))),
        "InvalidArgumentError", "alpha_start must be a scalar, got shape [2]"),
    "alpha_start a vector, known shape in a graph": (
        lambda: _call_op(graph=True, alpha_start=lambda e, o: tf.constant([0.1, 0.1])),
        "ValueError", "alpha_start must be a scalar, got shape [2]"),
    "empty vocabulary": (
        lambda: _call_op(vocab=0, values=np.array([0, 1], np.int64),
                         row_splits=np.array([0, 2], np.int64)),
        "InvalidArgumentError", "out_weights has no rows: the vocabulary is empty"),
    "zero-dimension embeddings": (
        lambda: _call_op(dim=0), "InvalidArgumentError", "embeddings have dimension 0"),
    "training on an empty vocabulary": (
        lambda: _train_on_counts(np.zeros(0, np.int64)), "ValueError",
        "the vocabulary is empty"),
    "training on all-zero counts": (
        lambda: _train_on_counts(np.zeros(5, np.int64)), "ValueError",
        "counts must be >= 0 and not all 0"),
    "training on a negative count": (
        lambda: _train_on_counts(np.array([3, 2, -1, 1, 1])), "ValueError",
        "counts must be >= 0 and not all 0"),
}

_RUN_REFUSALS = """
import json
from tests.trainer.word2vec import test_fused as t
for name, (call, _, _) in t._REFUSALS.items():
    try:
        call()
        got = ["no error", ""]
    except Exception as e:  # pylint: disable=broad-except
        got = [type(e).__name__, str(e)]
    print("REFUSAL " + json.dumps([name] + got), flush=True)
"""


@pytest.fixture(scope="module")
def refusals():
    done = subprocess.run([sys.executable, "-c", _RUN_REFUSALS], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    got = {}
    for line in done.stdout.splitlines():
        if line.startswith("REFUSAL "):
            name, kind, message = json.loads(line[len("REFUSAL "):])
            got[name] = (kind, message)
    return got, done


@pytest.mark.parametrize("case", list(_REFUSALS))
def test_wrong_shapes_and_degenerate_sizes_are_errors_not_crashes(refusals, case):
    got, done = refusals
    assert case in got, (f"the process ended (exit {done.returncode}) before this case: "
                         f"{done.stderr[-3000:]}")
    kind, message = got[case]
    _, want_kind, want_message = _REFUSALS[case]
    assert kind == want_kind and want_message in message, (kind, message)


def test_window_below_one_and_negative_negatives_are_refused():
    # window 0 would draw the window's shrink modulo 0.
    with pytest.raises(tf.errors.InvalidArgumentError, match="'window' of 0 must be at least"):
        _call_op(window=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="'negative' of -1 must be at"):
        _call_op(negative=-1)


def test_a_non_finite_logit_makes_the_loss_nan():
    # Context word 1's row is +inf: its pair with center 0 has logit +inf, which the clip
    # turns into a zero gradient and whose loss term is 0, so summing the loss alone would
    # report a finite number while out_weights[0] turns NaN (0 * inf). No negatives.
    emb = np.full((3, 2), 0.1, np.float32)
    emb[1] = np.inf
    out = np.full((2, 2), 0.5, np.float32)
    emb_v, out_v = tf.Variable(emb), tf.Variable(out)
    prob, alias = _only_negative(2, 1)
    examples, loss = fused.load_op().word2vec_train_block(
        emb_v.handle, out_v.handle, np.array([0, 1], np.int64), np.array([0, 2], np.int64),
        np.ones(2, np.float32), prob, alias, 0.1, 0.1, 1, cbow=False, window=1, negative=0)
    assert int(examples) == 2
    assert np.isnan(out_v.numpy()[0]).all()  # the case the loss must not hide
    assert np.isnan(float(loss))


def test_divergence_stops_training():
    seqs, counts = _topic_corpus(n_seq=20)
    cfg = w2v_config.Word2VecConfig(kernel="fused", embedding_dim=8, epochs=2, subsample=0,
                                    learning_rate=1e30, loop_threads=1, seed=1)
    with pytest.raises(FloatingPointError, match="in epoch 1; lower the learning rate"):
        w2v_train.train(lambda ctx: w2v_data.ragged_blocks(seqs, 8, seed=1), counts, cfg)


def test_a_table_that_went_bad_unseen_by_the_loss_stops_training(monkeypatch):
    # An op whose last update overflowed where no later logit read it: its loss is finite,
    # the table is not, and the end-of-epoch check sees it.
    def overflowing(embeddings, out_weights, values, *args, **kwargs):
        table = tf.raw_ops.ReadVariableOp(resource=out_weights, dtype=tf.float32)
        tf.raw_ops.AssignVariableOp(resource=out_weights,
                                    value=tf.tensor_scatter_nd_update(table, [[0, 0]],
                                                                      [np.inf]))
        return tf.constant(len(values), tf.int64), tf.constant(0.5)

    monkeypatch.setattr(fused, "load_op",
                        lambda: types.SimpleNamespace(word2vec_train_block=overflowing))
    seqs, counts = _topic_corpus(n_seq=4)
    cfg = w2v_config.Word2VecConfig(kernel="fused", embedding_dim=8, epochs=1, loop_threads=1)
    with pytest.raises(FloatingPointError, match="out_weights became non-finite in epoch 1"):
        w2v_train.train(lambda ctx: w2v_data.ragged_blocks(seqs, 2, seed=1), counts, cfg)


def test_split_block_keeps_whole_sequences_in_order():
    lengths = [3, 5, 2, 7, 1, 4]
    splits = np.cumsum([0] + lengths)
    values = np.arange(splits[-1])
    pieces = list(fused.split_block(values, splits, 6))
    assert np.array_equal(np.concatenate([v for v, _ in pieces]), values)
    rebuilt = []
    for v, s in pieces:
        assert s[0] == 0 and s[-1] == len(v)
        rebuilt += list(np.diff(s))
    assert rebuilt == lengths
    # Each piece reaches 6 tokens, but the last.
    assert [len(v) for v, _ in pieces] == [8, 9, 5]


def _topic_corpus(n_seq=200, length=30, seed=0):
    # Words 0-19 and 20-39 never share a sequence.
    rng = np.random.RandomState(seed)
    seqs = [rng.randint(0, 20, length) + 20 * (i % 2) for i in range(n_seq)]
    return seqs, np.bincount(np.concatenate(seqs), minlength=40)


@pytest.mark.parametrize("model", ["skipgram", "cbow"])
def test_fused_training_learns_cooccurrence_on_two_threads(model):
    seqs, counts = _topic_corpus()
    cfg = w2v_config.Word2VecConfig(model=model, kernel="fused", embedding_dim=16,
                                    window=3, epochs=3, subsample=0, learning_rate=0.025,
                                    fused_tokens_per_call=500, loop_threads=2, seed=3)
    result = w2v_train.train(lambda ctx: w2v_data.ragged_blocks(seqs, 64, seed=1), counts, cfg)
    vectors = result.model.vectors()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    off = ~np.eye(20, dtype=bool)
    same = np.concatenate([sims[:20, :20][off], sims[20:, 20:][off]]).mean()
    assert same - sims[:20, 20:].mean() > 0.3
    assert result.losses[-1] < result.losses[0]
    # 6,000 tokens an epoch; skip-gram: at most 2 * window pairs per token.
    assert 0 < result.examples_per_epoch <= (36000 if model == "skipgram" else 6000)
    # Blocks of 64, 64, 64 and 8 sequences of 30 tokens, cut near every 500 tokens.
    assert len(result.epoch_seconds) == 3 and result.steps == 3 * (4 + 4 + 4 + 1)
    assert len(result.losses) == result.steps
    assert np.all(result.model.embeddings.numpy()[40] == 0)


def test_config_refuses_what_the_fused_kernel_does_not_train():
    for fields, name in [({"loss": "nce"}, "loss"), ({"optimizer": "adagrad"}, "optimizer"),
                         ({"reduction": "mean"}, "reduction"),
                         ({"train_biases": True}, "train_biases")]:
        with pytest.raises(ValueError, match=f"kernel 'fused' trains with {name}"):
            w2v_config.Word2VecConfig(kernel="fused", **fields)
    with pytest.raises(ValueError, match="kernel must be one of"):
        w2v_config.Word2VecConfig(kernel="cuda")
    assert w2v_config.Word2VecConfig(kernel="fused").loop_threads == 0  # one per core
    assert w2v_config.Word2VecConfig().loop_threads == 1


def test_a_missing_op_library_is_one_clear_error(monkeypatch):
    fused.load_op.cache_clear()
    monkeypatch.setattr(fused, "OP_MODULE", "trainer.word2vec._no_such_kernels")
    try:
        with pytest.raises(RuntimeError, match="built when this package is installed"):
            fused.load_op()
    finally:
        fused.load_op.cache_clear()


def test_training_under_a_multi_replica_strategy_is_refused():
    # Two logical CPUs must be set before TensorFlow starts: a process of its own.
    code = """
import trainer, tensorflow as tf, numpy as np
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from trainer.word2vec import config, data, train
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
cfg = config.Word2VecConfig(kernel="fused")
try:
    train.train(lambda ctx: data.ragged_blocks([np.arange(10)], 1), np.ones(10), cfg, strategy)
except ValueError as e:
    print("REFUSED:", e)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert "REFUSED: word2vec kernel 'fused' trains on one machine's CPU, but this Trainer " \
           "runs MirroredStrategy with 2 replica(s)" in done.stdout, done.stderr[-2000:]
