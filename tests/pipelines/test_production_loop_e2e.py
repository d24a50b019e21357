"""End to end: the drift gate and warm start over three `classics run mnist` runs in one
workspace (softmax, 1 epoch, a few hundred synthetic digits per run):

1. cold start: nothing served, the gate passes and says so; version 1 is pushed and
   carries the statistics of its training data;
2. data holding only the classes 0-4: the gate refuses before training (exit 1, the
   Trainer never runs, nothing is pushed, the error line names feature, distance, bar),
   and the report shows both distributions;
3. data of the first run's distribution (other digits), `--warm-start`: the gate passes
   and the Trainer starts from version 1's weights.
"""
import os
import re

import numpy as np
import pytest

from components import served_statistics
from pipelines.report import runs as report
from tests.mnist_fixtures import synthetic_digits, write_mnist
from tests.report_fixtures import PIPELINE, classics

pytestmark = pytest.mark.e2e

N_TRAIN, N_EVAL = 300, 100


def _write(folder: str, seed: int, classes: int = 10) -> str:
    images, labels = synthetic_digits(2 * (N_TRAIN + N_EVAL), seed=seed)
    keep = labels < classes
    images, labels = images[keep][: N_TRAIN + N_EVAL], labels[keep][: N_TRAIN + N_EVAL]
    write_mnist(folder, images[:N_TRAIN], labels[:N_TRAIN], "train")
    return write_mnist(folder, images[N_TRAIN:], labels[N_TRAIN:], "t10k")


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    ws = str(root / "workspace")

    def run(data, *extra):
        return classics("run", "mnist", "--models", "softmax", "--epochs", "1",
                        "--min-accuracy", "0.2", "--data", data, "--workspace", ws, *extra,
                        cwd=str(root))

    first = run(_write(str(root / "span1"), seed=0))
    assert first.returncode == 0, first.stdout + first.stderr
    shifted = run(_write(str(root / "shifted"), seed=1, classes=5))
    same = run(_write(str(root / "span2"), seed=2), "--warm-start")
    assert same.returncode == 0, same.stdout + same.stderr
    return {"ws": ws, "first": first, "shifted": shifted, "same": same,
            "serving": os.path.join(ws, "serving", "mnist_softmax"),
            "metadata": os.path.join(ws, "metadata", f"{PIPELINE}.sqlite")}


def _runs(loop):
    return report.list_runs(loop["metadata"], PIPELINE)


def test_cold_start_passes_and_the_pushed_version_carries_its_statistics(loop):
    out = loop["first"].stdout
    assert re.search(r"DriftGate.softmax +drift gate softmax: passed without comparing "
                     r"\(nothing served under \S+mnist_softmax: cold start\)", out), out
    assert out.count("drift gate softmax:") == 1  # one line, not repeated
    first = _runs(loop)[0]
    pushed = first.models[0].pushed_path
    assert pushed and served_statistics.splits(pushed) == ["eval", "train"]
    stats = first.nodes["StatisticsGen"].outputs["statistics"][0].uri
    for split in ("train", "eval"):
        with open(os.path.join(pushed, "training_statistics", f"Split-{split}",
                               "FeatureStats.pb"), "rb") as a, \
                open(os.path.join(stats, f"Split-{split}", "FeatureStats.pb"), "rb") as b:
            assert a.read() == b.read()
    html = open(re.search(r"report: (\S+)", out).group(1), encoding="utf-8").read()
    assert "Drift gate" in html and "cold start" in html


def test_shifted_labels_are_refused_before_training(loop):
    shifted = loop["shifted"]
    assert shifted.returncode == 1, shifted.stdout + shifted.stderr
    last = shifted.stderr.strip().splitlines()[-1]
    m = re.match(r"error: drift gate softmax: REFUSED before training: .*label "
                 r"Jensen-Shannon divergence ([0-9.]+) > bar 0\.1 .*not trained, nothing "
                 r"pushed$", last)
    assert m and float(m.group(1)) > 0.1, last
    refused = _runs(loop)[1]
    assert "Trainer.softmax" not in refused.nodes
    assert "Pusher.softmax" not in refused.nodes
    assert refused.nodes["DriftGate.softmax"].state == "FAILED"
    first_version = os.path.basename(_runs(loop)[0].models[0].pushed_path)
    versions_after_refusal = sorted(
        int(v) for v in os.listdir(loop["serving"]) if v.isdigit())
    assert str(versions_after_refusal[0]) == first_version
    # The report was still written, with both label distributions drawn.
    path = re.search(r"report: (\S+)", shifted.stdout).group(1)
    html = open(path, encoding="utf-8").read()
    assert "REFUSED" in html
    assert "softmax: label, served version&#39;s training data vs this run&#39;s data" in html


def test_same_distribution_passes_and_warm_starts_from_the_served_version(loop):
    out = loop["same"].stdout
    first_version = int(os.path.basename(_runs(loop)[0].models[0].pushed_path))
    assert re.search(r"DriftGate.softmax +drift gate softmax: passed: image Jensen-Shannon "
                     r"divergence [0-9.e-]+ <= bar 0\.1; label Jensen-Shannon divergence "
                     rf"[0-9.e-]+ <= bar 0\.1 \(this run's train data vs the data served version "
                     rf"{first_version} was trained on\)", out), out
    assert f"softmax    warm start from version {first_version}" in out
    third = _runs(loop)[2]
    assert third.nodes["Trainer.softmax"].state == "COMPLETE"
    assert third.models[0].training_stats["warm_start"]["restored"] is True
    assert np.isfinite(third.models[0].training_stats["final_train_loss"])
