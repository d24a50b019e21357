"""End to end: LSTM and GRU language models through the text pipeline with LocalDagRunner,
on a small PTB-format corpus: trained, gated by perplexity, pushed, served."""
import glob
import json
import math
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from components import datasets, text_corpora
from pipelines import cli, tasks
from pipelines.runners import local as local_runner
from tests.serving_standins import GrpcServer, RestServer, assert_every_signature_was_checked
from trainer.contract import KERAS_FILE
from trainer.lm.preprocessing import EOS_ID, UNK_ID

pytestmark = pytest.mark.e2e


def ptb_folder(root, n_lines=600, words_per_line=12):
    """Real article text from the embedded excerpt, as PTB's train/valid/test line files."""
    tokens = []
    for chunk in text_corpora.read_corpus(datasets.embedded_wiki(str(root / "cache"))):
        tokens += chunk.tokens
        if len(tokens) >= n_lines * words_per_line:
            break
    lines = [" ".join(tokens[i:i + words_per_line])
             for i in range(0, n_lines * words_per_line, words_per_line)]
    folder = root / "ptb"
    folder.mkdir()
    cut1, cut2 = int(len(lines) * 0.8), int(len(lines) * 0.9)
    for name, part in (("ptb.train.txt", lines[:cut1]), ("ptb.valid.txt", lines[cut1:cut2]),
                       ("ptb.test.txt", lines[cut2:])):
        (folder / name).write_text("\n".join(part) + "\n")
    return str(folder)


def run(corpus, workspace, models, **settings):
    # The registry's ceiling is for the embedded corpus and its 10,000 words; here the
    # bar is the uniform model over the 500 words.
    settings.setdefault("max_perplexity", 500.0)
    config = tasks.make_config("text", models, data_dir=corpus, workspace=workspace,
                               epochs=1, vocab_size=500, max_eval_tokens=5000, **settings)
    return config, local_runner.run_pipeline(config, echo=lambda _: None)


def versions(config, model):
    return sorted(os.listdir(os.path.join(config.serving_root, f"text_{model}")))


@pytest.fixture(scope="module")
def trained(lm_trained):
    """One run of both models, pushed: (config, result, workspace) (conftest.py)."""
    return lm_trained


def test_lstm_and_gru_are_trained_gated_and_pushed(trained):
    config, result, ws = trained
    states = {n.node_id: n.state for n in result.nodes.values()}
    assert all(s == "COMPLETE" for s in states.values()), states
    summary = local_runner.format_summary(config, result)
    for m in result.models:
        assert m.blessed and m.pushed_path, m
        ppl = m.metrics["perplexity"]
        # One epoch on ~6,000 tokens: far better than uniform over the 500 words, and a
        # finite whole-split figure.
        assert math.isfinite(ppl) and 1.0 < ppl < 500, ppl
        assert f"eval perplexity {ppl:.1f}" in summary
        served = tf.saved_model.load(m.pushed_path)
        assert {"serving_default", "next_words"} <= set(served.signatures)

        # The served scoring agrees with the trained Keras model, token by token.
        keras_model = tf.keras.models.load_model(
            glob.glob(os.path.join(ws, "pipelines", config.name,
                                   f"Trainer.{m.model}", "model_run", "*", KERAS_FILE))[0],
            compile=False)
        words = [w.decode() for w in served.words.numpy()]
        sentence = words[5:12]
        ids = [EOS_ID] + [words.index(w) for w in sentence] + [EOS_ID]
        expected = keras_log_prob(keras_model, ids)
        got = served.signatures["serving_default"](sentences=tf.constant([" ".join(sentence)]))
        np.testing.assert_allclose(got["log_prob"].numpy()[0], expected, rtol=1e-4, atol=1e-3)
        assert got["perplexity"].numpy()[0] == pytest.approx(
            math.exp(-expected / (len(sentence) + 1)), rel=1e-3)
        nxt = served.signatures["next_words"](prefix=tf.constant([" ".join(sentence[:3])]),
                                              k=tf.constant(5))
        probs = nxt["probabilities"].numpy()[0]
        assert nxt["words"].shape == (1, 5) and np.all(np.diff(probs) <= 1e-7)
        assert served.signatures["serving_default"](
            sentences=tf.constant(["qqqqzz"]))["log_prob"].shape == (1,)


@pytest.fixture(scope="module")
def servers(trained):
    _, result, _ = trained
    models = {f"text_{m.model}": m.pushed_path for m in result.models}
    rest, grpc_server = RestServer(models), GrpcServer(models)
    yield {"--rest": rest.url, "--grpc": grpc_server.target}
    rest.close()
    grpc_server.close()


def test_every_signature_of_the_pushed_models_passes_the_servability_check(trained):
    _, result, _ = trained
    assert_every_signature_was_checked(result, "text_")


@pytest.mark.parametrize("flag", ["--rest", "--grpc"])
def test_predict_prints_next_word_candidates_of_the_served_models(trained, servers, flag,
                                                                   capsys):
    _, result, _ = trained
    for m in result.models:
        served = tf.saved_model.load(m.pushed_path)
        words = [w.decode() for w in served.words.numpy()]
        prefixes = [" ".join(words[5:8]), words[9]]
        assert cli.main(["predict", "--model", f"text_{m.model}", flag, servers[flag],
                         "--top", "4"] + prefixes) == 0
        lines = [json.loads(l) for l in capsys.readouterr().out.strip().splitlines()]
        want = served.signatures["next_words"](prefix=tf.constant(prefixes), k=tf.constant(4))
        assert [l["input"] for l in lines] == prefixes
        for line, w, p in zip(lines, want["words"].numpy(), want["probabilities"].numpy()):
            assert [c["word"] for c in line["next_words"]] == [x.decode() for x in w]
            np.testing.assert_allclose([c["probability"] for c in line["next_words"]], p,
                                       atol=1e-4)


@pytest.mark.parametrize("flag", ["--rest", "--grpc"])
def test_predict_refuses_a_prefix_with_unknown_words(servers, flag, capsys):
    rc = cli.main(["predict", "--model", "text_gru", flag, servers[flag], "the qqqqzz"])
    captured = capsys.readouterr()
    assert rc == 1 and captured.out == "" and "Traceback" not in captured.err
    assert captured.err.strip().splitlines() == [
        "error: 'the qqqqzz': not in text_gru's vocabulary: qqqqzz"]


def keras_log_prob(keras_model, ids):
    """Sum of log P(ids[t+1] | ids[:t+1]) under the trained model (saved in its
    stateless form: every call starts from a zero state)."""
    logits = keras_model(tf.constant([ids[:-1]]), training=False)
    logp = tf.nn.log_softmax(tf.cast(logits, tf.float64), axis=-1).numpy()[0]
    return float(sum(logp[t, ids[t + 1]] for t in range(len(ids) - 1)))


def test_the_perplexity_gate_refuses_and_nothing_is_pushed(trained, tmp_path):
    served, first, served_ws = trained
    assert {m.model: m.blessed for m in first.models}["lstm"]
    # A copy of that workspace: its ML Metadata, its cache and the lstm it serves.
    ws = str(tmp_path / "ws")
    shutil.copytree(served_ws, ws)
    before = versions(tasks.make_config("text", ["lstm"], data_dir=served.data_dir,
                                        workspace=ws), "lstm")
    assert before
    # A ceiling no one-epoch model reaches: refused, and the served version stays.
    config, second = run(served.data_dir, ws, ["lstm"], max_perplexity=1.5)
    m = second.models[0]
    assert m.blessed is False and m.pushed_path is None
    assert versions(config, "lstm") == before
    # The served model was the baseline of the refused run.
    assert "baseline_perplexity" in m.metrics
    assert UNK_ID == 0 and EOS_ID == 1  # the vocabulary layout the test's ids assume
