"""End to end: the production loop in one workspace, on one data folder that grows span by
span (`<data>/span-<N>/`; softmax, 1 epoch, a few hundred synthetic digits per span), with
the TF Serving repository on S3 (moto's server, tests/s3_standin.py) as on Kubeflow with
k8s/overlays/s3: after every step the model-sync sidecar (`python -m
trainer.serving.model_sync --once`) mirrors the repository into a local folder and the TF
Serving stand-in (tests/serving_standins.py) loads what TF Serving would load there.

1. span 1, cold start: nothing served, the gate passes and says so; version 1 is pushed
   and carries the statistics of its training data; the mirror serves it;
2. span 2 (the same distribution), `--warm-start`: the gate passes, the Trainer starts
   from version 1's weights, version 2 is blessed against version 1 and pushed; the
   mirror serves version 2;
3. `classics rollback mnist_softmax`: version 2 is set aside, version 1 served, the
   rollback recorded (who, when); the mirror drops version 2 and serves version 1;
4. span 3 (only the classes 0-4), the first run after the rollback: ServingBaseline takes
   version 1, the one served, and the gate refuses against its training data before
   training (exit 1, the Trainer never runs, nothing is pushed, the error line names
   feature, distance, bar); the report shows both distributions and the rollback in
   force; the mirror still serves version 1;
5. `classics runs` shows every run's span, what is served and by whose rollback, and the
   push that was set aside.

The rollback comes before the refused span so that one run shows both the refusal and
that the run after a rollback is judged against the version served (ServingBaseline's
artifact is the Evaluator's baseline too). A run after the rollback that pushes (one more
Trainer and Evaluator, about 30 s here) is not part of it.
"""
import json
import os
import re
import subprocess
import sys
import urllib.request

import numpy as np
import pytest

from pipelines.image import report as image_report
from pipelines.report import runs as report
from tests.mnist_fixtures import synthetic_digits, write_mnist
from tests.paths import REPO as REPO_ROOT
from tests.report_fixtures import PIPELINE, classics
from tests.s3_standin import s3_server
from tests.serving_standins import RestServer, latest_version_dir, predict_class_ids

pytestmark = pytest.mark.e2e

N_TRAIN, N_EVAL = 300, 100
SERVING = "s3://models/serving"
NAME = "mnist_softmax"
USER = "carol"  # who rolls back (getpass.getuser() reads LOGNAME first)


def _write_span(data: str, span: int, seed: int, classes: int = 10):
    """`<data>/span-<span>/` with N_TRAIN train and N_EVAL t10k digits of `classes`
    classes; returns the t10k digits."""
    images, labels = synthetic_digits(2 * (N_TRAIN + N_EVAL), seed=seed)
    keep = labels < classes
    images, labels = images[keep][: N_TRAIN + N_EVAL], labels[keep][: N_TRAIN + N_EVAL]
    folder = os.path.join(data, f"span-{span}")
    write_mnist(folder, images[:N_TRAIN], labels[:N_TRAIN], "train")
    write_mnist(folder, images[N_TRAIN:], labels[N_TRAIN:], "t10k")
    return images[N_TRAIN:], labels[N_TRAIN:]


def _versions(s3):
    """Complete versions of NAME in the S3 repository (saved_model.pb is pushed last)."""
    return sorted(int(k.split("/")[2]) for k in s3.keys(f"{SERVING}/{NAME}/")
                  if k.endswith("/saved_model.pb") and k.count("/") == 3)


def _served_by_the_mirror(s3, mirror: str, probe) -> dict:
    """One sidecar pass, then what the TF Serving stand-in loads from the mirror (the
    highest integer folder, TF Serving's default policy): its version and its answers to
    the probe digits."""
    sync = subprocess.run(
        [sys.executable, "-m", "trainer.serving.model_sync", "--source", SERVING,
         "--dest", mirror, "--once"],
        cwd=REPO_ROOT, env=s3.process_env(), capture_output=True, text=True, timeout=300,
        check=False)
    assert sync.returncode == 0, sync.stdout + sync.stderr
    server = RestServer({NAME: latest_version_dir(os.path.join(mirror, NAME))})
    try:
        with urllib.request.urlopen(f"{server.url}/v1/models/{NAME}/metadata",
                                    timeout=60) as response:
            version = int(json.loads(response.read())["model_spec"]["version"])
        class_ids = predict_class_ids(server.url, NAME, probe[0])
    finally:
        server.close()
    changes = [line for line in sync.stdout.splitlines()
               if line.startswith(("synced ", "removed ", "waiting for "))]
    return {"sync": changes, "version": version,
            "accuracy": float((class_ids == probe[1]).mean()),
            "mirrored": sorted(int(v) for v in os.listdir(os.path.join(mirror, NAME)))}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    root = tmp_path_factory.mktemp("loop")
    ws, data, mirror = str(root / "workspace"), str(root / "data"), str(root / "models")
    out = {"ws": ws, "data": data,
           "metadata": os.path.join(ws, "metadata", f"{PIPELINE}.sqlite")}
    with s3_server() as s3:
        s3.bucket("models")

        def run(*extra):
            return classics("run", "mnist", "--models", "softmax", "--epochs", "1",
                            "--min-accuracy", "0.2", "--data", data, "--workspace", ws,
                            "--serving-root", SERVING, *extra, cwd=str(root), **s3.env)

        probe = _write_span(data, 1, seed=0)
        out["first"] = run()
        assert out["first"].returncode == 0, out["first"].stdout + out["first"].stderr
        out["after_first"] = _versions(s3)
        out["served_first"] = _served_by_the_mirror(s3, mirror, probe)

        _write_span(data, 2, seed=2)
        out["second"] = run("--warm-start")
        assert out["second"].returncode == 0, out["second"].stdout + out["second"].stderr
        out["after_second"] = _versions(s3)
        out["served_second"] = _served_by_the_mirror(s3, mirror, probe)

        out["rollback"] = classics("rollback", NAME, "--serving-root", SERVING,
                                   cwd=str(root), LOGNAME=USER, **s3.env)
        out["after_rollback"] = _versions(s3)
        out["record"] = json.loads(s3.client.get_object(
            Bucket="models", Key=f"serving/{NAME}/rollback.json")["Body"].read())
        out["set_aside"] = sorted({int(k.split("/")[3]) for k in s3.keys(
            f"{SERVING}/.rolled-back/{NAME}/") if k.endswith("/saved_model.pb")})
        out["served_rollback"] = _served_by_the_mirror(s3, mirror, probe)

        _write_span(data, 3, seed=1, classes=5)
        out["shifted"] = run()
        out["after_shifted"] = _versions(s3)
        out["served_shifted"] = _served_by_the_mirror(s3, mirror, probe)

        out["runs"] = classics("runs", "--workspace", ws, "--pipeline", "mnist",
                               cwd=str(root), **s3.env)
        # The statistics each pushed version carries, read while the server is up.
        out["carried"] = {
            k[len(f"serving/{NAME}/"):]: s3.client.get_object(Bucket="models", Key=k)[
                "Body"].read()
            for k in s3.keys(f"{SERVING}/{NAME}/") if "/training_statistics/" in k}
    return out


def _runs(loop):
    return report.list_runs(loop["metadata"], PIPELINE, read_metrics=image_report.read_metrics)


def _report(result) -> str:
    with open(re.search(r"report: (\S+)", result.stdout).group(1), encoding="utf-8") as f:
        return f.read()


def test_cold_start_passes_and_the_pushed_version_carries_its_statistics(loop):
    out = loop["first"].stdout
    assert re.search(r"DriftGate.softmax +drift gate softmax: passed without comparing "
                     rf"\(nothing served under {SERVING}/{NAME}: cold start\)", out), out
    assert out.count("drift gate softmax:") == 1  # one line, not repeated
    first = _runs(loop)[0]
    assert first.data_source().span == 1
    pushed = first.models[0].pushed_path
    v1 = loop["after_first"][0]
    assert loop["after_first"] == [v1] and pushed == f"{SERVING}/{NAME}/{v1}"
    carried = sorted(k for k in loop["carried"] if k.startswith(f"{v1}/")
                     and not k.endswith("/"))  # S3 folder markers
    assert carried == [f"{v1}/training_statistics/Split-{split}/FeatureStats.pb"
                       for split in ("eval", "train")]
    stats = first.nodes["StatisticsGen"].outputs["statistics"][0].uri
    for split in ("train", "eval"):
        with open(os.path.join(stats, f"Split-{split}", "FeatureStats.pb"), "rb") as f:
            assert loop["carried"][
                f"{v1}/training_statistics/Split-{split}/FeatureStats.pb"] == f.read()
    html = _report(loop["first"])
    assert "Drift gate" in html and "cold start" in html
    assert "(span 1, input fingerprint" in html
    served = loop["served_first"]
    assert served["sync"] == [f"synced {NAME}/{v1}"]
    assert (served["version"], served["mirrored"]) == (v1, [v1])
    assert served["accuracy"] > 0.5


def test_same_distribution_passes_warm_starts_and_pushes_version_2(loop):
    out = loop["second"].stdout
    v1 = loop["after_first"][0]
    assert re.search(r"DriftGate.softmax +drift gate softmax: passed: image Jensen-Shannon "
                     r"divergence [0-9.e-]+ <= bar 0\.1; label Jensen-Shannon divergence "
                     rf"[0-9.e-]+ <= bar 0\.1 \(this run's train data vs the data served version "
                     rf"{v1} was trained on\)", out), out
    assert f"softmax    warm start from version {v1}" in out
    second = _runs(loop)[1]
    assert second.data_source().span == 2
    assert second.nodes["Trainer.softmax"].state == "COMPLETE"
    model = second.models[0]
    assert model.training_stats["warm_start"]["restored"] is True
    assert np.isfinite(model.training_stats["final_train_loss"])
    # Judged against version 1 (the change threshold, not only the absolute bar), blessed.
    assert model.served_version == v1 and model.blessed is True
    assert "baseline_accuracy" in model.metrics, model.metrics
    v2 = loop["after_second"][-1]
    assert loop["after_second"] == [v1, v2] and v2 > v1
    assert model.pushed_path == f"{SERVING}/{NAME}/{v2}"
    served = loop["served_second"]
    assert served["sync"] == [f"synced {NAME}/{v2}"]
    assert (served["version"], served["mirrored"]) == (v2, [v1, v2])


def test_rollback_serves_version_1_everywhere_and_is_recorded(loop):
    v1, v2 = loop["after_second"]
    rolled = loop["rollback"]
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert f"{NAME}: now serving version {v1} (was {v2})" in rolled.stdout
    assert loop["after_rollback"] == [v1] and loop["set_aside"] == [v2]
    [entry] = loop["record"]["rollbacks"]
    assert (entry["from_version"], entry["to_version"], entry["user"]) == (v2, v1, USER)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", entry["time"])
    served = loop["served_rollback"]
    assert served["sync"] == [f"removed {NAME}/{v2}"]
    assert (served["version"], served["mirrored"]) == (v1, [v1])


def test_shifted_labels_are_refused_before_training_against_the_served_version(loop):
    v1, v2 = loop["after_second"]
    shifted = loop["shifted"]
    assert shifted.returncode == 1, shifted.stdout + shifted.stderr
    last = shifted.stderr.strip().splitlines()[-1]
    # Against version 1's training data: the version served after the rollback, not the
    # newest push.
    m = re.match(r"error: drift gate softmax: REFUSED before training: .*label "
                 r"Jensen-Shannon divergence ([0-9.]+) > bar 0\.1 \(this run's train data "
                 rf"vs the data served version {v1} was trained on\); not trained, nothing "
                 r"pushed$", last)
    assert m and float(m.group(1)) > 0.1, last
    refused = _runs(loop)[2]
    assert refused.data_source().span == 3
    baseline = refused.nodes["ServingBaseline.softmax"].outputs["model"][0]
    assert baseline.custom_properties["served_version"].int_value == v1
    assert "Trainer.softmax" not in refused.nodes
    assert "Pusher.softmax" not in refused.nodes
    assert refused.nodes["DriftGate.softmax"].state == "FAILED"
    assert loop["after_shifted"] == [v1]  # nothing pushed
    # The report was still written, with both label distributions drawn, and the
    # rollback in force.
    html = _report(shifted)
    assert "REFUSED" in html and "(span 3, input fingerprint" in html
    assert "softmax: label, served version&#39;s training data vs this run&#39;s data" in html
    entry = loop["record"]["rollbacks"][0]
    assert (f"<td>{NAME}</td><td>{v2}</td><td>{v1}</td><td>{USER}</td>"
            f"<td>{entry['time']}</td><td class=\"\">in force: version {v1} served"
            "</td>") in html, html[html.find("<h3>Rollbacks"):][:2000]
    served = loop["served_shifted"]
    assert served["sync"] == []  # nothing new, nothing gone
    assert (served["version"], served["mirrored"]) == (v1, [v1])


def test_runs_shows_each_span_and_what_is_served_after_the_rollback(loop):
    v1, v2 = loop["after_second"]
    runs = loop["runs"]
    assert runs.returncode == 0, runs.stdout + runs.stderr
    spans = re.findall(rf"from {re.escape(loop['data'])} span (\d+), fingerprint", runs.stdout)
    assert spans == ["3", "2", "1"], runs.stdout  # newest first
    assert f"pushed {NAME}/{v2} (set aside by a rollback)" in runs.stdout
    assert f"pushed {NAME}/{v1} (serving now)" in runs.stdout
    entry = loop["record"]["rollbacks"][0]
    assert re.search(rf"^  {NAME} +version {v1}  Model #\d+ \(softmax\) from run \S+; "
                     rf"rolled back from version {v2} by {USER} at {re.escape(entry['time'])}$",
                     runs.stdout, re.MULTILINE), runs.stdout
