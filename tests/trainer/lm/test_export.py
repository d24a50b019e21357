"""The LM SavedModel: scoring agrees with Keras, next words, <unk> mapping, warm-up replay."""
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from trainer.lm import config as lc, data, evaluation as ev, export, model as lm
from trainer.serving import warmup

WORDS = ["<unk>", "<eos>", "the", "cat", "sat", "on", "mat", "a", "dog"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tf.keras.utils.set_random_seed(5)
    # Dropout on: serving must switch it off (training=False), else scores are random.
    cfg = lc.LMConfig(num_layers=2, hidden_size=12, batch_size=3, num_steps=4,
                      init_scale=0.6, dropout=0.5, tie_embeddings=True)
    trained = lm.build(len(WORDS), cfg)  # stateful, fixed batch, as training returns it
    trained(np.ones([3, 4], np.int32))  # leave a non-zero state behind: must not matter
    path = str(tmp_path_factory.mktemp("lm") / "export")
    export.export(trained, cfg, WORDS, path, model_name="lm_test")
    reference = lm.copy_weights(trained, lm.build(len(WORDS), cfg, stateful=False))
    return cfg, trained, reference, tf.saved_model.load(path), path


def reference_log_prob(model, sentence):
    ids = [WORDS.index(w) if w in WORDS else 0 for w in sentence.split()]
    inputs = np.array([[1] + ids], np.int32)  # <eos> before the first word
    targets = np.array([ids + [1]])  # ... and <eos> to end it
    logp = tf.nn.log_softmax(model(inputs, training=False)[0]).numpy()
    return float(sum(logp[t, targets[0, t]] for t in range(len(ids) + 1)))


def test_score_agrees_with_the_keras_model(exported):
    _, _, reference, loaded, _ = exported
    sentences = ["the cat sat on the mat", "a dog", "", "the zebra sat"]
    out = loaded.signatures["serving_default"](sentences=tf.constant(sentences))
    want = [reference_log_prob(reference, s) for s in sentences]
    np.testing.assert_allclose(out["log_prob"].numpy(), want, atol=1e-4)
    lengths = np.array([len(s.split()) + 1 for s in sentences])
    np.testing.assert_allclose(out["perplexity"].numpy(), np.exp(-np.array(want) / lengths),
                               rtol=1e-4)
    # The same sentence alone or in a batch with longer ones scores the same (padding).
    alone = loaded.signatures["serving_default"](sentences=tf.constant(["a dog"]))
    assert float(alone["log_prob"][0]) == pytest.approx(float(out["log_prob"][1]), abs=1e-5)


def test_out_of_vocabulary_words_are_unk(exported):
    _, _, _, loaded, _ = exported
    out = loaded.signatures["serving_default"](
        sentences=tf.constant(["the zebra sat", "the <unk> sat", "the Cat sat"]))
    lp = out["log_prob"].numpy()
    assert lp[0] == pytest.approx(lp[1], abs=1e-6)
    assert lp[2] == pytest.approx(lp[1], abs=1e-6)  # no case folding: "Cat" is unknown


def test_next_words_sorted_top_k(exported):
    _, _, reference, loaded, _ = exported
    out = loaded.signatures["next_words"](prefix=tf.constant(["the cat", ""]),
                                         k=tf.constant(3))
    words, probs = out["words"].numpy(), out["probabilities"].numpy()
    assert words.shape == (2, 3) and probs.shape == (2, 3)
    assert np.all(np.diff(probs, axis=1) <= 0) and np.all(probs.sum(axis=1) <= 1 + 1e-6)
    # The reference distribution after "<eos> the cat".
    logits = reference(np.array([[1, 2, 3]], np.int32), training=False)[0, -1]
    p = tf.nn.softmax(logits).numpy()
    top = np.argsort(-p)[:3]
    assert [w.decode() for w in words[0]] == [WORDS[i] for i in top]
    np.testing.assert_allclose(probs[0], p[top], atol=1e-5)
    # k beyond the vocabulary: every word once, probabilities summing to 1.
    everything = loaded.signatures["next_words"](prefix=tf.constant(["a"]),
                                                k=tf.constant(50))
    assert sorted(w.decode() for w in everything["words"].numpy()[0]) == sorted(WORDS)
    assert float(tf.reduce_sum(everything["probabilities"])) == pytest.approx(1.0, abs=1e-5)


def test_next_words_names_the_prefix_words_read_as_unk(exported):
    _, _, _, loaded, _ = exported
    out = loaded.signatures["next_words"](
        prefix=tf.constant(["the zebra sat Cat", "the cat", "<unk> sat", ""]), k=tf.constant(2))
    assert [w.decode() for w in out["unknown_words"].numpy()] == ["zebra Cat", "", "", ""]
    # The words are named, not changed: the prediction is the one after <unk>.
    same = loaded.signatures["next_words"](prefix=tf.constant(["the <unk> sat <unk>"]),
                                          k=tf.constant(2))
    np.testing.assert_allclose(out["probabilities"].numpy()[0], same["probabilities"].numpy()[0],
                               atol=1e-6)


def test_warmup_records_replay_and_metadata(exported):
    cfg, trained, _, loaded, path = exported
    logs = warmup.read_warmup(path)
    assert sorted(l.predict_log.request.model_spec.signature_name for l in logs) == \
        sorted([export.SCORE_SIGNATURE, export.NEXT_WORDS_SIGNATURE])
    for log in logs:
        request = log.predict_log.request
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        outputs = loaded.signatures[request.model_spec.signature_name](**inputs)
        for value in outputs.values():
            if value.dtype.is_floating:
                assert np.all(np.isfinite(value.numpy()))
    meta = export.load_config(path)
    assert meta["config"] == cfg and meta["vocab_size"] == len(WORDS)
    assert (meta["unk_id"], meta["eos_id"]) == (0, 1)
    with open(os.path.join(path, "assets.extra", export.CONFIG_FILE)) as f:
        assert json.load(f)["state_slots"] == lm.state_slots(cfg)
    assert export.load_vocabulary(loaded) == WORDS
    assert os.path.exists(os.path.join(path, "assets", export.VOCAB_ASSET))


def test_windows_evaluated_through_the_export_match_keras(exported):
    cfg, trained, _, loaded, _ = exported
    ids = np.arange(200) * 7 % len(WORDS)
    windows = data.batch_windows(ids, 3, 4)
    trained.reset_states()
    for carry in (True, False):
        want = ev.evaluate(trained, windows, carry_state=carry)
        got = ev.evaluate(loaded, windows, carry_state=carry)
        assert got.tokens == want.tokens
        assert got.perplexity == pytest.approx(want.perplexity, rel=1e-5)
        assert math.isfinite(got.perplexity)


def test_export_refuses_a_mismatched_vocabulary(exported, tmp_path):
    cfg, trained, _, _, _ = exported
    with pytest.raises(ValueError, match="word ids"):
        export.export(trained, cfg, WORDS[:-1], str(tmp_path / "a"))
    with pytest.raises(ValueError, match="must start with"):
        export.export(trained, cfg, ["the"] + WORDS[1:], str(tmp_path / "b"))
