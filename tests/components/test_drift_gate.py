"""components/drift_gate.py and components/served_statistics.py: the registry's bars as
the DistributionValidator's config, the baseline step on a served version with and
without statistics and on a cold start, TFX's validator on real statistics, and the
gate's verdicts."""
import json
import os
import subprocess
import sys
import textwrap

import pytest
from tfx.utils import proto_utils
import tensorflow as tf
from tensorflow_data_validation.statistics import stats_impl
from tfx.components.distribution_validator import executor as dv_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import path_utils
from tfx_bsl.coders import example_coder

from components import drift_gate as dg
from components import served_statistics
from components import serving_baseline as sb
from pipelines import tasks
from tests.paths import REPO as REPO_ROOT
from tests.s3_standin import s3_server
from trainer.registry import JENSEN_SHANNON, L_INFINITY, DriftCheck


def test_every_registry_entry_has_valid_drift_bars():
    for name, spec in tasks.MODELS.models.items():
        assert spec.drift_checks, name
        config = dg.validator_config(spec.drift_checks)
        fields = {JENSEN_SHANNON: "jensen_shannon_divergence", L_INFINITY: "infinity_norm"}
        got = [(f.path.step[0], getattr(f.distribution_comparator, fields[c.distance])
                .threshold) for f, c in zip(config.default_slice_config.feature,
                                            spec.drift_checks)]
        assert got == [(c.feature, c.bar) for c in spec.drift_checks], name
    softmax = dg.validator_config(tasks.MODELS.get("softmax").drift_checks)
    label, image = softmax.default_slice_config.feature
    assert list(label.path.step) == ["label"]
    assert label.distribution_comparator.jensen_shannon_divergence.threshold == 0.1
    assert list(image.path.step) == ["image"]
    tokens = dg.validator_config(tasks.MODELS.get("lstm").drift_checks)
    assert tokens.default_slice_config.feature[0].distribution_comparator \
        .infinity_norm.threshold == 0.05


@pytest.mark.parametrize("distance, bar, words", [
    ("cosine", 0.1, "unknown distance 'cosine'"), (JENSEN_SHANNON, 0.0, "in (0, 1]"),
    (L_INFINITY, 1.5, "in (0, 1]")])
def test_bad_drift_bars_are_refused(distance, bar, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace("]", r"\]")):
        DriftCheck("label", distance, bar)
    with pytest.raises(ValueError, match="at least one drift check"):
        dg.validator_config(())


def _statistics(folder, labels, pixels):
    """An ExampleStatistics artifact at `folder` (train and eval splits) as StatisticsGen
    writes it, of digits with these labels and pixel values."""
    records = []
    for label, value in zip(labels, pixels):
        example = tf.train.Example()
        example.features.feature["label"].int64_list.value.append(int(label))
        example.features.feature["image"].int64_list.value.extend([int(value)] * 4)
        records.append(example.SerializeToString())
    batch = example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(records)
    stats = stats_impl.generate_statistics_in_memory(batch)
    artifact = standard_artifacts.ExampleStatistics()
    artifact.uri = str(folder)
    artifact.split_names = artifact_utils.encode_split_names(["train", "eval"])
    for split in ("train", "eval"):
        os.makedirs(os.path.join(folder, f"Split-{split}"))
        # StatisticsGen's FeatureStats.pb: one serialized DatasetFeatureStatisticsList.
        with open(os.path.join(folder, f"Split-{split}", "FeatureStats.pb"), "wb") as f:
            f.write(stats.SerializeToString())
    return artifact


def _served_copy(tmp_path, name, statistics=None, version=1700000000):
    """ServingBaseline's output for a repository holding one version (carrying
    `statistics` when given), or for an empty repository (version None)."""
    repo = tmp_path / f"{name}-repo"
    if version is not None:
        folder = repo / str(version)
        os.makedirs(folder / "variables")
        (folder / "saved_model.pb").write_bytes(b"graph")
        if statistics is not None:
            served_statistics.write(statistics.uri, ["train", "eval"], str(folder))
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / f"{name}-copy")
    sb.ServingBaseline.EXECUTOR_SPEC.executor_class().Do(
        {}, {"model": [model]}, {"serving_model_dir": str(repo)})
    return model


def _baseline(tmp_path, name, model):
    out = standard_artifacts.ExampleStatistics()
    out.uri = str(tmp_path / f"{name}-baseline")
    dg.DriftBaseline.EXECUTOR_SPEC.executor_class().Do(
        {"model": [model]}, {"statistics": [out]}, {})
    return out


def _run_validator(tmp_path, name, current, baseline, config):
    """The validator's anomalies artifact; `config` as a proto or as JSON text."""
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / f"{name}-anomalies")
    dg.DistributionValidator.EXECUTOR_SPEC.executor_class().Do(
        {"statistics": [current], "baseline_statistics": [baseline]},
        {"anomalies": [anomalies]},
        {"distribution_validator_config": config,
         "include_split_pairs": '[["train", "train"]]'})
    return anomalies


def _validate(tmp_path, name, current, baseline, checks):
    anomalies = _run_validator(tmp_path, name, current, baseline, dg.validator_config(checks))
    return dg.read_verdict("softmax", anomalies, baseline)


CHECKS = (DriftCheck("label", JENSEN_SHANNON, 0.1), DriftCheck("image", JENSEN_SHANNON, 0.1))


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    root = tmp_path_factory.mktemp("stats")
    return {"served": _statistics(root / "served", [i % 10 for i in range(300)],
                                  [i % 256 for i in range(300)]),
            "same": _statistics(root / "same", [(i * 7) % 10 for i in range(300)],
                                [(i * 3) % 256 for i in range(300)]),
            "shifted": _statistics(root / "shifted", [i % 5 for i in range(300)],
                                   [i % 256 for i in range(300)])}


def test_served_statistics_reach_the_validator_and_same_data_passes(tmp_path, stats):
    baseline = _baseline(tmp_path, "b", _served_copy(tmp_path, "m", stats["served"]))
    assert baseline.get_int_custom_property(dg.HAS_STATISTICS) == 1
    assert baseline.get_int_custom_property(sb.SERVED_VERSION) == 1700000000
    assert artifact_utils.decode_split_names(baseline.split_names) == ["eval", "train"]
    with open(os.path.join(baseline.uri, "Split-train", "FeatureStats.pb"), "rb") as a, \
            open(os.path.join(stats["served"].uri, "Split-train", "FeatureStats.pb"),
                 "rb") as b:
        assert a.read() == b.read()
    verdict = _validate(tmp_path, "v", stats["same"], baseline, CHECKS)
    assert verdict.passed and verdict.compared and verdict.served_version == 1700000000
    assert [(m.feature, m.distance) for m in verdict.measurements] == [
        ("image", JENSEN_SHANNON), ("label", JENSEN_SHANNON)]
    assert all(m.value <= 0.1 for m in verdict.measurements)
    assert verdict.line().startswith("drift gate softmax: passed: ")


def test_shifted_labels_are_refused_with_feature_distance_and_bar(tmp_path, stats):
    baseline = _baseline(tmp_path, "b", _served_copy(tmp_path, "m", stats["served"]))
    verdict = _validate(tmp_path, "v", stats["shifted"], baseline, CHECKS)
    assert not verdict.passed
    label = next(m for m in verdict.measurements if m.feature == "label")
    assert label.value > 0.1 and not label.passed
    line = verdict.line()
    assert line.startswith("drift gate softmax: REFUSED before training: label "
                           f"Jensen-Shannon divergence {label.value:.4g} > bar 0.1 ")
    assert line.endswith("served version 1700000000 was trained on); not trained, "
                         "nothing pushed")
    gate = dg.DriftGate.EXECUTOR_SPEC.executor_class()
    anomalies = standard_artifacts.ExampleAnomalies()
    anomalies.uri = str(tmp_path / "v-anomalies")
    anomalies.set_json_value_custom_property(
        dv_executor.ARTIFACT_PROPERTY_BLESSED_KEY, {"train_train": 0})
    with pytest.raises(dg.DriftRefused, match="label Jensen-Shannon divergence"):
        gate.Do({"anomalies": [anomalies], "baseline_statistics": [baseline]}, {},
                {"model_name": "softmax"})


def test_a_feature_the_statistics_lack_is_refused(tmp_path, stats):
    baseline = _baseline(tmp_path, "b", _served_copy(tmp_path, "m", stats["served"]))
    verdict = _validate(tmp_path, "v", stats["same"], baseline,
                        CHECKS + (DriftCheck("tokens", L_INFINITY, 0.1),))
    assert not verdict.passed
    assert verdict.problems == ["tokens: Comparison could not be done."]


def test_cold_start_passes_and_says_so(tmp_path, stats):
    model = _served_copy(tmp_path, "m", version=None)
    baseline = _baseline(tmp_path, "b", model)
    assert baseline.get_int_custom_property(dg.HAS_STATISTICS) == 0
    assert not dg.has_statistics(baseline)
    verdict = _validate(tmp_path, "v", stats["shifted"], baseline, CHECKS)
    assert verdict.passed and not verdict.compared and verdict.served_version is None
    assert verdict.line() == ("drift gate softmax: passed without comparing (nothing "
                              f"served under {tmp_path / 'm-repo'}: cold start)")


def test_a_version_pushed_without_statistics_passes_and_says_so(tmp_path, stats):
    baseline = _baseline(tmp_path, "b", _served_copy(tmp_path, "m", statistics=None))
    assert not dg.has_statistics(baseline)
    assert baseline.get_int_custom_property(sb.SERVED_VERSION) == 1700000000
    verdict = _validate(tmp_path, "v", stats["shifted"], baseline, CHECKS)
    assert verdict.passed and not verdict.compared
    assert "served version 1700000000" in verdict.line()
    assert "carries no training_statistics/Split-train" in verdict.line()


def test_statistics_are_copied_before_a_version_is_complete(tmp_path, stats):
    """The ServingBaseline copy carries them: they sit inside the version folder."""
    model = _served_copy(tmp_path, "m", stats["served"])
    copy = path_utils.serving_model_dir(model.uri)
    assert served_statistics.splits(copy) == ["eval", "train"]
    with pytest.raises(FileNotFoundError, match="no statistics for split 'test'"):
        served_statistics.write(stats["served"].uri, ["train", "test"],
                                str(tmp_path / "other"))
    assert not os.path.exists(tmp_path / "other")


_S3_CHILD = textwrap.dedent("""
    import json, os, sys
    from tfx.types import artifact_utils, standard_artifacts
    from components import drift_gate as dg, served_statistics, serving_baseline as sb
    from tfx.dsl.io import fileio
    from trainer.runtime import object_store

    stats_dir, repo, out = sys.argv[1:4]
    version = repo + "/1700000000"
    served_statistics.write(stats_dir, ["train", "eval"], version)
    fileio.makedirs(version + "/variables")
    with fileio.open(version + "/saved_model.pb", "wb") as f:
        f.write(b"graph")
    model = standard_artifacts.Model()
    model.uri = out + "/copy"
    sb.ServingBaseline.EXECUTOR_SPEC.executor_class().Do(
        {}, {"model": [model]}, {"serving_model_dir": repo})
    baseline = standard_artifacts.ExampleStatistics()
    baseline.uri = out + "/baseline"
    dg.DriftBaseline.EXECUTOR_SPEC.executor_class().Do(
        {"model": [model]}, {"statistics": [baseline]}, {})
    with fileio.open(baseline.uri + "/Split-train/FeatureStats.pb", "rb") as f:
        size = len(f.read())
    print(json.dumps([baseline.get_int_custom_property(dg.HAS_STATISTICS),
                      artifact_utils.decode_split_names(baseline.split_names), size]))
    sys.exit(object_store.exit_process(0))
""")


def test_statistics_travel_with_a_version_on_s3(stats):
    """On an s3:// serving repository (moto's server, the stand-in for S3/MinIO), in a
    child process: TensorFlow's S3 plugin must not load into the test process."""
    local = os.path.join(stats["served"].uri, "Split-train", "FeatureStats.pb")
    with s3_server() as s3:
        uri = s3.bucket("serving")
        s3.upload_dir(stats["served"].uri, f"{uri}/statistics")
        result = subprocess.run(
            [sys.executable, "-c", _S3_CHILD, f"{uri}/statistics", f"{uri}/mnist_softmax",
             f"{uri}/artifacts"], cwd=REPO_ROOT, env=s3.process_env(), capture_output=True,
            text=True, timeout=300)
        keys = s3.keys(f"{uri}/mnist_softmax/")
    assert result.returncode == 0, result.stderr[-3000:]
    has, splits, size = json.loads(result.stdout.strip().splitlines()[-1])
    assert (has, splits, size) == (1, ["eval", "train"], os.path.getsize(local))
    assert "mnist_softmax/1700000000/training_statistics/Split-train/FeatureStats.pb" in keys



@pytest.mark.parametrize("served", [True, False], ids=["compared", "cold_start"])
def test_the_verdict_is_the_same_from_the_property_as_kfp_passes_it_on(tmp_path, stats,
                                                                       served):
    """A compiled pipeline's gate reads the validator's `blessed` struct back as the KFP
    backend hands it to the next task: {"struct": {...}} with float values."""
    model = (_served_copy(tmp_path, "m", stats["served"]) if served
             else _served_copy(tmp_path, "m", version=None))
    baseline = _baseline(tmp_path, "b", model)
    direct = _validate(tmp_path, "v", stats["shifted"], baseline, CHECKS)
    anomalies = _run_validator(tmp_path, "v", stats["shifted"], baseline,
                               dg.validator_config(CHECKS))
    blessed = anomalies.get_json_value_custom_property(
        dv_executor.ARTIFACT_PROPERTY_BLESSED_KEY)
    anomalies.set_json_value_custom_property(
        dv_executor.ARTIFACT_PROPERTY_BLESSED_KEY,
        {"struct": {k: float(v) for k, v in blessed.items()}})
    via_kfp = dg.read_verdict("softmax", anomalies, baseline)
    assert via_kfp == direct
    assert via_kfp.passed == (not served)


def test_the_config_as_a_compiled_pipeline_passes_it_is_read_as_the_proto(tmp_path, stats):
    """On KFP the validator's config arrives as JSON text; the verdict must not change."""
    baseline = _baseline(tmp_path, "b", _served_copy(tmp_path, "m", stats["served"]))
    config = dg.validator_config(CHECKS)
    as_text = dg.parsed_config({"distribution_validator_config":
                                proto_utils.proto_to_json(config)})
    assert as_text["distribution_validator_config"] == config
    anomalies = _run_validator(tmp_path, "text", stats["shifted"], baseline,
                               proto_utils.proto_to_json(config))
    verdict = dg.read_verdict("softmax", anomalies, baseline)
    assert verdict == _validate(tmp_path, "v", stats["shifted"], baseline, CHECKS)
    assert not verdict.passed
