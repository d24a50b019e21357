"""word2vec's compiled training op and the kernel "fused" training path."""
import os
import subprocess
import sys

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
