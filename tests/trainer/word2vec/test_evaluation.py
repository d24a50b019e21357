"""WS353 / analogy scoring on hand-built vectors, and the real test files parse."""
import numpy as np
import pytest
from scipy import stats

from trainer.word2vec import evaluation as word_eval


def test_spearman_matches_scipy_with_ties():
    rng = np.random.RandomState(0)
    a = rng.randint(0, 5, 50).astype(float)
    b = a + rng.normal(0, 2, 50)
    assert word_eval.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).correlation)


def test_word_similarity_uses_cosine_and_reports_oov():
    words = ["cat", "dog", "car"]
    vecs = np.array([[1.0, 0.1], [1.0, 0.3], [0.0, 1.0]])
    pairs = [("cat", "dog", 9.0), ("cat", "car", 2.0), ("dog", "car", 3.0),
             ("cat", "unicorn", 5.0)]
    r = word_eval.word_similarity(vecs, words, pairs)
    assert r.pairs_used == 3 and r.pairs_total == 4 and r.oov_rate == pytest.approx(0.25)
    assert r.spearman == pytest.approx(1.0)
    r2 = word_eval.word_similarity(vecs, words, [(a, b, -s) for a, b, s in pairs])
    assert r2.spearman == pytest.approx(-1.0)


def test_analogy_3cosadd_excludes_question_words_and_counts_coverage():
    words = ["king", "queen", "man", "woman", "prince", "apple"]
    royal, male, female = np.array([1, 0, 0.]), np.array([0, 1, 0.]), np.array([0, 0, 1.])
    vecs = np.stack([royal + male, royal + female, male, female,
                     royal + male * 0.9 + 0.05, np.array([-1, -1, 0.2])])
    questions = [("family", "man", "woman", "king", "queen"),  # queen: correct
                 ("family", "man", "king", "woman", "apple"),  # wrong answer expected
                 ("family", "man", "woman", "king", "zebra")]  # OOV -> not used
    r = word_eval.analogy_accuracy(vecs, words, questions)
    assert (r.correct, r.questions_used, r.questions_total) == (1, 2, 3)
    assert r.accuracy == 0.5 and r.coverage == pytest.approx(2 / 3)
    assert r.by_section == {"family": (1, 2)}
    # Restricting the candidate vocabulary drops questions whose words fall outside it.
    assert word_eval.analogy_accuracy(vecs, words, questions, restrict_vocab=4
                                      ).questions_used == 1


def test_bundled_test_files_parse():
    pairs = word_eval.load_word_pairs(word_eval.ws353_path())
    assert len(pairs) == 353 and pairs[0] == ("love", "sex", 6.77)
    qs = word_eval.load_analogies(word_eval.analogies_path())
    assert len(qs) == 19544 and qs[0] == ("capital-common-countries", "athens", "greece",
                                          "baghdad", "iraq")


def test_nearest_excludes_the_word():
    vecs = np.array([[1, 0], [0.9, 0.1], [0, 1.0]])
    assert [w for w, _ in word_eval.nearest(vecs, ["a", "b", "c"], "a", k=2)] == ["b", "c"]
