"""Word2VecEvaluator's executor: metrics, thresholds, baseline comparison, blessing props."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components import text_corpora, text_example_gen
from components.word2vec import evaluator as w2ve
from trainer.word2vec import config as w2v_config, data as w2v_data, evaluation as w2v_eval, export as w2v_export, train as w2v_train

WORDS = [f"w{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(40)]


def topic_corpus(seed, n_seq=300, length=40):
    rng = np.random.RandomState(seed)
    return [rng.randint(0, 20, length) + 20 * (i % 2) for i in range(n_seq)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("w2ve")
    seqs = topic_corpus(0)
    counts = np.bincount(np.concatenate(seqs), minlength=40)
    vocab = root / "vocab"
    vocab.write_text("".join(f"{c} {w}\n" for w, c in zip(WORDS, counts)))
    models = {}
    for name, lr in (("good", 0.025), ("bad", 1e-6)):
        cfg = w2v_config.Word2VecConfig(embedding_dim=16, window=3, epochs=2, batch_size=256,
                                      num_sampled=8, subsample=0, learning_rate=lr,
                                      steps_per_loop=20, seed=3)
        res = w2v_train.train(lambda ctx: w2v_data.ragged_blocks(seqs, 64), counts, cfg)
        art = standard_artifacts.Model()
        art.uri = str(root / name)
        art.id = {"good": 11, "bad": 12}[name]
        w2v_export.export(res.model, cfg, str(vocab), WORDS, counts,
                            os.path.join(art.uri, "Format-Serving"))
        models[name] = art
    # Raw held-out examples (what the TextExampleGen writes), including one OOV token.
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = '["train", "eval"]'
    os.makedirs(os.path.join(examples.uri, "Split-eval"))
    with tf.io.TFRecordWriter(os.path.join(examples.uri, "Split-eval", "data.gz"),
                              options="GZIP") as w:
        for i, seq in enumerate(topic_corpus(1, n_seq=40)):
            toks = [WORDS[j] for j in seq] + (["zzunknown"] if i == 0 else [])
            w.write(text_example_gen.to_example(
                text_corpora.Chunk("doc", i, toks), "src").SerializeToString())
    pairs = root / "pairs.tsv"
    pairs.write_text("".join(f"{WORDS[a]}\t{WORDS[b]}\t{9.0 if (a < 20) == (b < 20) else 1.0}\n"
                             for a, b in [(0, 1), (0, 25), (21, 22), (3, 30), (5, 9),
                                          (25, 39), (10, 35), (12, 13)]))
    analogies = root / "analogies.txt"
    analogies.write_text(f": toy\n{WORDS[0]} {WORDS[1]} {WORDS[20]} {WORDS[21]}\n"
                         f"{WORDS[0]} {WORDS[1]} {WORDS[2]} oovword\n")
    return {"root": root, "models": models, "examples": examples, "pairs": str(pairs),
            "analogies": str(analogies)}


def run(setup, tmp_path, candidate, baseline=None, **thresholds):
    evaluation, blessing = standard_artifacts.ModelEvaluation(), standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(tmp_path / "evaluation"), str(tmp_path / "blessing")
    os.makedirs(blessing.uri)
    inputs = {"examples": [setup["examples"]], "model": [setup["models"][candidate]]}
    if baseline:
        inputs["baseline_model"] = [setup["models"][baseline]]
    props = {"thresholds": json.dumps(w2ve.thresholds_with_defaults(
                 {"max_analogy_drop": 1.0, **thresholds})),
             "word_pairs_path": setup["pairs"], "analogies_path": setup["analogies"]}
    w2ve.Executor().Do(inputs, {"evaluation": [evaluation], "blessing": [blessing]}, props)
    return w2ve.read_metrics(evaluation.uri), blessing


def test_good_model_without_baseline_is_blessed(setup, tmp_path):
    metrics, blessing = run(setup, tmp_path, "good", min_ws353_spearman=0.5)
    c = metrics["candidate"]
    assert c["ws353_spearman"] > 0.5 and c["ws353_pairs"] == 8
    assert c["analogy_questions"] == 1 and c["analogy_coverage"] == 0.5
    assert c["eval_tokens"] == 40 * 40 + 1
    assert c["eval_oov_rate"] == pytest.approx(1 / 1601)
    assert c["heldout_examples"] > 1000 and np.isfinite(c["heldout_loss"])
    assert metrics["baseline"] is None and metrics["blessed"]
    assert blessing.get_int_custom_property("blessed") == 1
    assert blessing.get_int_custom_property("current_model_id") == 11
    assert blessing.get_string_custom_property("current_model") == setup["models"]["good"].uri
    assert os.path.exists(os.path.join(blessing.uri, "BLESSED"))


def test_regression_against_the_baseline_is_not_blessed(setup, tmp_path):
    metrics, blessing = run(setup, tmp_path, "bad", baseline="good")
    assert metrics["baseline"]["ws353_spearman"] > metrics["candidate"]["ws353_spearman"] + 0.1
    assert metrics["candidate"]["heldout_loss"] > metrics["baseline"]["heldout_loss"]
    assert not metrics["blessed"] and "below the blessed baseline" in metrics["message"]
    assert blessing.get_int_custom_property("blessed") == 0
    assert blessing.get_int_custom_property("baseline_model_id") == 11
    assert os.path.exists(os.path.join(blessing.uri, "NOT_BLESSED"))


def test_an_empty_baseline_counts_as_none(setup, tmp_path):
    """ServingBaseline's output when nothing is in service: judged on the absolute bars."""
    empty = standard_artifacts.Model()
    empty.uri, empty.id = str(tmp_path / "empty"), 13
    empty.set_int_custom_property("has_model", 0)
    setup["models"]["empty"] = empty
    metrics, blessing = run(setup, tmp_path, "bad", baseline="empty")
    assert metrics["baseline"] is None and metrics["baseline_uri"] is None
    assert metrics["blessed"] and "no model in service" in metrics["message"]
    assert not blessing.has_custom_property("baseline_model_id")


def test_absolute_thresholds(setup, tmp_path):
    metrics, blessing = run(setup, tmp_path, "good", max_heldout_loss=0.01)
    assert not metrics["blessed"] and "held-out loss" in metrics["message"]
    assert blessing.get_int_custom_property("blessed") == 0
    metrics, _ = run(setup, tmp_path / "b", "good", baseline="bad", min_ws353_spearman=0.5)
    assert metrics["blessed"]


def test_unknown_threshold_is_rejected():
    with pytest.raises(ValueError, match="unknown thresholds"):
        w2ve.thresholds_with_defaults({"min_accuracy": 0.9})


# ------------------------------------------------------------------ every gate can refuse
SCORES = {"ws353_spearman": 0.24, "analogy_accuracy": 0.016, "heldout_loss": 2.10}
GATES_OFF = {k: None for k in w2ve.DEFAULT_THRESHOLDS}


@pytest.mark.parametrize("gate, bound, candidate, baseline, message", [
    ("min_ws353_spearman", 0.15, {"ws353_spearman": 0.10}, None, "WS353 Spearman 0.1000 < 0.15"),
    ("min_ws353_spearman", 0.15, {"ws353_spearman": float("nan")}, None, "WS353 Spearman nan"),
    ("min_analogy_accuracy", 0.005, {"analogy_accuracy": 0.001}, None,
     "analogy accuracy 0.0010 < 0.005"),
    ("max_heldout_loss", 2.5, {"heldout_loss": 2.6}, None, "held-out loss 2.6000 > 2.5"),
    ("max_ws353_drop", 0.05, {"ws353_spearman": 0.18}, {},
     "WS353 Spearman 0.1800 is more than 0.05 below the blessed baseline's 0.2400"),
    ("max_analogy_drop", 0.005, {"analogy_accuracy": 0.010}, {},
     "analogy accuracy 0.0100 is more than 0.005 below the blessed baseline's 0.0160"),
    ("max_heldout_loss_increase", 0.05, {"heldout_loss": 2.21}, {},
     "held-out loss 2.2100 is more than 5% above the blessed baseline's 2.1000"),
])
def test_each_gate_refuses_on_its_own(gate, bound, candidate, baseline, message):
    cand = {**SCORES, **candidate}
    base = None if baseline is None else dict(SCORES)
    failures = w2ve.decide(cand, base, {**GATES_OFF, gate: bound})
    assert len(failures) == 1 and failures[0].startswith(message)
    # The same scores pass when that gate is off, and the healthy scores pass it.
    assert w2ve.decide(cand, base, GATES_OFF) == []
    assert w2ve.decide(dict(SCORES), base, {**GATES_OFF, gate: bound}) == []


def test_held_out_loss_within_the_margin_passes_and_a_nan_baseline_is_not_compared():
    t = {**GATES_OFF, "max_heldout_loss_increase": 0.05}
    assert w2ve.decide({**SCORES, "heldout_loss": 2.20}, dict(SCORES), t) == []
    assert w2ve.decide({**SCORES, "heldout_loss": 9.0},
                       {**SCORES, "heldout_loss": float("nan")}, t) == []
    assert w2ve.decide({**SCORES, "heldout_loss": float("nan")}, dict(SCORES), t)


def test_the_registry_bars_refuse_random_vectors_on_the_embedded_corpus(tmp_path):
    """Random vectors over the embedded excerpt's vocabulary (min count 5, as the
    pipeline's Transform builds it) against the real WS353 pairs and analogy questions."""
    import collections
    from components import datasets
    from trainer.word2vec import specs

    tokens = collections.Counter(t for c in text_corpora.read_corpus(
        datasets.embedded_wiki(str(tmp_path))) for t in c.tokens)
    words = [w for w, n in tokens.most_common() if n >= 5]
    pairs = w2v_eval.load_word_pairs(w2v_eval.ws353_path())
    questions = w2v_eval.load_analogies(w2v_eval.analogies_path())
    for seed in range(3):
        vectors = np.random.RandomState(seed).normal(size=(len(words), 100)).astype(np.float32)
        ana = w2v_eval.analogy_accuracy(vectors, words, questions)
        sim = w2v_eval.word_similarity(vectors, words, pairs)
        assert ana.questions_used > 1000 and ana.accuracy < 0.002, ana
        scores = {"ws353_spearman": sim.spearman, "analogy_accuracy": ana.accuracy,
                  "heldout_loss": 4.0}
        for model in ("skipgram", "cbow"):
            spec = specs.MODELS[model]
            failures = w2ve.decide(scores, None, {
                **GATES_OFF, "min_analogy_accuracy": spec.min_analogy_accuracy})
            assert failures and failures[0].startswith("analogy accuracy")
            assert w2ve.decide(scores, None, {
                **GATES_OFF, "min_ws353_spearman": spec.min_ws353_spearman})
