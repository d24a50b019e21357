"""run_fn end to end on a real (tiny) Transform output: stats, export, chief-only writes."""
import json
import os
import tempfile

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils
from tfx.components.trainer.fn_args_utils import FnArgs

from tests import transformed_fixtures
from trainer import outputs
from trainer.contract import KERAS_FILE, STATS_FILE, TOKENS_KEY
from trainer.lm import export, preprocessing, run

SENTENCES = ["the cat sat on the mat", "the dog sat on the log", "a cat saw a dog",
             "the mat was on the floor", "a dog saw the cat on the mat"]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    """(transform graph dir, train pattern, eval pattern), written as TFX's Transform
    writes them: gzipped TFRecords of the transformed examples."""
    root = str(tmp_path_factory.mktemp("lm_transform"))
    rng = np.random.default_rng(0)
    train = [SENTENCES[i].split() for i in rng.integers(0, len(SENTENCES), 300)]
    evals = [SENTENCES[i].split() + ["zebra"] for i in rng.integers(0, len(SENTENCES), 60)]
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(
        {TOKENS_KEY: tf.io.VarLenFeature(tf.string)}))
    return transformed_fixtures.write_transform_output(
        root, metadata,
        lambda inputs: preprocessing.preprocessing_fn(inputs, {"max_size": 50}),
        [{TOKENS_KEY: t} for t in train], [{TOKENS_KEY: t} for t in evals])


def fn_args(transformed, out, custom_config):
    graph, train, evals = transformed
    return FnArgs(train_files=[train], eval_files=[evals], transform_output=graph,
                  serving_model_dir=os.path.join(out, "serving"),
                  model_run_dir=os.path.join(out, "run"), custom_config=custom_config)


CONFIG = {"preset": "tiny", "hidden_size": 32, "batch_size": 4, "num_steps": 8,
          "epochs": 2, "learning_rate": 0.01}


def test_run_fn_trains_exports_and_writes_stats(transformed, tmp_path):
    args = fn_args(transformed, str(tmp_path), CONFIG)
    run.run_fn(args)
    with open(os.path.join(args.model_run_dir, STATS_FILE)) as f:
        stats = json.load(f)
    assert stats["config"]["hidden_size"] == 32 and stats["config"]["num_layers"] == 1
    assert stats["vocab_size"] == 13  # <unk>, <eos> + the 11 words
    assert len(stats["eval_perplexity"]) == 2
    # Training improves, and the eval text (with "zebra", an unseen word, i.e. <unk>,
    # in every sentence) is still scored better than uniform over the 13 ids.
    assert stats["train_perplexity"][-1] < stats["train_perplexity"][0]
    assert stats["final_eval_perplexity"] < 13
    assert stats["unk_rate_train"] == 0 and stats["unk_rate_eval"] > 0.1  # "zebra"
    assert stats["strategy"] == "DefaultStrategy" and stats["tokens_per_sec"] > 0
    assert tf.io.gfile.glob(os.path.join(args.model_run_dir, run.LOGS_DIR, "train", "events.*"))
    loaded = tf.saved_model.load(args.serving_model_dir)
    out = loaded.signatures["serving_default"](
        sentences=tf.constant(["the cat sat on the mat", "mat the on sat cat the"]))
    lp = out["log_prob"].numpy()
    assert lp[0] > lp[1]  # a training sentence beats its reversal
    nxt = loaded.signatures["next_words"](prefix=tf.constant(["the cat sat on the"]),
                                         k=tf.constant(1))
    assert nxt["words"].numpy()[0, 0].decode() == "mat"
    # The Keras model beside the stats scores the same (stateless: from a zero state).
    keras_model = tf.keras.models.load_model(os.path.join(args.model_run_dir, KERAS_FILE),
                                             compile=False)
    words = export.load_vocabulary(loaded)
    ids = [preprocessing.EOS_ID] + [words.index(w) for w in "the cat sat on the mat".split()]
    logp = tf.nn.log_softmax(keras_model(np.array([ids], np.int32))[0]).numpy()
    targets = ids[1:] + [preprocessing.EOS_ID]
    assert sum(logp[t, w] for t, w in enumerate(targets)) == pytest.approx(lp[0], abs=1e-4)


def test_custom_config_is_checked(transformed, tmp_path):
    with pytest.raises(ValueError, match="unknown keys"):
        run.run_fn(fn_args(transformed, str(tmp_path), {"preset": "tiny", "layers": 3}))


def test_non_chief_exports_to_a_temporary_folder(transformed, tmp_path, monkeypatch):
    made = []
    real_mkdtemp = tempfile.mkdtemp

    def mkdtemp(*a, **k):
        made.append(real_mkdtemp(*a, **k))
        return made[-1]

    monkeypatch.setattr(outputs.strategy, "is_chief", lambda *a: False)
    monkeypatch.setattr(outputs.tempfile, "mkdtemp", mkdtemp)
    args = fn_args(transformed, str(tmp_path),
                   {**CONFIG, "hidden_size": 8, "epochs": 1})
    run.run_fn(args)
    assert made and not os.path.exists(made[0])  # exported there, then deleted
    assert not os.path.exists(args.serving_model_dir)
    assert not os.path.exists(args.model_run_dir)
