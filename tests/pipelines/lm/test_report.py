"""pipelines/lm/report.py: the language-model section's gate table follows the evaluator's
own rule, and on a small real LSTM run the section's scores, verdict and continuations
come from the run's artifacts (the run the end-to-end tests share, conftest.py)."""
import io
import math

import pytest
from PIL import Image

from components.lm import evaluator as lm_evaluator
from pipelines.lm import report as lm_report
from pipelines.report import page as report_page

THRESHOLDS = {"max_perplexity": 300.0, "max_increase": 0.02}


def test_gate_checks_apply_the_evaluators_rule():
    no_baseline = lm_report.gate_checks({"candidate": {"perplexity": 250.0},
                                         "baseline": None, "thresholds": THRESHOLDS})
    assert [(c.bar, c.passed, c.baseline) for c in no_baseline] == [("<= 300", True, None)]

    worse = lm_report.gate_checks({"candidate": {"perplexity": 310.0},
                                   "baseline": {"perplexity": 290.0},
                                   "thresholds": THRESHOLDS})
    assert [(c.bar, c.passed) for c in worse] == [
        ("<= 300", False), ("at most 2% above the baseline", False)]
    close = lm_report.gate_checks({"candidate": {"perplexity": 295.0},
                                   "baseline": {"perplexity": 290.0},
                                   "thresholds": THRESHOLDS})
    assert [c.passed for c in close] == [True, True]  # 1.7% above the baseline

    diverged = lm_report.gate_checks({"candidate": {"perplexity": math.nan},
                                      "baseline": None, "thresholds": THRESHOLDS})
    assert diverged[0].passed is False
    no_ceiling = lm_report.gate_checks({"candidate": {"perplexity": 5.0}, "baseline": None,
                                        "thresholds": {"max_perplexity": None,
                                                       "max_increase": 0.02}})
    assert no_ceiling == []  # nothing to check without a ceiling or a baseline


@pytest.mark.e2e
def test_section_of_a_small_lstm_run(lm_trained):
    config, _, _ = lm_trained
    page = report_page.build(config.metadata_path, config.name)
    model = next(m for m in page.run.models if m.model == "lstm")
    assert model.blessed

    section = lm_report.section(page.run, model)
    scores = lm_evaluator.read_scores(model.evaluation_uri)
    assert section.verdict == scores["message"]
    assert [(c.bar, c.passed) for c in section.checks] == [("<= 500", True)]
    assert section.checks[0].candidate == scores["candidate"]["perplexity"]
    assert f"{scores['candidate']['perplexity']:.4f}" in section.html
    assert "most likely next words" in section.html
    samples = lm_report.continuations(model.model_uri)
    assert samples and all(len(words) == lm_report.TOP_K for _, words in samples)
    for _, words in samples:
        probs = [p for _, p in words]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-5
    # The training curves the page draws: train and validation perplexity per epoch.
    curves = report_page.training_curves(model.model_run_uri)
    assert set(curves["epoch_perplexity"]) == {"train", "validation"}
    for fig in section.figures:
        assert Image.open(io.BytesIO(fig.png)).format == "PNG"
