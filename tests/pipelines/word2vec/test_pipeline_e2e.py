"""End to end: the text pipeline on a small Wikipedia dump with LocalDagRunner."""
import bz2
import glob
import json
import os
from xml.sax.saxutils import escape

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from components import datasets, text_corpora
from pipelines import cli
from pipelines.runners import local as local_runner
from pipelines.word2vec.config import Word2VecPipelineConfig
from tests.serving_standins import GrpcServer, RestServer, assert_every_signature_was_checked


def small_dump(folder, n_chunks=6):
    """~6,000 tokens of real article text from the embedded excerpt, as a tiny dump."""
    chunks = []
    for chunk in text_corpora.read_corpus(datasets.embedded_wiki(str(folder / "cache"))):
        chunks.append(chunk)
        if len(chunks) == n_chunks:
            break
    pages = "".join(f"<page><title>{escape(c.doc)} {c.index}</title><ns>0</ns><revision>"
                    f"<text>{' '.join(c.tokens)}</text></revision></page>" for c in chunks)
    data = folder / "wiki"
    data.mkdir()
    (data / "small.xml.bz2").write_bytes(bz2.compress(f"<mediawiki>{pages}</mediawiki>".encode()))
    return str(data)


@pytest.fixture(scope="module", params=["tape", "fused"])
def w2v_run(request, tmp_path_factory):
    """Both models trained with one kernel and pushed: (config, result, workspace, kernel)."""
    kernel = request.param
    root = tmp_path_factory.mktemp(f"w2v-{kernel}")
    workspace = str(root / "workspace")
    config = Word2VecPipelineConfig(
        data_dir=small_dump(root), workspace=workspace, models=("skipgram", "cbow"),
        max_tokens_per_example=100, epochs=1, batch_size=256, embedding_dim=16,
        num_sampled=8, min_count=2, word2vec_kernel=kernel,
        # ~6,000 tokens: WS353 words are mostly OOV, so only the plumbing is gated here.
        min_ws353_spearman=-1.0, min_analogy_accuracy=0.0)
    result = local_runner.run_pipeline(config, echo=lambda _: None)
    return config, result, workspace, kernel


@pytest.mark.e2e
def test_text_pipeline_pushes_servable_models(w2v_run):
    config, result, workspace, kernel = w2v_run
    states = {n.node_id: n.state for n in result.nodes.values()}
    assert all(s == "COMPLETE" for s in states.values()), states
    for m in result.models:
        assert m.blessed and m.pushed_path, m
        assert m.training_stats["train_tokens"] > 3000 and m.training_stats["vocab_size"] > 50
        assert m.training_stats["config"]["kernel"] == kernel
        pushed = glob.glob(os.path.join(workspace, "serving", f"text_{m.model}", "*"))
        assert len(pushed) == 1 and pushed[0] == m.pushed_path.rstrip("/")
        loaded = tf.saved_model.load(pushed[0])
        assert {"serving_default", "embed", "nearest"} <= set(loaded.signatures)
        out = loaded.signatures["embed"](words=tf.constant(["the", "qqqq"]))
        assert out["vectors"].shape == (2, 16)
        assert out["in_vocabulary"].numpy().tolist() == [True, False]
        near = loaded.signatures["nearest"](words=tf.constant(["the"]), k=tf.constant(3))
        assert near["neighbours"].shape == (1, 3) and near["scores"].shape == (1, 3)
        # Warm-up requests for TF Serving are in the pushed model and replay cleanly.
        warmup = os.path.join(pushed[0], "assets.extra", "tf_serving_warmup_requests")
        signatures_replayed = set()
        for record in tf.data.TFRecordDataset(warmup):
            request = prediction_log_pb2.PredictionLog.FromString(
                record.numpy()).predict_log.request
            assert request.model_spec.name == f"text_{m.model}"
            fn = loaded.signatures[request.model_spec.signature_name]
            fn(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
            signatures_replayed.add(request.model_spec.signature_name)
        assert signatures_replayed == set(loaded.signatures)
        run_dir = os.path.dirname(m.training_stats and glob.glob(os.path.join(
            workspace, "pipelines", config.name, f"Trainer.{m.model}", "model_run", "*",
            "training_stats.json"))[0])
        assert os.path.exists(os.path.join(run_dir, "projector", "vectors.tsv"))
    summary = local_runner.format_summary(config, result)
    assert "WS353 rho" in summary and "blessed" in summary


@pytest.fixture(scope="module")
def servers(w2v_run):
    _, result, _, _ = w2v_run
    models = {f"text_{m.model}": m.pushed_path for m in result.models}
    rest, grpc_server = RestServer(models), GrpcServer(models)
    yield {"--rest": rest.url, "--grpc": grpc_server.target}
    rest.close()
    grpc_server.close()


@pytest.mark.e2e
def test_every_signature_of_the_pushed_models_passes_the_servability_check(w2v_run):
    _, result, _, _ = w2v_run
    assert_every_signature_was_checked(result, "text_")


@pytest.mark.e2e
@pytest.mark.parametrize("flag", ["--rest", "--grpc"])
def test_predict_prints_the_nearest_neighbours_of_words(w2v_run, servers, flag, capsys):
    _, result, _, _ = w2v_run
    for m in result.models:
        served = tf.saved_model.load(m.pushed_path)
        words = ["the", "of"]
        assert cli.main(["predict", "--model", f"text_{m.model}", flag, servers[flag]]
                        + words) == 0
        lines = [json.loads(l) for l in capsys.readouterr().out.strip().splitlines()]
        want = served.signatures["nearest"](words=tf.constant(words), k=tf.constant(5))
        assert [l["input"] for l in lines] == words
        for line, names, scores in zip(lines, want["neighbours"].numpy(),
                                       want["scores"].numpy()):
            assert [n["word"] for n in line["neighbours"]] == [x.decode() for x in names]
            np.testing.assert_allclose([n["similarity"] for n in line["neighbours"]], scores,
                                       atol=1e-4)
        rc = cli.main(["predict", "--model", f"text_{m.model}", flag, servers[flag],
                       "the", "qqqq", "zzzz"])
        captured = capsys.readouterr()
        assert rc == 1 and captured.out == "" and "Traceback" not in captured.err
        assert captured.err.strip().splitlines() == [
            f"error: not in text_{m.model}'s vocabulary: qqqq, zzzz"]


@pytest.mark.e2e
def test_a_model_below_its_ws353_bar_is_refused_and_not_pushed(tmp_path, workspace):
    from components.word2vec import evaluator as word2vec_evaluator
    config = Word2VecPipelineConfig(
        data_dir=small_dump(tmp_path, n_chunks=40), workspace=workspace,
        models=("skipgram",), max_tokens_per_example=100, epochs=1, batch_size=256,
        embedding_dim=16, num_sampled=8, min_count=2,
        # One epoch on ~40,000 tokens is far from 0.9 over dozens of in-vocabulary pairs
        # (on fewer pairs, e.g. 2, rho can be exactly 1).
        min_ws353_spearman=0.9, min_analogy_accuracy=0.0)
    result = local_runner.run_pipeline(config, echo=lambda _: None)
    model = result.models[0]
    assert model.metrics["ws353_pairs"] >= 20 and model.metrics["ws353_spearman"] < 0.9
    assert model.blessed is False and model.pushed_path is None
    scores = word2vec_evaluator.read_metrics(
        result.nodes["Evaluator.skipgram"].outputs["evaluation"][0].uri)
    assert scores["message"].startswith("not blessed: WS353 Spearman")
    assert glob.glob(os.path.join(workspace, "serving", "text_skipgram", "*")) == []
