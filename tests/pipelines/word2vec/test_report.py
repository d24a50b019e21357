"""pipelines/word2vec/report.py: the word2vec section's gate table follows the
evaluator's own rule, and on a small real text pipeline run the section, the neighbours
and the loss curve come from the run's artifacts."""
import io
import math

import pytest
from PIL import Image

from pipelines.runners import local as local_runner
from pipelines.report import page as report_page
from pipelines.word2vec import report as word2vec_report
from pipelines.word2vec.config import Word2VecPipelineConfig
from tests import headless_chromium
from tests.pipelines.word2vec.test_pipeline_e2e import small_dump

THRESHOLDS = {"min_ws353_spearman": 0.1, "min_analogy_accuracy": 0.05,
              "max_heldout_loss": None, "max_ws353_drop": 0.05, "max_analogy_drop": 0.02}


def test_gate_checks_apply_the_evaluators_rule():
    candidate = {"ws353_spearman": 0.2, "analogy_accuracy": 0.01, "heldout_loss": 2.0}
    no_baseline = word2vec_report.gate_checks(
        {"candidate": candidate, "baseline": None, "thresholds": THRESHOLDS})
    assert [(c.metric, c.bar, c.passed) for c in no_baseline] == [
        ("ws353_spearman", ">= 0.1", True), ("analogy_accuracy", ">= 0.05", False)]
    baseline = {"ws353_spearman": 0.3, "analogy_accuracy": 0.02, "heldout_loss": 2.1}
    with_baseline = word2vec_report.gate_checks(
        {"candidate": candidate, "baseline": baseline, "thresholds": THRESHOLDS})
    drops = [(c.bar, c.passed, c.baseline) for c in with_baseline[2:]]
    assert drops == [("at most 0.05 below the baseline", False, 0.3),
                     ("at most 0.02 below the baseline", True, 0.02)]
    nan = word2vec_report.gate_checks({"candidate": {**candidate, "ws353_spearman": math.nan},
                                       "baseline": None, "thresholds": THRESHOLDS})
    assert nan[0].passed is False  # no WS353 pair in the vocabulary fails the bar


def test_probe_words_fall_back_to_frequent_vocabulary_words():
    words = ["the", "of", "and", "a", "to", "in", "is", "was", "for", "on", "city", "x1",
             "river", "ab", "mountain", "valley", "music"]
    probes = word2vec_report.probe_words(words)
    assert probes[:2] == ["city", "music"]
    assert probes[2:] == ["river", "mountain", "valley"]


@pytest.mark.e2e
def test_section_and_page_of_a_small_text_run(tmp_path, workspace):
    config = Word2VecPipelineConfig(
        data_dir=small_dump(tmp_path), workspace=workspace, models=("skipgram",),
        max_tokens_per_example=100, epochs=2, batch_size=256, embedding_dim=16,
        num_sampled=8, min_count=2, min_ws353_spearman=-1.0, min_analogy_accuracy=0.0)
    local_runner.run_pipeline(config, echo=lambda _: None)
    page = report_page.build(config.metadata_path, config.name)
    run = page.run
    model = run.models[0]
    assert model.blessed and model.metrics["ws353_pairs"] >= 0

    section = word2vec_report.section(run, model)
    from components.word2vec import evaluator as word2vec_evaluator
    scores = word2vec_evaluator.read_metrics(model.evaluation_uri)
    assert section.verdict == scores["message"]
    assert [c.metric for c in section.checks] == ["ws353_spearman", "analogy_accuracy"]
    assert all(c.passed for c in section.checks)
    neighbours = word2vec_report.nearest_neighbours(model.model_uri)
    assert len(neighbours) == len(word2vec_report.PROBE_WORDS)
    for word, near in neighbours:
        sims = [s for _, s in near]
        assert len(near) == word2vec_report.NEIGHBOURS and word not in [w for w, _ in near]
        assert sims == sorted(sims, reverse=True) and -1.0001 <= sims[-1] <= sims[0] <= 1.0001
        assert f"<td>{word}</td>" in page.html

    curves = report_page.training_curves(model.model_run_uri)
    epoch_loss = curves["epoch_loss"]["train"]
    assert [step for step, _ in epoch_loss] == [0, 1]
    # The last loop call's loss is the one the epoch line and training_stats report.
    assert curves["loss"]["train"][-1][1] == pytest.approx(
        model.training_stats["final_train_loss"], rel=1e-5)
    assert f"{scores['candidate']['ws353_spearman']:.4f}" in page.html
    for figure in page.figures:
        Image.open(io.BytesIO(figure.png)).verify()
    path = tmp_path / "text.html"
    path.write_text(page.html)
    rendered = headless_chromium.render(str(path))
    assert rendered.errors == [] and rendered.broken_images == []
    assert rendered.images == len(page.figures) >= 3
