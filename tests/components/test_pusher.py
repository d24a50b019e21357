"""components/pusher.py: every push gets a version of its own, even two pushes in the
same second, and each version holds the model of the push that claimed it."""
import concurrent.futures
import json
import os

import pytest
import tensorflow as tf
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts, standard_component_specs as specs
from tfx.utils import proto_utils

from components import pusher


def _saved_model(folder: str, value: float) -> str:
    module = tf.Module()
    module.v = tf.Variable(value)
    module.f = tf.function(lambda: module.v, input_signature=[])
    tf.saved_model.save(module, folder, signatures={"serving_default": module.f})
    return folder


def _push(tmp_path, name: str, value: float, base: str, blessed: int = 1):
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / f"{name}-model")
    _saved_model(os.path.join(model.uri, "Format-Serving"), value)
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / f"{name}-blessing")
    blessing.set_int_custom_property("blessed", blessed)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f"{name}-pushed")
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base))
    pusher.Executor().Do(
        {specs.MODEL_KEY: [model], specs.MODEL_BLESSING_KEY: [blessing]},
        {specs.PUSHED_MODEL_KEY: [pushed]},
        {specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(destination)})
    return pushed


def test_a_version_is_at_least_the_clock_and_above_every_version_there(tmp_path):
    base = str(tmp_path / "repo")
    assert pusher.claim_version(base, 1700000000.7) == 1700000000
    assert pusher.claim_version(base, 1700000000.2) == 1700000001  # same second
    os.makedirs(os.path.join(base, "1800000000"))  # pushed with a clock ahead of ours
    assert pusher.claim_version(base, 1700000005) == 1800000001
    assert sorted(os.listdir(base)) == ["1700000000", "1700000001", "1800000000",
                                        "1800000001"]


def test_claims_racing_in_threads_never_share_a_version(tmp_path):
    base = str(tmp_path / "repo")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(lambda _: pusher.claim_version(base, 1700000000), range(40)))
    assert len(set(versions)) == 40


def test_two_pushes_in_the_same_second_each_get_their_own_version(tmp_path, monkeypatch):
    monkeypatch.setattr(pusher.time, "time", lambda: 1700000000.5)
    base = str(tmp_path / "serving" / "mnist_softmax")
    first = _push(tmp_path, "first", 1.0, base)
    second = _push(tmp_path, "second", 2.0, base)
    versions = {}
    for artifact, value in ((first, 1.0), (second, 2.0)):
        assert artifact.get_int_custom_property("pushed") == 1
        path = artifact.get_string_custom_property("pushed_destination")
        versions[artifact.get_string_custom_property("pushed_version")] = path
        # The version holds this push's model, complete.
        loaded = tf.saved_model.load(path)
        assert loaded.signatures["serving_default"]()["output_0"].numpy() == value
    assert sorted(versions) == ["1700000000", "1700000001"]
    assert sorted(os.listdir(base)) == sorted(versions)


def test_a_model_not_blessed_is_not_pushed(tmp_path):
    base = str(tmp_path / "repo")
    pushed = _push(tmp_path, "m", 1.0, base, blessed=0)
    assert pushed.get_int_custom_property("pushed") == 0
    assert not os.path.exists(base)



def test_a_pushed_version_carries_the_statistics_of_its_training_data(tmp_path, monkeypatch):
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(tmp_path / "stats")
    statistics.split_names = '["train", "eval"]'
    for split in ("train", "eval"):
        os.makedirs(tmp_path / "stats" / f"Split-{split}")
        (tmp_path / "stats" / f"Split-{split}" / "FeatureStats.pb").write_bytes(
            split.encode())
    base = str(tmp_path / "repo")
    model = standard_artifacts.Model()
    model.uri = str(tmp_path / "model")
    _saved_model(os.path.join(model.uri, "Format-Serving"), 1.0)
    blessing = standard_artifacts.ModelBlessing()
    blessing.set_int_custom_property("blessed", 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / "pushed")
    seen = []
    real_copy = pusher.copy_model

    def copy_model(src, dst):  # the statistics are there before the model is
        seen.append(sorted(os.listdir(os.path.join(dst, "training_statistics"))))
        real_copy(src, dst)

    monkeypatch.setattr(pusher, "copy_model", copy_model)
    pusher.Executor().Do(
        {specs.MODEL_KEY: [model], specs.MODEL_BLESSING_KEY: [blessing],
         pusher.STATISTICS_KEY: [statistics]},
        {specs.PUSHED_MODEL_KEY: [pushed]},
        {specs.PUSH_DESTINATION_KEY: proto_utils.proto_to_json(
            pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(
                base_directory=base)))})
    version = pushed.get_string_custom_property("pushed_destination")
    assert seen == [["Split-eval", "Split-train"]]
    for split in ("train", "eval"):
        with open(os.path.join(version, "training_statistics", f"Split-{split}",
                               "FeatureStats.pb"), "rb") as f:
            assert f.read() == split.encode()
    assert os.path.exists(os.path.join(version, "saved_model.pb"))
