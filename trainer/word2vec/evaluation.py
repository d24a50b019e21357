"""How good word vectors are: intrinsic scores and the held-out loss.

Shared by the word2vec evaluator component and the benchmark.

- WordSim-353: Spearman correlation between human similarity scores and the cosine
  similarity of the two words' vectors, over the pairs whose words are both in the
  vocabulary (the OOV pair rate is reported next to it, as gensim does).
- Analogies (questions-words.txt, "a is to b as c is to d"): 3CosAdd over unit vectors,
  the question words excluded from the answers, restricted to questions whose four words
  are all in the vocabulary; coverage = in-vocabulary questions / all questions.

Inputs are a float matrix `vectors[i]` for `words[i]`; everything is numpy, so the same
code scores a TensorFlow export and a gensim model.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from trainer.word2vec.config import Word2VecConfig
from trainer.word2vec.data import training_dataset


def gensim_test_data(name: str) -> str:
    """Path of a file in gensim's bundled test data (wiki excerpt, WS353, analogies)."""
    import gensim  # pylint: disable=import-outside-toplevel

    path = os.path.join(os.path.dirname(gensim.__file__), "test", "test_data", name)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: gensim test data file missing")
    return path


def ws353_path() -> str:
    return gensim_test_data("wordsim353.tsv")


def analogies_path() -> str:
    return gensim_test_data("questions-words.txt")


def load_word_pairs(path: str) -> List[Tuple[str, str, float]]:
    """Tab-separated `word1 word2 score` lines; `#` comments skipped; lower-cased."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise ValueError(f"{path}: line {line_no}: expected 3 tab-separated fields")
            pairs.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
    if not pairs:
        raise ValueError(f"{path}: no word pairs")
    return pairs


def load_analogies(path: str) -> List[Tuple[str, str, str, str, str]]:
    """(section, a, b, c, d) for each question; `: section` lines start a section."""
    out = []
    section = ""
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(":"):
                section = line[1:].strip()
                continue
            parts = line.lower().split()
            if len(parts) != 4:
                raise ValueError(f"{path}: line {line_no}: expected 4 words")
            out.append((section, *parts))
    if not out:
        raise ValueError(f"{path}: no analogy questions")
    return out


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norms, 1e-12)


def _rank(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as Spearman's rho needs."""
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    ra, rb = _rank(np.asarray(a, dtype=np.float64)), _rank(np.asarray(b, dtype=np.float64))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


@dataclasses.dataclass
class SimilarityResult:
    spearman: float
    pairs_used: int
    pairs_total: int

    @property
    def oov_rate(self) -> float:
        return 1.0 - self.pairs_used / self.pairs_total


def word_similarity(vectors: np.ndarray, words: Sequence[str],
                    pairs: Sequence[Tuple[str, str, float]]) -> SimilarityResult:
    index = {w: i for i, w in enumerate(words)}
    unit = unit_rows(vectors)
    model, human = [], []
    for w1, w2, score in pairs:
        if w1 in index and w2 in index:
            model.append(float(unit[index[w1]] @ unit[index[w2]]))
            human.append(score)
    rho = spearman(model, human) if len(model) >= 2 else float("nan")
    return SimilarityResult(rho, len(model), len(pairs))


@dataclasses.dataclass
class AnalogyResult:
    accuracy: float  # over in-vocabulary questions
    correct: int
    questions_used: int
    questions_total: int
    by_section: Dict[str, Tuple[int, int]]  # section -> (correct, used)

    @property
    def coverage(self) -> float:
        return self.questions_used / self.questions_total


def analogy_accuracy(vectors: np.ndarray, words: Sequence[str],
                     questions: Sequence[Tuple[str, str, str, str, str]],
                     restrict_vocab: Optional[int] = None, batch: int = 512) -> AnalogyResult:
    """3CosAdd: argmax_d cos(d, b - a + c), excluding a, b, c. Candidate answers are the
    first `restrict_vocab` words (frequency order), as gensim restricts them."""
    n = len(words) if restrict_vocab is None else min(restrict_vocab, len(words))
    index = {w: i for i, w in enumerate(words[:n])}
    unit = unit_rows(np.asarray(vectors)[:n])
    used = [(s, index[a], index[b], index[c], index[d]) for s, a, b, c, d in questions
            if a in index and b in index and c in index and d in index]
    by_section: Dict[str, List[int]] = {}
    correct = 0
    for start in range(0, len(used), batch):
        part = used[start:start + batch]
        ids = np.array([q[1:] for q in part], dtype=np.int64)
        target = unit[ids[:, 1]] - unit[ids[:, 0]] + unit[ids[:, 2]]
        sims = target @ unit.T
        rows = np.arange(len(part))
        for col in range(3):
            sims[rows, ids[:, col]] = -np.inf
        hit = sims.argmax(axis=1) == ids[:, 3]
        correct += int(hit.sum())
        for (section, *_), h in zip(part, hit):
            c_u = by_section.setdefault(section, [0, 0])
            c_u[0] += int(h)
            c_u[1] += 1
    acc = correct / len(used) if used else 0.0
    return AnalogyResult(acc, correct, len(used), len(questions),
                         {k: (v[0], v[1]) for k, v in by_section.items()})


def nearest(vectors: np.ndarray, words: Sequence[str], word: str, k: int = 10
            ) -> List[Tuple[str, float]]:
    index = {w: i for i, w in enumerate(words)}
    unit = unit_rows(vectors)
    sims = unit @ unit[index[word]]
    sims[index[word]] = -np.inf
    top = np.argsort(-sims)[:k]
    return [(words[i], float(sims[i])) for i in top]


def score_all(vectors: np.ndarray, words: Sequence[str]) -> Dict[str, float]:
    """WS353 + analogies on the bundled test files, as a flat dict of numbers."""
    sim = word_similarity(vectors, words, load_word_pairs(ws353_path()))
    ana = analogy_accuracy(vectors, words, load_analogies(analogies_path()))
    return {"ws353_spearman": sim.spearman, "ws353_pairs": sim.pairs_used,
            "ws353_oov_rate": sim.oov_rate, "analogy_accuracy": ana.accuracy,
            "analogy_questions": ana.questions_used, "analogy_coverage": ana.coverage}


def heldout_loss(model, blocks: tf.data.Dataset, counts: np.ndarray, cfg: Word2VecConfig,
                 batch_size: int = 4096, max_batches: Optional[int] = None,
                 seed: int = 1234) -> Dict[str, float]:
    """Mean NCE (or sampled-softmax) loss over held-out sequences.

    Deterministic: it resets TensorFlow's global seed to `seed` and runs in a fresh
    tf.function, so two models scored on the same data see the same pairs and the same
    negatives (the candidate sampler is a stateful op; eager calls would share state)."""
    tf.random.set_seed(seed)
    ds = training_dataset(blocks, counts, dataclasses.replace(cfg, seed=seed), batch_size,
                          seed=seed)
    if max_batches:
        ds = ds.take(max_batches)

    @tf.function
    def total_loss():
        def add(acc, batch):
            inputs, targets = batch
            losses = model.per_example_loss(inputs, targets, seed=seed)
            return (acc[0] + tf.reduce_sum(tf.cast(losses, tf.float64)),
                    acc[1] + tf.cast(tf.shape(losses)[0], tf.int64))
        return ds.map(lambda *b: b).reduce(
            (tf.constant(0.0, tf.float64), tf.constant(0, tf.int64)), add)

    total, n = total_loss()
    n = int(n)
    return {"heldout_loss": float(total) / n if n else float("nan"), "heldout_examples": n}
