"""The drift gate: this run's training data against the data the served version saw.

Three nodes per model, all before its Trainer (pipelines/nodes.py wires them):

- `DriftBaseline` takes ServingBaseline's copy of the served version (no Resolver, so it
  runs on open-source KFP too; components/serving_baseline.py) and outputs the
  statistics that version carries (components/served_statistics.py) as an
  ExampleStatistics artifact, custom properties `has_statistics`, `served_version`.
  Nothing served (cold start), or a version pushed without statistics: an empty
  artifact with `has_statistics` = 0 and a note saying which.
- `DistributionValidator` is TFX's (tfx/components/distribution_validator/), comparing
  StatisticsGen's `train` split with the baseline's by the model's registry bars
  (`ModelSpec.drift_checks`: Jensen-Shannon divergence or L-infinity distance per
  feature), minus an empty baseline: its executor then blesses without comparing, as TFX's
  does when no baseline is given ("rubber stamping", blessed value 2).
- `DriftGate` reads the validator's anomalies. Passed: one `drift gate <model>: ...` log
  line (the local runner shows it on the console) naming every distance and its bar.
  Refused: it raises `DriftRefused` naming the feature, the distance and the bar; the
  model's Trainer runs after the gate only (an upstream dependency), so it never starts
  and nothing is pushed.

Why the gate raises instead of a `tfx.dsl.Cond` around the branch: a condition is an
input of every node under it, and the gate's verdict is new in every run (the served
version is read afresh), so no Trainer would ever come from the cache again; the run
exiting non-zero on drift is also what a scheduled production run should do. The gate
depends on the data only through the validator, so with unchanged data and an unchanged
served version the Trainer's cache still holds.
"""
# No `from __future__ import annotations`: @component reads the annotations at runtime.

import dataclasses
import os
from typing import Any, Dict, List, Optional, Sequence

from absl import logging
from tfx import types
# TFX's own modules, not tfx.v1 (which re-exports them): importing tfx.v1 loads its
# Google Cloud extensions, about 3.5 s in every container that runs these executors.
from tfx.dsl.component.experimental.annotations import (InputArtifact, OutputArtifact,
                                                        Parameter)
from tfx.dsl.component.experimental.decorators import component
from tfx.components.distribution_validator import component as dv_component
from tfx.components.distribution_validator import executor as dv_executor
from tfx.dsl.components.base import executor_spec
from tfx.proto import distribution_validator_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import io_utils, path_utils, proto_utils

from tensorflow_metadata.proto.v0 import anomalies_pb2, path_pb2, schema_pb2

from components import filesystem, served_statistics
from components import serving_baseline as sb
from components.serving_baseline import SERVED_VERSION, SOURCE
from trainer.registry import JENSEN_SHANNON, L_INFINITY, DriftCheck

HAS_STATISTICS = "has_statistics"
NO_STATISTICS_FILE = "NO_STATISTICS"
# The split compared: what the Trainer trains on.
SPLIT = "train"
SPLIT_PAIR = f"{SPLIT}_{SPLIT}"  # the validator's name for (train, train)
LINE_PREFIX = "drift gate "  # every gate line starts so (pipelines/progress.py shows them)

DISTANCE_NAMES = {JENSEN_SHANNON: "Jensen-Shannon divergence",
                  L_INFINITY: "L-infinity distance"}
_MEASUREMENTS = {
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: JENSEN_SHANNON,
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: L_INFINITY,
}


class DriftRefused(RuntimeError):
    """The training data drifted past a bar: the model's branch stops before training."""


# ------------------------------------------------------------------------- the config

def validator_config(checks: Sequence[DriftCheck]
                     ) -> distribution_validator_pb2.DistributionValidatorConfig:
    """The DistributionValidator's config for a model's registry bars."""
    if not checks:
        raise ValueError("a drift gate needs at least one drift check")
    config = distribution_validator_pb2.DistributionValidatorConfig()
    for check in checks:
        feature = config.default_slice_config.feature.add()
        feature.path.CopyFrom(path_pb2.Path(step=[check.feature]))
        comparator = schema_pb2.FeatureComparator()
        if check.distance == JENSEN_SHANNON:
            comparator.jensen_shannon_divergence.threshold = check.bar
        else:
            comparator.infinity_norm.threshold = check.bar
        feature.distribution_comparator.CopyFrom(comparator)
    return config


# ------------------------------------------------------------------- the baseline step

def served_statistics_of(model_uri: str, has_model: bool, served_version: Optional[int],
                         source: str, out_uri: str) -> Dict[str, Any]:
    """Lays out the statistics ServingBaseline's copy at `model_uri` carries as an
    ExampleStatistics artifact at `out_uri`; returns its custom properties and
    `split_names` (or writes the NO_STATISTICS note)."""
    copy = path_utils.serving_model_dir(model_uri)
    found = served_statistics.splits(copy) if has_model else []
    if has_model and SPLIT in found:
        served_statistics.copy_to_artifact(copy, found, out_uri)
        return {HAS_STATISTICS: 1, SERVED_VERSION: served_version, SOURCE: source,
                "split_names": found}
    if has_model:
        why = (f"served version {served_version} ({source}) carries no "
               f"{served_statistics.STATISTICS_DIR}/{served_statistics.SPLIT_PREFIX}{SPLIT}: "
               "it was pushed without the statistics of its training data")
    else:
        why = f"nothing served under {source}: cold start"
    io_utils.write_string_file(os.path.join(out_uri, NO_STATISTICS_FILE), why + "\n")
    props = {HAS_STATISTICS: 0, SOURCE: source, "split_names": []}
    if has_model:
        props[SERVED_VERSION] = served_version
    return props


@component
def DriftBaseline(
    model: InputArtifact[standard_artifacts.Model],
    statistics: OutputArtifact[
        standard_artifacts.ExampleStatistics],
) -> None:
    """The training statistics of the served version ServingBaseline copied (see the
    module docstring), or an empty artifact marked `has_statistics` = 0."""
    has_model = sb.has_model(model)
    version = (model.get_int_custom_property(SERVED_VERSION)
               if model.has_custom_property(SERVED_VERSION) else None)
    source = (model.get_string_custom_property(SOURCE)
              if model.has_custom_property(SOURCE) else model.uri)
    props = served_statistics_of(model.uri, has_model, version, source, statistics.uri)
    statistics.split_names = artifact_utils.encode_split_names(props.pop("split_names"))
    for key, value in props.items():
        if isinstance(value, int):
            statistics.set_int_custom_property(key, value)
        elif value is not None:
            statistics.set_string_custom_property(key, value)


def has_statistics(artifact: types.Artifact) -> bool:
    """Whether a baseline ExampleStatistics artifact holds statistics (an artifact not
    made by DriftBaseline counts when it names splits)."""
    if artifact.has_custom_property(HAS_STATISTICS):
        return artifact.get_int_custom_property(HAS_STATISTICS) == 1
    return bool(artifact_utils.decode_split_names(artifact.split_names))


# ------------------------------------------------------------------------ the validator

class DistributionValidatorExecutor(dv_executor.Executor):
    """TFX's DistributionValidator executor, without an empty baseline (it then blesses
    every split without comparing, as TFX's executor does with no baseline at all)."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]):
        key = standard_component_specs.BASELINE_STATISTICS_KEY
        kept = dict(input_dict)
        kept[key] = [a for a in input_dict.get(key, []) if has_statistics(a)]
        return super().Do(kept, output_dict, parsed_config(exec_properties))


def parsed_config(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
    """The properties with the validator's config as its proto: the KFP container
    entrypoint hands proto properties over as JSON text, which TFX 1.16's executor uses
    as it comes (`_get_distribution_validator_config` returns the string)."""
    out = dict(exec_properties)
    key = standard_component_specs.DISTRIBUTION_VALIDATOR_CONFIG_KEY
    if isinstance(out.get(key), str):
        out[key] = proto_utils.json_to_proto(
            out[key], distribution_validator_pb2.DistributionValidatorConfig())
    return out


class DistributionValidator(dv_component.DistributionValidator):
    """TFX's DistributionValidator that ignores an empty `baseline_statistics`
    (has_statistics = 0)."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(DistributionValidatorExecutor)


# ----------------------------------------------------------------------------- the gate

@dataclasses.dataclass
class Measurement:
    feature: str
    distance: str  # JENSEN_SHANNON | L_INFINITY
    value: float
    bar: float

    @property
    def passed(self) -> bool:
        return self.value <= self.bar

    def describe(self) -> str:
        sign = "<=" if self.passed else ">"
        return (f"{self.feature} {DISTANCE_NAMES[self.distance]} {self.value:.4g} "
                f"{sign} bar {self.bar:g}")


@dataclasses.dataclass
class Verdict:
    """What the gate decided for one model, and why."""
    model: str
    passed: bool
    compared: bool  # False: nothing to compare with (cold start, no statistics carried)
    served_version: Optional[int]
    measurements: List[Measurement]
    problems: List[str]  # refusals the validator gave without a measurement
    note: str = ""  # why nothing was compared

    def line(self) -> str:
        """The one console line (`drift gate <model>: ...`)."""
        head = f"{LINE_PREFIX}{self.model}: "
        if not self.compared:
            return head + f"passed without comparing ({self.note})"
        against = f"this run's {SPLIT} data vs the data served version " \
                  f"{self.served_version} was trained on"
        if self.passed:
            return head + "passed: " + "; ".join(
                m.describe() for m in self.measurements) + f" ({against})"
        failed = [m.describe() for m in self.measurements if not m.passed] + self.problems
        return (head + "REFUSED before training: " + "; ".join(failed)
                + f" ({against}); not trained, nothing pushed")


def read_measurements(anomalies: anomalies_pb2.Anomalies) -> List[Measurement]:
    """Every distance the validator measured, with the bar it applied, by feature name."""
    found = []
    for info in anomalies.drift_skew_info:
        feature = ".".join(info.path.step)
        for m in info.drift_measurements:
            if m.type in _MEASUREMENTS:
                found.append(Measurement(feature, _MEASUREMENTS[m.type], m.value, m.threshold))
    return sorted(found, key=lambda m: (m.feature, m.distance))


def read_problems(anomalies: anomalies_pb2.Anomalies) -> List[str]:
    """The validator's refusals that carry no measurement (e.g. a configured feature
    missing from the statistics: "Comparison could not be done")."""
    measured = {".".join(i.path.step) for i in anomalies.drift_skew_info}
    out = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        if feature in measured:
            continue
        for reason in info.reason:
            out.append(f"{feature}: {reason.short_description or reason.description}")
    return out


def anomalies_path(anomalies_uri: str) -> str:
    return os.path.join(anomalies_uri, f"SplitPair-{SPLIT_PAIR}", dv_executor.DEFAULT_FILE_NAME)


def decide(model: str, blessed: Dict[str, int], anomalies: Optional[anomalies_pb2.Anomalies],
           served_version: Optional[int], note: str) -> Verdict:
    """The verdict from the validator's `blessed` property ({split pair or split: value})
    and its anomalies of the train/train pair (None when it compared nothing)."""
    if blessed and all(v == dv_executor.NO_BASELINE_STATS for v in blessed.values()):
        return Verdict(model, True, False, served_version, [], [], note)
    if SPLIT_PAIR not in blessed or anomalies is None:
        raise ValueError(f"the distribution validator compared no {SPLIT_PAIR} split pair "
                         f"(blessed: {blessed})")
    measurements = read_measurements(anomalies)
    problems = read_problems(anomalies)
    passed = blessed[SPLIT_PAIR] == dv_executor.BLESSED_VALUE
    if not passed and not problems and all(m.passed for m in measurements):
        problems = ["the distribution validator found an anomaly"]
    return Verdict(model, passed, True, served_version, measurements, problems)


def read_verdict(model: str, anomalies_artifact: types.Artifact,
                 baseline: types.Artifact) -> Verdict:
    blessed = anomalies_artifact.get_json_value_custom_property(
        dv_executor.ARTIFACT_PROPERTY_BLESSED_KEY) or {}
    # On KFP the next task reads a struct property back from ML Metadata wrapped as
    # {"struct": {...}} (kubeflow/pipelines backend/src/v2/metadata/converter.go,
    # StructValueToMLMDValue), with its numbers as floats.
    if isinstance(blessed, dict) and set(blessed) == {"struct"}:
        blessed = blessed["struct"]
    path = anomalies_path(anomalies_artifact.uri)
    anomalies = None
    if filesystem.exists(path):
        anomalies = anomalies_pb2.Anomalies.FromString(io_utils.read_bytes_file(path))
    version = (baseline.get_int_custom_property(SERVED_VERSION)
               if baseline.has_custom_property(SERVED_VERSION) else None)
    note_path = os.path.join(baseline.uri, NO_STATISTICS_FILE)
    note = (io_utils.read_string_file(note_path).strip()
            if filesystem.exists(note_path) else "")
    return decide(model, dict(blessed), anomalies, version, note)


@component
def DriftGate(
    model_name: Parameter[str],
    anomalies: InputArtifact[
        standard_artifacts.ExampleAnomalies],
    baseline_statistics: InputArtifact[
        standard_artifacts.ExampleStatistics],
) -> None:
    """Passes (one log line) or raises DriftRefused (see the module docstring)."""
    verdict = read_verdict(model_name, anomalies, baseline_statistics)
    if not verdict.passed:
        raise DriftRefused(verdict.line())
    logging.info(verdict.line())
