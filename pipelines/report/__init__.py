"""Run reports: runs.py reads runs back from ML Metadata (with their lineage and the
console summary), page.py writes a run's HTML report with kit.py (figures, gate checks)
and each task's section (pipelines/<task>/report.py: image, word2vec, lm)."""
