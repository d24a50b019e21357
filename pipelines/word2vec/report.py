"""The word2vec models' part of the run report.

Scores and the verdict come from the Word2VecEvaluator's `word2vec_scores.json` (WS353
Spearman, analogy accuracy, held-out loss, coverage, for the candidate and the served
baseline, with the thresholds it applied); each check's outcome is the evaluator's own
rule (`word2vec_evaluator.decide`) applied to that check alone. Nearest neighbours of a
few probe words come from calling the candidate SavedModel's `nearest` signature.
"""
from __future__ import annotations

import math
from typing import Dict, List

import tensorflow as tf
from tfx.utils import path_utils

from components.word2vec import evaluator as word2vec_evaluator
from pipelines.report import kit as report_kit
from pipelines.report.runs import ModelResult, RunReport
from pipelines.report.kit import GateCheck, TaskSection
from trainer.contract import NEAREST_SIGNATURE

# Common words with clear neighbours in general English text; those missing from the
# vocabulary are replaced by frequent vocabulary words.
PROBE_WORDS = ("king", "city", "war", "music", "water", "school", "french", "two")
NEIGHBOURS = 8

_CHECKS = (  # (threshold key, metric, how the bar reads)
    ("min_ws353_spearman", "ws353_spearman", ">= {:g}"),
    ("min_analogy_accuracy", "analogy_accuracy", ">= {:g}"),
    ("max_heldout_loss", "heldout_loss", "<= {:g}"),
    ("max_ws353_drop", "ws353_spearman", "at most {:g} below the baseline"),
    ("max_analogy_drop", "analogy_accuracy", "at most {:g} below the baseline"),
    ("max_heldout_loss_increase", "heldout_loss", "at most {:.0%} above the baseline"),
)
_DETAILS = ("ws353_pairs", "ws353_oov_rate", "analogy_questions", "analogy_coverage",
            "heldout_examples", "eval_tokens", "eval_oov_rate", "vocab_size")

_FRAGMENT = report_kit.SCORES_FRAGMENT + """<h4>Nearest neighbours (cosine, candidate model)</h4>
{% if neighbours %}
<table class="grid"><tr><th>word</th><th>neighbours</th></tr>
{% for word, near in neighbours %}<tr><td>{{ word }}</td><td>
{% for w, s in near %}{{ w }} <span class="dim">{{ "%.2f"|format(s) }}</span>
{%- if not loop.last %}, {% endif %}{% endfor %}
</td></tr>{% endfor %}</table>
{% else %}<p>No candidate model to ask.</p>{% endif %}
"""


def gate_checks(scores: Dict) -> List[GateCheck]:
    """The thresholds the evaluator applied (drop checks only with a baseline)."""
    candidate, baseline = scores["candidate"], scores.get("baseline")
    none = {k: None for k in word2vec_evaluator.DEFAULT_THRESHOLDS}
    checks = []
    for key, metric, bar in _CHECKS:
        bound = scores["thresholds"].get(key)
        is_drop = key.endswith(("_drop", "_increase"))  # against the baseline
        if bound is None or (is_drop and baseline is None):
            continue
        failures = word2vec_evaluator.decide(candidate, baseline if is_drop else None,
                                             {**none, key: bound})
        checks.append(GateCheck(metric=metric, candidate=candidate.get(metric),
                                baseline=baseline.get(metric) if baseline else None,
                                bar=bar.format(bound), passed=not failures))
    return checks


def probe_words(words: List[str]) -> List[str]:
    known = set(words)
    probes = [w for w in PROBE_WORDS if w in known]
    for w in words[10:]:  # past the most frequent function words
        if len(probes) >= len(PROBE_WORDS):
            break
        if w.isalpha() and len(w) > 3 and w not in probes:
            probes.append(w)
    return probes


def nearest_neighbours(model_uri: str, k: int = NEIGHBOURS):
    """[(word, [(neighbour, cosine)])] for the probe words, from the `nearest` signature."""
    loaded = tf.saved_model.load(path_utils.serving_model_path(model_uri))
    size = int(loaded.vocab_size.numpy())
    words = [w.decode("utf-8") for w in loaded.words.numpy()[:size]]
    probes = probe_words(words)
    if not probes:
        return []
    out = loaded.signatures[NEAREST_SIGNATURE](words=tf.constant(probes), k=tf.constant(k))
    return [(word, [(n.decode("utf-8"), float(s)) for n, s in zip(near, scores)])
            for word, near, scores in zip(probes, out["neighbours"].numpy(),
                                          out["scores"].numpy())]


def section(run: RunReport, model: ModelResult) -> TaskSection:
    del run  # everything is in the model's own artifacts
    if not model.evaluation_uri:
        return TaskSection(checks=[], verdict="not evaluated (the evaluator did not run)")
    scores = word2vec_evaluator.read_metrics(model.evaluation_uri)
    candidate, baseline = scores["candidate"], scores.get("baseline")
    checks = gate_checks(scores)
    figures = [report_kit.bar_chart(
        f"{model.model}: word similarity and analogies",
        ["WS353 Spearman", "analogy accuracy"],
        {name: [s.get("ws353_spearman") or 0.0, s.get("analogy_accuracy") or 0.0]
         for name, s in (("candidate", candidate), ("baseline", baseline)) if s},
        "score")]
    details = report_kit.score_rows(
        candidate, baseline, ("ws353_spearman", "analogy_accuracy", "heldout_loss") + _DETAILS)
    neighbours = nearest_neighbours(model.model_uri) if model.model_uri else []
    html = report_kit.render(_FRAGMENT, baseline=baseline is not None, details=details,
                             figures=figures, neighbours=neighbours)
    return TaskSection(checks=checks, verdict=scores.get("message", ""), html=html,
                       figures=figures)


def read_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The candidate's scores from a Word2VecEvaluator's evaluation artifact."""
    return dict(word2vec_evaluator.read_metrics(evaluation_uri)["candidate"])


def describe_metrics(metrics: Dict[str, float]) -> str:
    if not metrics:
        return "no scores"
    fmt = lambda key, spec: (format(metrics[key], spec)  # noqa: E731
                             if isinstance(metrics.get(key), float)
                             and not math.isnan(metrics[key]) else "n/a")
    return (f"WS353 rho {fmt('ws353_spearman', '.3f')} (OOV {fmt('ws353_oov_rate', '.0%')}), "
            f"analogy {fmt('analogy_accuracy', '.3f')} (coverage "
            f"{fmt('analogy_coverage', '.0%')}), held-out loss {fmt('heldout_loss', '.3f')}")
