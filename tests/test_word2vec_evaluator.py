"""Word2VecEvaluator's executor: metrics, thresholds, baseline comparison, blessing props."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components import text_corpora, text_example_gen, word2vec_evaluator as w2ve
from trainer.word2vec import config as w2v_config, data as w2v_data, evaluation as w2v_eval, export as w2v_export, model as w2v_model, train as w2v_train

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


def test_absolute_thresholds(setup, tmp_path):
    metrics, blessing = run(setup, tmp_path, "good", max_heldout_loss=0.01)
    assert not metrics["blessed"] and "held-out loss" in metrics["message"]
    assert blessing.get_int_custom_property("blessed") == 0
    metrics, _ = run(setup, tmp_path / "b", "good", baseline="bad", min_ws353_spearman=0.5)
    assert metrics["blessed"]


def test_unknown_threshold_is_rejected():
    with pytest.raises(ValueError, match="unknown thresholds"):
        w2ve.thresholds_with_defaults({"min_accuracy": 0.9})
