"""The language models' part of the run report.

Scores and the verdict come from the LanguageModelEvaluator's `lm_scores.json`
(perplexity over the whole eval split, cross-entropy, tokens, unknown-word rate, for the
candidate and the served baseline, with the thresholds it applied); each check's outcome
is the evaluator's own rule (`trainer.lm.evaluation.decide`) applied to that check alone.
Sample continuations come from calling the candidate SavedModel's `next_words` signature
on a few prefixes of its own vocabulary.
"""
from __future__ import annotations

import math
from typing import Dict, List, Tuple

import tensorflow as tf
from tfx.utils import path_utils

from components.lm import evaluator as lm_evaluator
from pipelines.report import kit as report_kit
from pipelines.report.runs import ModelResult, RunReport
from pipelines.report.kit import GateCheck, TaskSection
from trainer.lm import evaluation as lm_eval
from trainer.lm.export import NEXT_WORDS_SIGNATURE, load_vocabulary

# Prefixes whose continuations show what the model learnt; those with a word missing
# from the vocabulary are left out.
PROBE_PREFIXES = ("the", "in the", "he was", "it is a", "one of the", "the city of")
TOP_K = 5

_DETAILS = ("perplexity", "cross_entropy", "eval_tokens", "eval_unk_rate", "vocab_size")

_FRAGMENT = report_kit.SCORES_FRAGMENT + """<h4>Next words (candidate model)</h4>
{% if continuations %}
<table class="grid"><tr><th>prefix</th><th>most likely next words</th></tr>
{% for prefix, words in continuations %}<tr><td>{{ prefix }}</td><td>
{% for w, p in words %}{{ w }} <span class="dim">{{ "%.3f"|format(p) }}</span>
{%- if not loop.last %}, {% endif %}{% endfor %}
</td></tr>{% endfor %}</table>
{% else %}<p>No candidate model to ask.</p>{% endif %}
"""


def gate_checks(scores: Dict) -> List[GateCheck]:
    """The ceiling and the baseline comparison, as the evaluator applied them."""
    candidate, baseline = scores["candidate"], scores.get("baseline")
    thresholds = scores["thresholds"]
    cand = candidate.get("perplexity")
    base = baseline.get("perplexity") if baseline else None
    checks = []
    ceiling = thresholds.get("max_perplexity")
    if ceiling is not None:
        passed, _ = lm_eval.decide(cand, None, ceiling, None)
        checks.append(GateCheck(metric="perplexity", candidate=cand, baseline=base,
                                bar=f"<= {ceiling:g}", passed=passed))
    increase = thresholds.get("max_increase")
    if increase is not None and base is not None:
        passed, _ = lm_eval.decide(cand, base, None, increase)
        checks.append(GateCheck(metric="perplexity", candidate=cand, baseline=base,
                                bar=f"at most {increase:.0%} above the baseline",
                                passed=passed))
    return checks


def continuations(model_uri: str, k: int = TOP_K) -> List[Tuple[str, List[Tuple[str, float]]]]:
    """[(prefix, [(word, probability)])] for the probe prefixes the vocabulary covers."""
    loaded = tf.saved_model.load(path_utils.serving_model_path(model_uri))
    known = set(load_vocabulary(loaded))
    prefixes = [p for p in PROBE_PREFIXES if all(w in known for w in p.split())]
    if not prefixes:
        return []
    out = loaded.signatures[NEXT_WORDS_SIGNATURE](prefix=tf.constant(prefixes),
                                                  k=tf.constant(k))
    return [(prefix, [(w.decode("utf-8"), float(p)) for w, p in zip(words, probs)])
            for prefix, words, probs in zip(prefixes, out["words"].numpy(),
                                            out["probabilities"].numpy())]


def section(run: RunReport, model: ModelResult) -> TaskSection:
    del run  # everything is in the model's own artifacts
    if not model.evaluation_uri:
        return TaskSection(checks=[], verdict="not evaluated (the evaluator did not run)")
    scores = lm_evaluator.read_scores(model.evaluation_uri)
    candidate, baseline = scores["candidate"], scores.get("baseline")
    figures = [report_kit.bar_chart(
        f"{model.model}: eval perplexity (lower is better)", ["perplexity"],
        {name: [s["perplexity"]] for name, s in (("candidate", candidate),
                                                 ("baseline", baseline)) if s},
        "perplexity")]
    details = report_kit.score_rows(candidate, baseline, _DETAILS)
    samples = continuations(model.model_uri) if model.model_uri else []
    html = report_kit.render(_FRAGMENT, baseline=baseline is not None, details=details,
                             figures=figures, continuations=samples)
    return TaskSection(checks=gate_checks(scores), verdict=scores.get("message", ""),
                       html=html, figures=figures)


def read_metrics(evaluation_uri: str) -> Dict[str, float]:
    """The candidate's perplexity (and the baseline's, when there was one)."""
    scores = lm_evaluator.read_scores(evaluation_uri)
    out = dict(scores["candidate"])
    if scores.get("baseline"):
        out["baseline_perplexity"] = scores["baseline"]["perplexity"]
    return out


def describe_metrics(metrics: Dict[str, float]) -> str:
    ppl = metrics.get("perplexity")
    if not isinstance(ppl, float) or math.isnan(ppl):
        return "no perplexity"
    text = f"eval perplexity {ppl:.1f}"
    if "baseline_perplexity" in metrics:
        text += f" (served model {metrics['baseline_perplexity']:.1f})"
    return text
