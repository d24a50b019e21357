"""LanguageModelEvaluator's executor: whole-split perplexity of the raw eval tokens through
each model's own vocabulary, the ceiling and baseline gates, and the blessing."""
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from components import text_corpora, text_example_gen
from components.lm import evaluator as lme
from trainer.lm import config as lc, export, model as lm, train
from trainer.lm.preprocessing import EOS_ID, UNK_ID

WORDS = ["<unk>", "<eos>", "the", "cat", "sat", "on", "mat", "a", "dog", "ran"]
SENTENCE = ["the", "cat", "sat", "on", "the", "mat"]  # repeated: an easy text to learn


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("lme")
    ids = np.array([WORDS.index(w) for w in SENTENCE] * 200 + [EOS_ID], np.int32)
    cfg = lc.LMConfig(num_layers=1, hidden_size=16, batch_size=4, num_steps=6, dropout=0.0,
                      optimizer="adam", learning_rate=0.01, epochs=3, decay_after=10)
    models = {}
    for name, epochs in (("trained", 3), ("untrained", 0)):
        tf.keras.utils.set_random_seed(1)
        if epochs:
            net = train.train(ids, ids[:300], len(WORDS), cfg, log=lambda _: None).model
        else:
            net = lm.build(len(WORDS), cfg)
        art = standard_artifacts.Model()
        art.uri, art.id = str(root / name), {"trained": 21, "untrained": 22}[name]
        export.export(net, cfg, WORDS, os.path.join(art.uri, "Format-Serving"))
        models[name] = art
    # Raw held-out examples as the TextExampleGen writes them, one unknown word included.
    examples = standard_artifacts.Examples()
    examples.uri = str(root / "examples")
    examples.split_names = '["train", "eval"]'
    os.makedirs(os.path.join(examples.uri, "Split-eval"))
    with tf.io.TFRecordWriter(os.path.join(examples.uri, "Split-eval", "data.gz"),
                              options="GZIP") as w:
        for i in range(20):
            tokens = SENTENCE * 5 + (["zebra"] if i == 0 else [])
            w.write(text_example_gen.to_example(
                text_corpora.Chunk("doc", i, tokens), "src").SerializeToString())
    return {"models": models, "examples": examples}


def run(setup, tmp_path, candidate, baseline=None, **thresholds):
    evaluation = standard_artifacts.ModelEvaluation()
    blessing = standard_artifacts.ModelBlessing()
    evaluation.uri, blessing.uri = str(tmp_path / "evaluation"), str(tmp_path / "blessing")
    os.makedirs(blessing.uri)
    inputs = {"examples": [setup["examples"]], "model": [setup["models"][candidate]]}
    if baseline:
        inputs["baseline_model"] = [setup["models"][baseline]]
    props = {"thresholds": json.dumps(lme.thresholds_with_defaults(thresholds)),
             "eval_rows": 2, "eval_num_steps": 6}
    lme.Executor().Do(inputs, {"evaluation": [evaluation], "blessing": [blessing]}, props)
    return lme.read_scores(evaluation.uri), blessing


def test_token_stream_maps_unknown_words_and_ends_chunks():
    blocks = [tf.ragged.constant([["the", "cat"], ["zebra"]])]
    assert lme.token_stream(blocks, WORDS).tolist() == [2, 3, EOS_ID, UNK_ID, EOS_ID]


def test_a_trained_model_is_blessed_under_the_ceiling(setup, tmp_path):
    scores, blessing = run(setup, tmp_path, "trained", max_perplexity=3.0)
    c = scores["candidate"]
    assert 1.0 <= c["perplexity"] < 3.0  # the repeated sentence is nearly certain
    assert c["perplexity"] == pytest.approx(math.exp(c["cross_entropy"]))
    assert c["vocab_size"] == len(WORDS) and c["eval_unk_rate"] > 0
    assert scores["blessed"] and scores["baseline"] is None
    assert blessing.get_int_custom_property("blessed") == 1
    assert blessing.get_int_custom_property("current_model_id") == 21
    assert os.path.exists(os.path.join(blessing.uri, "BLESSED"))


def test_the_ceiling_refuses(setup, tmp_path):
    scores, blessing = run(setup, tmp_path, "untrained", max_perplexity=3.0)
    assert scores["candidate"]["perplexity"] > 3.0
    assert not scores["blessed"] and "above the ceiling" in scores["message"]
    assert blessing.get_int_custom_property("blessed") == 0
    assert os.path.exists(os.path.join(blessing.uri, "NOT_BLESSED"))


def test_worse_than_the_served_model_is_refused(setup, tmp_path):
    scores, blessing = run(setup, tmp_path, "untrained", baseline="trained")
    assert scores["baseline"]["perplexity"] < scores["candidate"]["perplexity"]
    assert not scores["blessed"] and "worse than the baseline" in scores["message"]
    assert blessing.get_int_custom_property("baseline_model_id") == 21
    scores, _ = run(setup, tmp_path / "b", "trained", baseline="untrained")
    assert scores["blessed"]


def test_an_empty_baseline_counts_as_none(setup, tmp_path):
    empty = standard_artifacts.Model()
    empty.uri, empty.id = str(tmp_path / "empty"), 23
    empty.set_int_custom_property("has_model", 0)
    setup["models"]["empty"] = empty
    scores, blessing = run(setup, tmp_path, "untrained", baseline="empty")
    assert scores["baseline"] is None and scores["blessed"]
    assert not blessing.has_custom_property("baseline_model_id")


def test_an_eval_split_shorter_than_one_window_is_an_error(setup, tmp_path):
    with pytest.raises(ValueError, match="fewer than one window"):
        lme.score_model(os.path.join(setup["models"]["trained"].uri, "Format-Serving"),
                        [tf.ragged.constant([["the"]])], rows=2, num_steps=6)


def test_unknown_threshold_is_rejected():
    with pytest.raises(ValueError, match="unknown thresholds"):
        lme.thresholds_with_defaults({"min_perplexity": 1.0})
