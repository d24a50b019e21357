"""word2vec core: vectorised pair generation, subsampling, training signal, export."""
import numpy as np
import pytest
import tensorflow as tf

from trainer.word2vec import config as w2v_config, data as w2v_data, evaluation as w2v_eval, export as w2v_export, model as w2v_model, train as w2v_train


def ragged(seqs):
    return tf.ragged.constant(seqs, dtype=tf.int64)


def test_keep_probabilities_follow_word2vec():
    counts = np.array([1000, 100, 10, 1, 0])
    p = w2v_data.keep_probabilities(counts, 1e-2)
    t = 1e-2 * counts.sum()  # 11.11
    expected = (np.sqrt(counts[:4] / t) + 1) * t / counts[:4]
    np.testing.assert_allclose(p[:4], np.minimum(expected, 1.0), rtol=1e-5)
    assert p[0] < p[1] < 1.0 and p[2] == p[3] == 1.0 and p[4] == 0.0
    assert (w2v_data.keep_probabilities(counts, 0) == 1).all()


def test_skipgram_pairs_window_one_is_exact_and_never_crosses_sequences():
    keep = tf.ones([10])
    centers, contexts = w2v_data.skipgram_pairs(ragged([[1, 2, 3], [4, 5]]), keep, window=1)
    got = sorted(zip(centers.numpy().tolist(), contexts.numpy().tolist()))
    assert got == [(1, 2), (2, 1), (2, 3), (3, 2), (4, 5), (5, 4)]


def test_skipgram_pairs_drop_oov_and_respect_window():
    keep = tf.ones([50])
    seq = [[i % 50 for i in range(200)] + [50, 51]]  # ids >= 50 are the OOV bucket
    c, x = w2v_data.skipgram_pairs(ragged(seq), keep, window=3, seed=7)
    c, x = c.numpy(), x.numpy()
    assert c.max() < 50 and x.max() < 50
    dist = np.abs(c - x) % 50
    dist = np.minimum(dist, 50 - dist)
    assert ((dist >= 1) & (dist <= 3)).all()
    # Shrinking window: on average (w + 1) = 4 contexts per center, fewer than 2w = 6.
    assert 3.3 < len(c) / 200 < 4.6


def test_subsampling_thins_frequent_words():
    counts = np.array([100000, 10, 10, 10])
    keep = tf.constant(w2v_data.keep_probabilities(counts, 1e-3))
    seq = [[0, 1, 0, 2, 0, 3] * 200]
    c, _ = w2v_data.skipgram_pairs(ragged(seq), keep, window=1, seed=3)
    frac_frequent = np.mean(c.numpy() == 0)
    assert frac_frequent < 0.2  # 50% of the tokens before subsampling


def test_cbow_examples_window_one():
    keep = tf.ones([10])
    contexts, mask, centers = w2v_data.cbow_examples(ragged([[1, 2, 3], [7]]), keep, 1)
    assert centers.numpy().tolist() == [1, 2, 3]  # 7 has no context: dropped
    m = mask.numpy()
    assert m.tolist() == [[0, 1], [1, 1], [1, 0]]
    assert (contexts.numpy() * m).tolist() == [[0, 2], [1, 3], [2, 0]]


def test_training_dataset_yields_fixed_batches():
    seqs = [np.arange(20) % 10 for _ in range(30)]
    cfg = w2v_config.Word2VecConfig(window=2, subsample=0)
    ds = w2v_data.training_dataset(w2v_data.ragged_blocks(seqs, 8), np.full(10, 5), cfg, 64)
    shapes = {tuple(c.shape) for c, _ in ds}
    assert shapes == {(64,)}
    cb = w2v_data.training_dataset(w2v_data.ragged_blocks(seqs, 8), np.full(10, 5),
                                   w2v_config.Word2VecConfig(model="cbow", window=2), 32)
    (ctx, mask), centers = next(iter(cb))
    assert ctx.shape == (32, 4) and mask.shape == (32, 4) and centers.shape == (32,)


def _topic_corpus(seed=0, n_seq=300, length=40):
    """Two topics: words 0-19 only co-occur with 0-19, words 20-39 with 20-39."""
    rng = np.random.RandomState(seed)
    seqs = [rng.randint(0, 20, length) + 20 * (i % 2) for i in range(n_seq)]
    counts = np.bincount(np.concatenate(seqs), minlength=40)
    return seqs, counts


def _topic_separation(vectors):
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    same = np.concatenate([sims[:20, :20][~np.eye(20, dtype=bool)],
                           sims[20:, 20:][~np.eye(20, dtype=bool)]]).mean()
    cross = sims[:20, 20:].mean()
    return same - cross


@pytest.mark.parametrize("model,loss,shared", [
    ("skipgram", "neg", 32), ("skipgram", "neg", 0), ("cbow", "neg", 32),
    ("skipgram", "nce", 0), ("cbow", "nce", 0), ("skipgram", "sampled_softmax", 0)])
def test_training_learns_cooccurrence(model, loss, shared):
    seqs, counts = _topic_corpus()
    # CBOW at 0.025, not word2vec.c's 0.05: every context word gets the whole gradient
    # (as in word2vec.c), and in this 40-word corpus each word is ~36 of a batch's 256
    # CBOW contexts; summed in one batched step that overshoots at 0.05.
    cfg = w2v_config.Word2VecConfig(model=model, loss=loss, embedding_dim=16, window=3,
                                  epochs=2, batch_size=256, num_sampled=8, subsample=0,
                                  shared_negatives=shared, learning_rate=0.025,
                                  steps_per_loop=20, seed=3)
    result = w2v_train.train(lambda ctx: w2v_data.ragged_blocks(seqs, 64, seed=1), counts, cfg)
    assert result.losses[-1] < result.losses[0]
    assert _topic_separation(result.model.vectors()) > 0.3
    assert np.all(result.model.embeddings.numpy()[40] == 0)  # OOV row untouched


def test_loops_on_two_threads_share_the_vectors_and_learn():
    """loop_threads=2: two training loops pull distinct batches of one iterator and
    update the same variables; every step is still taken once and the vectors learn."""
    seqs, counts = _topic_corpus()
    cfg = w2v_config.Word2VecConfig(model="skipgram", embedding_dim=16, window=3, epochs=2,
                                    batch_size=256, num_sampled=8, subsample=0,
                                    shared_negatives=32, learning_rate=0.025,
                                    steps_per_loop=20, seed=3, loop_threads=2)
    result = w2v_train.train(lambda ctx: w2v_data.ragged_blocks(seqs, 64, seed=1), counts, cfg)
    # Every loop call of every epoch ran once and reported its loss.
    assert len(result.losses) * cfg.steps_per_loop == result.steps
    assert result.losses[-1] < result.losses[0]
    assert _topic_separation(result.model.vectors()) > 0.3
    with pytest.raises(ValueError, match="loop_threads"):
        w2v_config.Word2VecConfig(loop_threads=-1)


def test_alias_table_samples_the_given_distribution():
    weights = np.array([100.0, 10.0, 1.0, 0.0, 50.0, 3.0])
    prob, alias = w2v_data.alias_table(weights)
    exact = np.zeros(len(weights))
    for i in range(len(weights)):  # slot i is drawn with probability 1 / n
        exact[i] += prob[i] / len(weights)
        exact[alias[i]] += (1.0 - prob[i]) / len(weights)
    np.testing.assert_allclose(exact, weights / weights.sum(), atol=1e-6)
    counts = np.array([1000, 100, 10, 1])
    model = w2v_model.Word2VecModel(4, w2v_config.Word2VecConfig(embedding_dim=2), counts)
    draws = model.sample_negatives([200000], seed=1).numpy()
    expected = counts ** 0.75 / (counts ** 0.75).sum()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / len(draws), expected,
                               atol=0.005)


def test_cbow_context_words_get_the_whole_gradient():
    """word2vec.c: the hidden layer is the context mean, but every context word's vector
    is updated with the hidden layer's full error (not error / count)."""
    cfg = w2v_config.Word2VecConfig(model="cbow", embedding_dim=3)
    model = w2v_model.Word2VecModel(5, cfg, np.ones(5, np.int64))
    contexts = tf.constant([[1, 2, 3, 0]], tf.int64)
    mask = tf.constant([[1.0, 1.0, 1.0, 0.0]])
    with tf.GradientTape() as tape:
        hidden = model.hidden((contexts, mask))
        loss = tf.reduce_sum(hidden * tf.constant([[1.0, 2.0, 3.0]]))
    emb = model.embeddings.numpy()
    np.testing.assert_allclose(hidden.numpy()[0], emb[1:4].mean(axis=0), rtol=1e-6)
    grad = tf.convert_to_tensor(tape.gradient(loss, model.embeddings)).numpy()
    np.testing.assert_allclose(grad[1:4], np.tile([1.0, 2.0, 3.0], (3, 1)))
    assert not grad[[0, 4, 5]].any()


@pytest.mark.parametrize("shared", [0, 4])
def test_negative_sampling_loss(shared):
    """Logistic loss of the target plus num_sampled (weighted) negatives; a batch that is
    not a multiple of the negatives group works."""
    cfg = w2v_config.Word2VecConfig(embedding_dim=4, num_sampled=3, shared_negatives=shared,
                                  negatives_group=4)
    model = w2v_model.Word2VecModel(6, cfg, np.array([5, 4, 3, 2, 2, 1]))
    targets = tf.constant([0, 1, 2, 3, 4, 5, 0], tf.int64)
    loss = model.per_example_loss(tf.constant([1, 2, 3, 4, 5, 0, 1], tf.int64), targets)
    # Output vectors start at 0: every logit is 0, so each term is log 2.
    np.testing.assert_allclose(loss.numpy(), np.full(7, 4 * np.log(2.0)), rtol=1e-5)
    model.out_weights.assign(tf.random.normal([6, 4], seed=1))
    model.embeddings.assign(tf.random.normal([7, 4], seed=2))
    loss = model.per_example_loss(tf.constant([1, 2, 3, 4, 5, 0, 1], tf.int64), targets)
    assert loss.shape == (7,) and np.isfinite(loss.numpy()).all()
    pos = np.sum(model.out_weights.numpy()[targets.numpy()]
                 * model.embeddings.numpy()[[1, 2, 3, 4, 5, 0, 1]], axis=1)
    assert (loss.numpy() > np.log1p(np.exp(-pos)) - 1e-6).all()  # + the negatives' terms


def test_too_small_corpus_for_a_batch_is_an_error():
    with pytest.raises(ValueError, match="fewer than one batch"):
        w2v_train.train(lambda ctx: w2v_data.ragged_blocks([[0, 1, 0, 1]], 4), np.array([2, 2]),
                       w2v_config.Word2VecConfig(batch_size=1024, subsample=0))


def test_config_rejects_unknown_keys_and_models():
    with pytest.raises(ValueError, match="unknown keys"):
        w2v_config.Word2VecConfig.from_dict({"model": "skipgram", "dimension": 3})
    with pytest.raises(ValueError, match="model must be one of"):
        w2v_config.Word2VecConfig(model="glove")


def test_export_signatures_and_reload(tmp_path):
    words = [f"w{i}" for i in range(40)]
    seqs, counts = _topic_corpus(seed=1)
    vocab = tmp_path / "vocab"
    vocab.write_text("".join(f"{c} {w}\n" for w, c in zip(words, counts)))
    cfg = w2v_config.Word2VecConfig(embedding_dim=8, window=2, epochs=1, batch_size=256,
                                  num_sampled=8, subsample=0, steps_per_loop=10)
    result = w2v_train.train(lambda ctx: w2v_data.ragged_blocks(seqs, 64), counts, cfg)
    out = str(tmp_path / "model")
    w2v_export.export(result.model, cfg, str(vocab), words, counts, out)
    loaded = tf.saved_model.load(out)
    assert {"serving_default", "embed", "nearest"} <= set(loaded.signatures)
    got = loaded.signatures["embed"](words=tf.constant(["w3", "nope", "w0"]))
    np.testing.assert_allclose(got["vectors"].numpy()[[0, 2]],
                               result.model.vectors()[[3, 0]], rtol=1e-6)
    assert got["ids"].numpy().tolist() == [3, 40, 0]
    assert got["in_vocabulary"].numpy().tolist() == [True, False, True]
    assert not got["vectors"].numpy()[1].any()
    near = loaded.signatures["nearest"](words=tf.constant(["w5"]), k=tf.constant(5))
    names = [n.decode() for n in near["neighbours"].numpy()[0]]
    scores = near["scores"].numpy()[0]
    assert "w5" not in names and len(names) == 5
    assert (np.diff(scores) <= 1e-6).all()
    unit = result.model.vectors() / np.linalg.norm(result.model.vectors(), axis=1,
                                                   keepdims=True)
    sims = unit @ unit[5]
    sims[5] = -2
    assert names[0] == words[int(np.argmax(sims))]
    assert sum(int(n[1:]) < 20 for n in names) >= 4  # same topic as w5
    # The evaluator's view: reloaded variables give the same held-out loss.
    lm = w2v_export.LoadedModel(out)
    assert lm.words == words and lm.cfg == cfg
    blocks = w2v_data.ragged_blocks(seqs[:50], 64, shuffle=False)
    a = w2v_eval.heldout_loss(result.model, blocks, counts, cfg, batch_size=128)
    b = w2v_eval.heldout_loss(lm.model, blocks, counts, cfg, batch_size=128)
    assert a["heldout_examples"] == b["heldout_examples"] > 0
    assert a["heldout_loss"] == pytest.approx(b["heldout_loss"], rel=1e-5)


def test_projector_files(tmp_path):
    folder = w2v_export.write_projector(np.eye(3), ["a", "b", "c"], str(tmp_path))
    assert (tmp_path / "projector" / "vectors.tsv").read_text().splitlines()[1] == "0\t1\t0"
    assert (tmp_path / "projector" / "metadata.tsv").read_text() == "a\nb\nc\n"
    assert "vectors.tsv" in open(f"{folder}/projector_config.pbtxt").read()


def test_sampler_and_batch_defaults_follow_the_model_unless_given():
    sg = w2v_config.Word2VecConfig(model="skipgram")
    cb = w2v_config.Word2VecConfig(model="cbow")
    assert (sg.shared_negatives, sg.negatives_group, sg.batch_size) == (8, 64, 4096)
    assert (cb.shared_negatives, cb.negatives_group, cb.batch_size) == (32, 256, 2048)
    given = w2v_config.Word2VecConfig(model="cbow", shared_negatives=0, negatives_group=16,
                                      batch_size=512)
    assert (given.shared_negatives, given.negatives_group, given.batch_size) == (0, 16, 512)
