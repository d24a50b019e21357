"""components/tfjob.py: every TFJob spec it builds is valid against the Training Operator's
CRD schema (vendored, strict), and the submit-follow-delete client against a stand-in of
the Kubernetes API (tests/k8s_standin.py): success, failure, timeout, retried steps,
transient API errors, and the job deleted afterwards in every case (unless kept)."""
import copy
import json

import jsonschema
import pytest
from kubernetes import client as k8s

from components import tfjob
from tests import k8s_standin
from trainer.strategy import REQUIRE_GPUS_ENV

COMMAND = ["python", "-m", "trainer.runtime.tfjob_worker", "--invocation", '{"inputs": {}}']
NS = "pipelines"


def _settings(**kw):
    base = dict(image="registry.example.com/tfx-classics:v1", workers=2)
    base.update(kw)
    return tfjob.TFJobSettings(**base)


def _body(name="trainer-softmax-0123abcd", **kw):
    return tfjob.build_tfjob(name, NS, _settings(**kw), COMMAND,
                             env={"S3_ENDPOINT": "http://seaweedfs.kubeflow:9000"},
                             step="Trainer.softmax")


def _worker(body):
    return body["spec"]["tfReplicaSpecs"][tfjob.REPLICA_TYPE]


def _container(body):
    (container,) = _worker(body)["template"]["spec"]["containers"]
    return container


# ------------------------------------------------------------------------------- spec

@pytest.mark.parametrize("settings", [
    {},
    {"workers": 4, "gpus_per_worker": 2},
    {"workers": 1, "cpu": None, "memory_gb": None},
    {"gpus_per_worker": 1, "gpu_resource": "amd.com/gpu", "keep_job": True,
     "service_account": "pipeline-runner", "env": {"EXTRA": "1"},
     "secret_env": {"AWS_ACCESS_KEY_ID": ["mlpipeline-minio-artifact", "accesskey"],
                    "AWS_SECRET_ACCESS_KEY": ["mlpipeline-minio-artifact", "secretkey"]}},
    {"gpus_per_worker": 1, "node_selector": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
     "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml",
                      "effect": "NoExecute"}]},
])
def test_every_built_spec_is_valid_against_the_crd_schema(settings):
    body = _body(**settings)
    k8s_standin.validate_tfjob(body)
    # The pod template also round-trips through the Kubernetes client's own PodTemplateSpec.
    api = k8s.ApiClient()
    template = api._ApiClient__deserialize(_worker(body)["template"], "V1PodTemplateSpec")
    assert api.sanitize_for_serialization(template) == _worker(body)["template"]


def test_the_schema_check_refuses_what_an_api_server_would():
    body = _body()
    broken = copy.deepcopy(body)
    _worker(broken)["restartPolcy"] = "ExitCode"  # a typo
    with pytest.raises(jsonschema.ValidationError, match="restartPolcy"):
        k8s_standin.validate_tfjob(broken)
    broken = copy.deepcopy(body)
    _worker(broken)["replicas"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        k8s_standin.validate_tfjob(broken)
    broken = copy.deepcopy(body)
    _container(broken)["ports"][0]["containerPort"] = "2222x"
    with pytest.raises(jsonschema.ValidationError):
        k8s_standin.validate_tfjob(broken)


def test_spec_runs_the_command_on_n_workers_as_the_operator_expects():
    body = _body(workers=3, gpus_per_worker=2)
    assert body["apiVersion"] == "kubeflow.org/v1" and body["kind"] == "TFJob"
    assert body["metadata"]["namespace"] == NS
    assert set(body["spec"]["tfReplicaSpecs"]) == {"Worker"}  # no chief: worker 0 exports
    worker = _worker(body)
    assert worker["replicas"] == 3 and worker["restartPolicy"] == "ExitCode"
    container = _container(body)
    assert container["name"] == "tensorflow"
    assert container["command"] + container["args"] == COMMAND
    assert container["ports"] == [{"name": "tfjob-port", "containerPort": 2222}]
    assert container["resources"]["limits"] == {"cpu": "4", "memory": "16Gi",
                                                "nvidia.com/gpu": "2"}
    assert container["resources"]["requests"] == container["resources"]["limits"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env[REQUIRE_GPUS_ENV] == "2"
    assert env["S3_ENDPOINT"] == "http://seaweedfs.kubeflow:9000"
    pod = worker["template"]["spec"]
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists",
                                   "effect": "NoSchedule"}]
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}} \
        in pod["volumes"]
    policy = body["spec"]["runPolicy"]
    assert policy["activeDeadlineSeconds"] == 24 * 3600 and policy["backoffLimit"] == 3
    assert body["metadata"]["labels"]["tfx-classics/step"] == "Trainer.softmax"


def test_workers_take_the_placement_they_are_given_besides_the_gpu_toleration():
    user = [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    body = _body(gpus_per_worker=1, tolerations=user, node_selector={"pool": "gpu"})
    k8s_standin.validate_tfjob(body)
    pod = _worker(body)["template"]["spec"]
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists",
                                   "effect": "NoSchedule"}, user[0]]  # the default once
    assert pod["nodeSelector"] == {"pool": "gpu"}
    cpu = _worker(_body(node_selector={"pool": "cpu"}))["template"]["spec"]
    assert cpu["nodeSelector"] == {"pool": "cpu"} and cpu.get("tolerations") is None


def test_the_schema_check_refuses_a_misspelt_toleration():
    body = _body(gpus_per_worker=1)
    _worker(body)["template"]["spec"]["tolerations"][0]["efect"] = "NoSchedule"
    with pytest.raises(jsonschema.ValidationError, match="efect"):
        k8s_standin.validate_tfjob(body)


def test_cpu_only_workers_request_no_gpu_and_need_none():
    body = _body(gpus_per_worker=0)
    container = _container(body)
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    assert REQUIRE_GPUS_ENV not in {e["name"] for e in container["env"]}
    assert _worker(body)["template"]["spec"].get("tolerations") is None


def test_credentials_come_from_the_secret_never_as_values():
    body = _body(secret_env={"AWS_ACCESS_KEY_ID": ["s3-keys", "accesskey"],
                             "AWS_SECRET_ACCESS_KEY": ["s3-keys", "secretkey"]})
    env = {e["name"]: e for e in _container(body)["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "name": "AWS_SECRET_ACCESS_KEY",
        "valueFrom": {"secretKeyRef": {"name": "s3-keys", "key": "secretkey"}}}
    assert "value" not in env["AWS_ACCESS_KEY_ID"]


def test_owner_reference_is_the_steps_pod_when_kfp_names_it():
    assert tfjob.owner_reference({}) is None
    owner = tfjob.owner_reference({"KFP_POD_NAME": "run-abc-trainer", "KFP_POD_UID": "u-1"})
    body = tfjob.build_tfjob("trainer-x-1", NS, _settings(), COMMAND, owner=owner)
    k8s_standin.validate_tfjob(body)
    assert body["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "run-abc-trainer", "uid": "u-1"}]


def test_kept_jobs_keep_their_pods_and_have_no_ttl():
    kept = _body(keep_job=True)["spec"]["runPolicy"]
    assert kept["cleanPodPolicy"] == "None" and "ttlSecondsAfterFinished" not in kept
    assert _body()["spec"]["runPolicy"]["ttlSecondsAfterFinished"] == 3600


def test_job_names_are_dns_labels_stable_per_step_execution():
    a = tfjob.job_name("Trainer.resnet56", "s3://b/root/run-1/Trainer.resnet56/model_run")
    assert a == tfjob.job_name("Trainer.resnet56", "s3://b/root/run-1/Trainer.resnet56/model_run")
    assert a != tfjob.job_name("Trainer.resnet56", "s3://b/root/run-2/Trainer.resnet56/model_run")
    assert a.startswith("trainer-resnet56-")
    long = tfjob.job_name("Trainer." + "x" * 100, "u")
    for name in (a, long, tfjob.job_name("9lives", "u"), tfjob.job_name("...", "u")):
        assert len(name) <= tfjob.MAX_NAME
        k8s_standin.validate_tfjob(tfjob.build_tfjob(name, NS, _settings(), COMMAND))


@pytest.mark.parametrize("bad,match", [
    ({"workers": 0}, "workers"), ({"gpus_per_worker": -1}, "GPUs"),
    ({"gpus_per_worker": 1, "gpu_resource": "NVIDIA_TESLA_T4"}, "resource name"),
    ({"timeout_seconds": 0}, "positive"), ({"image": ""}, "image"),
    ({"secret_env": {"AWS_ACCESS_KEY_ID": ["only-a-name"]}}, "secret"),
    ({"wokers": 2}, "unknown keys"),
    ({"tolerations": [{"key": "a", "operator": "Exists", "effect": "Never"}]}, "toleration"),
    ({"tolerations": [{"key": "a", "operator": "Exists", "value": "v",
                       "effect": "NoSchedule"}]}, "toleration"),
    ({"node_selector": {"pool": "a b"}}, "node selector"),
])
def test_settings_refuse_what_no_job_can_run(bad, match):
    data = {"image": "img:1", **bad}
    with pytest.raises((ValueError, TypeError), match=match):
        tfjob.TFJobSettings.from_dict(data)


def test_settings_round_trip_through_json():
    s = _settings(gpus_per_worker=1, secret_env={"A": ["s", "k"]}, node_selector={"a": "b"},
                  tolerations=[{"key": "a", "operator": "Exists", "effect": "NoSchedule"}])
    assert tfjob.TFJobSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s


# ------------------------------------------------------------------------- the client

@pytest.fixture
def api(tmp_path, monkeypatch):
    standin = k8s_standin.serve(monkeypatch, tmp_path)
    yield standin
    standin.close()


def _client(lines):
    return tfjob.TFJobClient(tfjob.default_api_client(), NS, log=lines.append,
                             sleep=lambda s: None)


RUNNING = k8s_standin.status("Created", "Running", active=2)
SUCCEEDED = k8s_standin.status("Created", "Running", "Succeeded", succeeded=2,
                               message="TFJob pipelines/x successfully completed.")
FAILED = k8s_standin.status("Created", "Running", "Failed", failed=1,
                            message="TFJob pipelines/x has failed because 1 Worker replica(s) failed.")


def test_success_is_followed_to_the_end_then_the_job_is_deleted(api):
    pod = {"name": "trainer-softmax-0123abcd-worker-0", "phase": "Running", "labels": {
        "training.kubeflow.org/job-name": "trainer-softmax-0123abcd",
        "training.kubeflow.org/replica-type": "worker",
        "training.kubeflow.org/replica-index": "0"}}
    api.script([{}, RUNNING, RUNNING, SUCCEEDED], pods=[pod], logs={pod["name"]: (
        "2026-11-26T10:00:01.000000001Z epoch 1/2: loss 0.5\n"
        "2026-11-26T10:00:02.000000001Z epoch 2/2: loss 0.3\n")})
    lines = []
    job = _client(lines).run(_body(), timeout_seconds=60, poll_seconds=0.01)
    assert tfjob.job_state(job)[0] == "Succeeded"
    assert len(api.created) == 1 and api.rejected == [] and api.unauthorized == 0
    assert api.deleted == ["trainer-softmax-0123abcd"]
    text = "\n".join(lines)
    assert "submitted: 2 worker(s)" in text
    assert "Pending; workers" in text and "Running" in text and "Succeeded" in text
    # Status lines only when something changed; each log line once despite re-reads.
    assert sum("Running (TFJobRunning" in line for line in lines) == 1
    assert sum("epoch 2/2" in line for line in lines) == 1
    assert f"[{pod['name']}] epoch 1/2: loss 0.5" in lines


def test_failure_raises_with_the_operators_message_and_the_failed_logs(api):
    pod = {"name": "trainer-softmax-0123abcd-worker-1", "phase": "Failed", "labels": {
        "training.kubeflow.org/job-name": "trainer-softmax-0123abcd",
        "training.kubeflow.org/replica-type": "worker",
        "training.kubeflow.org/replica-index": "1"}}
    api.script([RUNNING, FAILED], pods=[pod], logs={pod["name"]: (
        "2026-11-26T10:00:01Z Traceback (most recent call last):\n"
        "2026-11-26T10:00:01Z ValueError: Trainer custom_config: unknown keys ['x']\n")})
    lines = []
    with pytest.raises(tfjob.TFJobFailed, match="has failed because 1 Worker"):
        _client(lines).run(_body(), timeout_seconds=60, poll_seconds=0.01)
    assert any("unknown keys ['x']" in line for line in lines)
    assert api.deleted == ["trainer-softmax-0123abcd"]


def test_timeout_stops_waiting_and_deletes_the_job(api):
    api.script([RUNNING])
    lines = []
    client = tfjob.TFJobClient(tfjob.default_api_client(), NS, log=lines.append)
    with pytest.raises(tfjob.TFJobTimeout, match="did not finish within 0.3 s"):
        client.run(_body(), timeout_seconds=0.3, poll_seconds=0.05)
    assert api.deleted == ["trainer-softmax-0123abcd"]
    assert "trainer-softmax-0123abcd" not in {name for _, name in api.jobs}


def test_a_kept_job_is_not_deleted(api):
    api.script([FAILED])
    lines = []
    with pytest.raises(tfjob.TFJobFailed):
        _client(lines).run(_body(keep_job=True), timeout_seconds=60, poll_seconds=0.01,
                           keep=True)
    assert api.deleted == [] and any("kubectl delete tfjob" in line for line in lines)


def test_a_retried_step_follows_its_running_job_instead_of_starting_another(api):
    body = _body()
    api.put(body, RUNNING)
    api.script([RUNNING, SUCCEEDED])
    lines = []
    _client(lines).run(body, timeout_seconds=60, poll_seconds=0.01)
    assert api.created == []  # the POST met 409, nothing new was created
    assert any("already exists (Running): following it" in line for line in lines)
    assert api.deleted == [body["metadata"]["name"]]


def test_a_retried_step_replaces_its_failed_job(api):
    body = _body()
    api.put(body, FAILED)
    api.script([FAILED, RUNNING, SUCCEEDED])  # the first read is the old job's
    lines = []
    _client(lines).run(body, timeout_seconds=60, poll_seconds=0.01)
    assert len(api.created) == 1
    assert api.deleted == [body["metadata"]["name"]] * 2  # the old one, then the new one


def test_transient_api_errors_are_retried_but_a_vanished_job_fails(api):
    api.script([RUNNING, SUCCEEDED])
    api.fail_gets = 2
    lines = []
    _client(lines).run(_body(), timeout_seconds=60, poll_seconds=0.01)
    assert sum("status read failed (500" in line for line in lines) == 2

    class Vanishing(tfjob.TFJobClient):
        def create(self, body):
            created = super().create(body)
            self.delete(body["metadata"]["name"])
            return created

    with pytest.raises(tfjob.TFJobFailed, match="is gone"):
        Vanishing(tfjob.default_api_client(), NS, log=lines.append,
                  sleep=lambda s: None).run(_body(name="trainer-gone-1"), 60, 0.01)


def test_an_invalid_spec_is_refused_by_the_api_and_nothing_runs(api):
    body = _body()
    _worker(body)["restartPolicy"] = 7
    with pytest.raises(k8s.exceptions.ApiException) as e:
        _client([]).run(body, timeout_seconds=60, poll_seconds=0.01)
    assert e.value.status == 422 and api.created == [] and api.rejected


def test_namespace_defaults_to_the_steps_own(api, monkeypatch):
    monkeypatch.delenv("KFP_NAMESPACE", raising=False)
    assert tfjob.default_namespace(_settings(namespace="team-a")) == "team-a"
    assert tfjob.default_namespace(_settings(), {"KFP_NAMESPACE": "kubeflow"}) == "kubeflow"
    assert tfjob.default_namespace(_settings(), {}) == "pipelines"  # the kubeconfig's


def test_no_kubernetes_api_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(RuntimeError, match="no Kubernetes API to submit the TFJob to"):
        tfjob.default_api_client()
