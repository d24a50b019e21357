"""ServingBaseline on temporary TF Serving repositories, and the evaluators' handling of
an empty baseline (locally and as Kubeflow hands the artifact over)."""
import os

import pytest
from google.protobuf import struct_pb2
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.components.evaluator import executor as stock_evaluator_executor
from tfx.orchestration.kubeflow.v2 import compiler_utils
from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_entrypoint_utils
from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components import serving_baseline as sb


def _version(repo, name, complete=True, payload=b"graph"):
    path = os.path.join(repo, name)
    os.makedirs(os.path.join(path, "variables"))
    with open(os.path.join(path, "variables", "variables.index"), "wb") as f:
        f.write(b"index-" + payload)
    if complete:
        with open(os.path.join(path, "saved_model.pb"), "wb") as f:
            f.write(payload)
    return path


def _run(repo, out):
    """ServingBaseline's executor, as the runners call it."""
    model = standard_artifacts.Model()
    model.uri = str(out)
    executor = sb.ServingBaseline.EXECUTOR_SPEC.executor_class()
    executor.Do({}, {"model": [model]}, {"serving_model_dir": str(repo)})
    return model


def test_no_repository_gives_an_empty_baseline(tmp_path):
    model = _run(tmp_path / "serving" / "mnist_cnn", tmp_path / "out")
    assert model.get_int_custom_property(sb.HAS_MODEL) == 0
    assert not model.has_custom_property(sb.SERVED_VERSION)
    note = (tmp_path / "out" / sb.NO_MODEL_FILE).read_text()
    assert "mnist_cnn" in note and "nothing in service" in note
    assert not os.path.exists(path_utils.serving_model_dir(str(tmp_path / "out")))
    assert not sb.has_model(model) and sb.usable_baseline([model]) is None


def test_one_version_is_copied_where_tfx_looks_for_a_model(tmp_path):
    repo = tmp_path / "mnist_cnn"
    _version(str(repo), "1700000000", payload=b"v1")
    model = _run(repo, tmp_path / "out")
    assert model.get_int_custom_property(sb.HAS_MODEL) == 1
    assert model.get_int_custom_property(sb.SERVED_VERSION) == 1700000000
    assert model.get_string_custom_property(sb.SOURCE) == str(repo / "1700000000")
    found = path_utils.serving_model_path(model.uri)
    with open(os.path.join(found, "saved_model.pb"), "rb") as f:
        assert f.read() == b"v1"
    assert os.path.exists(os.path.join(found, "variables", "variables.index"))
    assert not os.path.exists(os.path.join(model.uri, sb.NO_MODEL_FILE))
    assert sb.usable_baseline([model]) is model


def test_the_highest_version_wins_by_number_not_by_name(tmp_path):
    repo = str(tmp_path / "mnist_cnn")
    for name in ["9", "100", "12"]:
        _version(repo, name, payload=name.encode())
    assert sb.served_versions(repo) == [9, 12, 100]
    model = _run(repo, tmp_path / "out")
    assert model.get_int_custom_property(sb.SERVED_VERSION) == 100
    with open(os.path.join(path_utils.serving_model_path(model.uri), "saved_model.pb"),
              "rb") as f:
        assert f.read() == b"100"


def test_incomplete_and_foreign_directories_are_ignored(tmp_path):
    repo = str(tmp_path / "mnist_cnn")
    _version(repo, "5")
    _version(repo, "7", complete=False)  # a push still being copied: no saved_model.pb
    _version(repo, "8.tmp")
    _version(repo, "latest")
    with open(os.path.join(repo, "99"), "w") as f:  # a file, not a version directory
        f.write("x")
    assert sb.served_versions(repo) == [5]
    assert _run(repo, tmp_path / "out").get_int_custom_property(sb.SERVED_VERSION) == 5
    # Only incomplete versions: nothing is in service.
    only_partial = str(tmp_path / "other")
    _version(only_partial, "3", complete=False)
    assert _run(only_partial, tmp_path / "out2").get_int_custom_property(sb.HAS_MODEL) == 0


def test_saved_model_pbtxt_counts_as_complete(tmp_path):
    repo = str(tmp_path / "m")
    path = _version(repo, "4", complete=False)
    open(os.path.join(path, "saved_model.pbtxt"), "w").close()
    assert sb.served_versions(repo) == [4]


def _artifact(tmp_path, name, has_model):
    art = standard_artifacts.Model()
    art.uri = str(tmp_path / name)
    if has_model is not None:
        art.set_int_custom_property(sb.HAS_MODEL, has_model)
    return art


def test_evaluator_executor_drops_only_an_empty_baseline(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(stock_evaluator_executor.Executor, "Do",
                        lambda self, inputs, outputs, props: seen.append(inputs))
    candidate = _artifact(tmp_path, "candidate", None)
    empty, served = _artifact(tmp_path, "empty", 0), _artifact(tmp_path, "served", 1)
    executor = sb.EvaluatorExecutor()
    executor.Do({"model": [candidate], "baseline_model": [empty]}, {}, {})
    executor.Do({"model": [candidate], "baseline_model": [served]}, {}, {})
    assert "baseline_model" not in seen[0] and seen[0]["model"] == [candidate]
    assert seen[1]["baseline_model"] == [served]
    # The stock executor's subclass: Kubeflow's entrypoint treats it as an Evaluator.
    assert sb.Evaluator.EXECUTOR_SPEC.executor_class is sb.EvaluatorExecutor
    assert issubclass(sb.EvaluatorExecutor, stock_evaluator_executor.Executor)


def test_two_usable_baselines_are_refused(tmp_path):
    with pytest.raises(ValueError, match="at most one baseline"):
        sb.usable_baseline([_artifact(tmp_path, "a", 1), _artifact(tmp_path, "b", 1)])


def test_a_baseline_without_the_property_counts_only_if_it_holds_a_saved_model(tmp_path):
    bare = _artifact(tmp_path, "bare", None)
    assert not sb.has_model(bare)
    os.makedirs(path_utils.serving_model_dir(bare.uri))
    open(os.path.join(path_utils.serving_model_dir(bare.uri), "saved_model.pb"), "w").close()
    assert sb.has_model(bare)


@pytest.mark.parametrize("number,expected", [(0.0, False), (1.0, True)])
def test_has_model_survives_kubeflows_metadata_round_trip(tmp_path, number, expected):
    """On KFP the launcher stores custom properties as MLMD numbers and the next task's
    driver hands them back as RuntimeArtifact metadata; TFX's entrypoint turns them into
    struct custom properties. Parse exactly that with TFX's own entrypoint code."""
    runtime = pipeline_spec_pb2.RuntimeArtifact(
        name="projects/p/artifacts/7", uri=str(tmp_path / "baseline"),
        metadata=struct_pb2.Struct(fields={
            sb.HAS_MODEL: struct_pb2.Value(number_value=number),
            sb.SERVED_VERSION: struct_pb2.Value(number_value=1700000000.0)}))
    runtime.type.instance_schema = compiler_utils.get_artifact_schema(standard_artifacts.Model)
    art = kubeflow_v2_entrypoint_utils._parse_raw_artifact(runtime, {})  # pylint: disable=protected-access
    assert isinstance(art, standard_artifacts.Model)
    assert sb.has_model(art) is expected
    kept = sb.without_empty_baseline({"baseline_model": [art]})
    assert ("baseline_model" in kept) is expected
