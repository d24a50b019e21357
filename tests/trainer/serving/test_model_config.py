"""TF Serving config files: models.config, batching.config, monitoring.config."""
import os
import re
import stat

import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from trainer.serving import model_config as sc

from tests.paths import REPO


def _touch(path, content=b"x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(content)


# ------------------------------------------------------------------------- models.config

def test_models_config_parses_as_model_server_config():
    text = sc.models_config_text(["mnist_softmax", "mnist_cnn"])
    config = text_format.Parse(text, model_server_config_pb2.ModelServerConfig())
    models = config.model_config_list.config
    assert [m.name for m in models] == ["mnist_softmax", "mnist_cnn"]
    assert [m.base_path for m in models] == ["/models/mnist_softmax", "/models/mnist_cnn"]
    for m in models:
        assert m.model_platform == "tensorflow"
        assert m.model_version_policy.WhichOneof("policy_choice") == "latest"
        assert m.model_version_policy.latest.num_versions == 1


def test_models_config_options():
    config = sc.parse_models_config(
        sc.models_config_text(["cifar10_resnet20"], model_root="/srv/models/", num_versions=2))
    (model,) = config.model_config_list.config
    assert model.base_path == "/srv/models/cifar10_resnet20"
    assert model.model_version_policy.latest.num_versions == 2


def test_models_config_on_cloud_storage_and_not_s3():
    config = sc.parse_models_config(sc.models_config_text(["mnist_cnn"],
                                                          model_root="gs://bucket/serving"))
    assert config.model_config_list.config[0].base_path == "gs://bucket/serving/mnist_cnn"
    with pytest.raises(sc.ServingConfigError, match="cannot read s3://.*model_sync"):
        sc.models_config_text(["mnist_cnn"], model_root="s3://bucket/serving")
    for root in ("hdfs://nn/serving", "http://host/serving", ""):
        with pytest.raises(sc.ServingConfigError):
            sc.models_config_text(["mnist_cnn"], model_root=root)


@pytest.mark.parametrize("names", [
    [],
    ["mnist_cnn", "mnist_cnn"],
    ["mnist cnn"],
    ["../etc"],
    ["mnist_cnn:predict"],
    [".hidden"],
])
def test_models_config_rejects_bad_model_lists(names):
    with pytest.raises(sc.ServingConfigError):
        sc.models_config_text(names)


def test_parse_models_config_rejects_garbage():
    with pytest.raises(sc.ServingConfigError):
        sc.parse_models_config("model_config_list { config { nme: 'x' } }")


@pytest.fixture
def serving_root(tmp_path):
    root = tmp_path / "serving"
    for rel in ["mnist_cnn/1700000000/saved_model.pb",
                "mnist_cnn/1700000100/saved_model.pb",
                "mnist_cnn/1700000200/variables/variables.index",  # push still copying
                "mnist_softmax/7/saved_model.pb",
                "text_word2vec/12/assets/vocab.txt",  # no complete version at all
                "cifar10_resnet20/latest/saved_model.pb",  # not an integer version
                "cifar10_resnet20/99999999999999999999/saved_model.pb",  # > int64
                ".trash/3/saved_model.pb",
                "bad name/1/saved_model.pb",
                "README.md"]:
        _touch(str(root / rel))
    (root / "mnist_softmax" / "8").mkdir()  # empty version folder
    return str(root)


def test_scan_serving_root_finds_complete_versions_only(serving_root):
    assert sc.scan_serving_root(serving_root) == {
        "mnist_cnn": (1700000000, 1700000100),
        "mnist_softmax": (7,),
    }


def test_models_config_for_serving_root(serving_root):
    config = sc.parse_models_config(sc.models_config_text_for_serving_root(serving_root))
    assert [(m.name, m.base_path) for m in config.model_config_list.config] == [
        ("mnist_cnn", "/models/mnist_cnn"), ("mnist_softmax", "/models/mnist_softmax")]


def test_scan_of_empty_or_missing_root(tmp_path):
    (tmp_path / "empty").mkdir()
    assert sc.scan_serving_root(str(tmp_path / "empty")) == {}
    with pytest.raises(sc.ServingConfigError, match="no model"):
        sc.models_config_text_for_serving_root(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError):
        sc.scan_serving_root(str(tmp_path / "missing"))


def test_write_models_config_is_atomic_and_readable(tmp_path, serving_root):
    target = tmp_path / "config" / "models.config"
    sc.write_models_config(str(target), ["mnist_softmax"])
    assert [m.name for m in sc.parse_models_config(target.read_text())
            .model_config_list.config] == ["mnist_softmax"]
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o644

    sc.write_models_config(str(target), serving_root=serving_root)
    assert [m.name for m in sc.parse_models_config(target.read_text())
            .model_config_list.config] == ["mnist_cnn", "mnist_softmax"]
    before = target.read_text()

    with pytest.raises(sc.ServingConfigError):
        sc.write_models_config(str(target), ["bad name"])
    with pytest.raises(sc.ServingConfigError):
        sc.write_models_config(str(target), ["mnist_cnn"], serving_root=serving_root)
    assert target.read_text() == before
    assert sorted(os.listdir(target.parent)) == ["models.config"]  # no temp files left


def test_write_atomically_cleans_up_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "models.config"
    target.write_text("old\n")

    def fail(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(sc.os, "replace", fail)
    with pytest.raises(OSError, match="disk gone"):
        sc.write_atomically(str(target), "new\n")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["models.config"]


# ----------------------------------------------------------------------- batching.config

UPSTREAM_PROTO = os.path.join(REPO, "tests", "data", "session_bundle_config.proto")


def _upstream_batching_fields():
    """BatchingParameters' fields as TF Serving 2.16.1's own .proto declares them (a
    verbatim copy in tests/data: the wheel ships no session_bundle_config_pb2)."""
    with open(UPSTREAM_PROTO, encoding="utf-8") as f:
        text = f.read()
    body = re.search(r"^message BatchingParameters \{(.*?)^\}", text, re.M | re.S).group(1)
    body = re.sub(r"//[^\n]*", "", body)
    return {name: (f"{label or ''}{type_name}", int(number)) for label, type_name, name, number
            in re.findall(r"(repeated )?([\w.]+) (\w+) = (\d+);", body)}


def test_batching_field_table_is_tf_servings_own():
    upstream = _upstream_batching_fields()
    assert len(upstream) == 9 and upstream["max_batch_size"] == (
        "google.protobuf.Int64Value", 1)  # the copy parsed as a whole
    assert sc.BATCHING_PARAMETERS_FIELDS == upstream
    fields = {f.name: f for f in sc.BatchingParametersProto.DESCRIPTOR.fields}
    assert set(fields) == set(upstream)
    for name, (type_name, number) in upstream.items():
        assert fields[name].number == number
        if type_name.startswith("google.protobuf."):
            assert fields[name].message_type.full_name == type_name
        assert (fields[name].label == fields[name].LABEL_REPEATED) == \
            type_name.startswith("repeated ")


def test_cpu_batching_follows_tf_serving_cpu_advice():
    text = sc.batching_config_text(sc.cpu_batching(num_cores=6))
    assert "max_batch_size { value: 128 }\n" in text
    assert sc.validate_batching_config(text) == {
        "max_batch_size": 128, "batch_timeout_micros": 0, "max_enqueued_batches": 32,
        "num_batch_threads": 6}


def test_gpu_batching_pads_to_allowed_sizes():
    values = sc.validate_batching_config(sc.batching_config_text(sc.gpu_batching()))
    assert values["num_batch_threads"] == sc.GPU_SERVING_HOST_CORES
    assert values["batch_timeout_micros"] > 0
    assert values["allowed_batch_sizes"] == [16, 32, 64, 128, 256]
    assert values["allowed_batch_sizes"][-1] == values["max_batch_size"]


def test_validator_accepts_every_documented_field():
    text = """
        max_batch_size { value: 1024 }
        batch_timeout_micros { value: 500 }
        max_enqueued_batches { value: 8 }
        num_batch_threads { value: 4 }
        thread_pool_name { value: "serving_batch_threads" }
        enable_large_batch_splitting { value: true }
        max_execution_batch_size { value: 64 }
        allowed_batch_sizes: 32
        allowed_batch_sizes: 64
        pad_variable_length_inputs: true
    """
    values = sc.validate_batching_config(text)
    assert set(values) == set(sc.BATCHING_PARAMETERS_FIELDS)
    assert values["thread_pool_name"] == "serving_batch_threads"
    assert values["enable_large_batch_splitting"] is True


def test_settings_with_every_field_round_trip():
    settings = sc.BatchingSettings(
        max_batch_size=512, batch_timeout_micros=1000, max_enqueued_batches=4,
        num_batch_threads=2, allowed_batch_sizes=(64, 128), pad_variable_length_inputs=True,
        enable_large_batch_splitting=True, max_execution_batch_size=128,
        thread_pool_name='pool "a"')
    values = sc.validate_batching_config(sc.batching_config_text(settings))
    assert values["thread_pool_name"] == 'pool "a"'
    assert values["allowed_batch_sizes"] == [64, 128]
    assert values["max_execution_batch_size"] == 128


@pytest.mark.parametrize("text, message", [
    ("max_batch_size { value: 32 }\nmax_batch_szie { value: 32 }", "no field named"),
    ("batch_size { value: 32 }", "no field named"),
    ("max_batch_size: 32", 'Expected "{"'),  # wrapper written as a plain scalar
    ("max_batch_size { value: 3.5 }", "integer"),
    ('num_batch_threads { value: "4" }', "integer"),
    # a plain bool written as a wrapper
    ("pad_variable_length_inputs { value: true }", 'Expected ":"'),
    ("pad_variable_length_inputs: 2", "true"),
    ("enable_large_batch_splitting: true", 'Expected "{"'),
    ("thread_pool_name { value: 7 }", "string"),
    ("allowed_batch_sizes: [8, sixteen]", "integer"),
    ("max_batch_size { value: 1 }\nmax_batch_size { value: 2 }", "multiple"),
    ("max_batch_size { value: 99999999999999999999 }", "out of range"),
])
def test_validator_rejects_unknown_fields_and_wrong_types(text, message):
    with pytest.raises(sc.BatchingConfigError, match="BatchingParameters") as info:
        sc.validate_batching_config(text)
    assert message in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("max_batch_size { value: 0 }", "max_batch_size must be >= 1"),
    ("num_batch_threads { value: 0 }", "num_batch_threads must be >= 1"),
    ("max_enqueued_batches { value: -1 }", "max_enqueued_batches must be >= 1"),
    ("batch_timeout_micros { value: -5 }", "batch_timeout_micros must be >= 0"),
    ('thread_pool_name { value: "" }', "thread_pool_name"),
    ("max_batch_size { value: 64 }\nallowed_batch_sizes: 32\nallowed_batch_sizes: 16\n"
     "allowed_batch_sizes: 64", "increasing"),
    ("max_batch_size { value: 64 }\nallowed_batch_sizes: 32", "must equal max_batch_size"),
    ("max_batch_size { value: 256 }\nenable_large_batch_splitting { value: true }\n"
     "max_execution_batch_size { value: 64 }\nallowed_batch_sizes: 256",
     "must equal max_execution_batch_size"),
])
def test_validator_rejects_documented_constraint_violations(text, message):
    with pytest.raises(sc.BatchingConfigError, match=message):
        sc.validate_batching_config(text)


def test_generator_refuses_settings_tf_serving_would_reject():
    with pytest.raises(sc.BatchingConfigError):
        sc.batching_config_text(sc.BatchingSettings(
            max_batch_size=64, batch_timeout_micros=0, max_enqueued_batches=4,
            num_batch_threads=2, allowed_batch_sizes=(16, 32)))


# --------------------------------------------------------------------- monitoring.config

def test_monitoring_config():
    config = sc.parse_monitoring_config(sc.monitoring_config_text())
    assert config.prometheus_config.enable is True
    assert config.prometheus_config.path == sc.PROMETHEUS_PATH
    with pytest.raises(sc.ServingConfigError):
        sc.parse_monitoring_config("prometheus_config { enabled: true }")


# ------------------------------------------------------------------------ committed files

@pytest.mark.parametrize("rel_path", sorted(sc.default_serving_files()))
def test_committed_config_files_match_the_generator(rel_path):
    with open(os.path.join(REPO, rel_path), encoding="utf-8") as f:
        committed = f.read()
    assert committed == sc.default_serving_files()[rel_path], (
        f"{rel_path} is out of date; regenerate with: python -c \"from trainer.serving import "
        "model_config as s; s.write_default_serving_files('.')\"")


def test_committed_defaults_are_the_default_models_and_cpu_cores():
    files = sc.default_serving_files()
    config = sc.parse_models_config(files["k8s/base/serving/models.config"])
    assert [m.name for m in config.model_config_list.config] == list(sc.DEFAULT_MODELS)
    assert sc.DEFAULT_MODELS == ("mnist_softmax", "mnist_cnn")
    cpu = sc.validate_batching_config(files["k8s/base/serving/batching.config"])
    assert cpu["num_batch_threads"] == sc.CPU_SERVING_CORES
    assert cpu["batch_timeout_micros"] == 0
