"""components/trainjob.py: every TrainJob it builds is valid against Kubeflow Trainer
v2.3's CRD (vendored, strict), and so is the TrainingRuntime k8s/training ships; the two
expand (as Trainer does) into a JobSet valid against JobSet v0.12's CRD, whose pods carry
the placement; the client against the stand-in API (scripted and operated: pods as local
processes with their JobSet environment, restarted or failed by the runtime's policies)."""
import copy
import json
import os
import sys

import jsonschema
import pytest
from kubernetes import client as k8s

from components import k8s_job, tfjob_trainer, trainjob
from tests import jobset_standin, k8s_standin
from tests import tfjob_fixtures as fx
from trainer.runtime import jobset_cluster, tfjob_worker
from trainer.strategy import REQUIRE_GPUS_ENV

NS = "pipelines"
COMMAND = tfjob_worker.command('{"inputs": {}}', tfjob_worker.JOBSET_CLUSTER)
GPU = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def _settings(**kw):
    return trainjob.TrainJobSettings(**{"image": "registry.example.com/tfx-classics:v1",
                                        "workers": 2, **kw})


def _body(name="trainer-softmax-0123abcd", command=COMMAND, **kw):
    return trainjob.build_trainjob(name, NS, _settings(**kw), command,
                                   env={"S3_ENDPOINT": "http://seaweedfs.kubeflow:9000"},
                                   step="Trainer.softmax")


def _jobset(body):
    body = dict(body, metadata=dict(body["metadata"], uid="u-1"))
    jobset = jobset_standin.expand(body, fx.shipped_runtime(NS))
    k8s_standin.validate_jobset(jobset)
    return jobset


def _pod(jobset):
    (rjob,) = jobset["spec"]["replicatedJobs"]
    return rjob["template"]["spec"]["template"]


def _patch_pod(body):
    (patch,) = body["spec"]["runtimePatches"]
    (rjob,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    return rjob["template"]["spec"]["template"]["spec"]


# ------------------------------------------------------------------------------- spec

@pytest.mark.parametrize("settings", [
    {},
    {"workers": 4, "gpus_per_worker": 2},
    {"workers": 1, "cpu": None, "memory_gb": None},
    {"gpus_per_worker": 1, "gpu_resource": "amd.com/gpu", "keep_job": True,
     "service_account": "pipeline-runner", "env": {"EXTRA": "1"},
     "secret_env": {"AWS_ACCESS_KEY_ID": ["mlpipeline-minio-artifact", "accesskey"]}},
    {"gpus_per_worker": 1, "node_selector": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
     "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ml",
                      "effect": "NoExecute"}]},
])
def test_every_built_trainjob_and_its_jobset_are_valid_against_the_crds(settings):
    body = _body(**settings)
    k8s_standin.validate_trainjob(body)
    _jobset(body)
    # The pod patch round-trips through the Kubernetes client's own V1PodSpec.
    api = k8s.ApiClient()
    spec = api._ApiClient__deserialize(_patch_pod(body), "V1PodSpec")
    assert api.sanitize_for_serialization(spec) == _patch_pod(body)


def test_the_shipped_runtime_is_valid_and_fits_the_workers():
    runtime = fx.shipped_runtime(NS)
    k8s_standin.validate_training_runtime(runtime)
    assert runtime["metadata"]["name"] == trainjob.RUNTIME
    spec = runtime["spec"]
    # No framework: the PlainML plugin applies numNodes, env and resourcesPerNode.
    assert spec["mlPolicy"] == {"numNodes": 1}
    (rjob,) = spec["template"]["spec"]["replicatedJobs"]
    assert rjob["name"] == trainjob.REPLICATED_JOB
    assert rjob["template"]["metadata"]["labels"] == {
        jobset_standin.ANCESTOR_LABEL: "trainer"}
    job = rjob["template"]["spec"]
    (container,) = job["template"]["spec"]["containers"]
    assert container["name"] == trainjob.CONTAINER
    assert [p["containerPort"] for p in container["ports"]] == [jobset_cluster.PORT]
    fields = {v["name"]: v["valueFrom"]["fieldRef"]["fieldPath"] for v in container["env"]}
    assert fields == {
        jobset_cluster.JOBSET_NAME_ENV: f"metadata.labels['{trainjob.JOBSET_NAME_LABEL}']",
        jobset_cluster.REPLICATED_JOB_ENV:
            f"metadata.labels['{trainjob.REPLICATED_JOB_LABEL}']",
        jobset_cluster.JOB_INDEX_ENV: "metadata.labels['jobset.sigs.k8s.io/job-index']"}
    # Exit 1-127 fails the Job at once; the worker's retryable exit (and signals) retry.
    (rule,) = job["podFailurePolicy"]["rules"]
    assert rule["action"] == "FailJob" and rule["onExitCodes"]["operator"] == "In"
    assert rule["onExitCodes"]["values"] == list(range(1, 128))
    assert tfjob_worker.RETRYABLE_EXIT not in rule["onExitCodes"]["values"]
    assert job["template"]["spec"]["restartPolicy"] == "Never"  # podFailurePolicy needs it
    assert job["successPolicy"] == {"rules": [{"succeededIndexes": "0"}]}  # the chief decides


def test_spec_runs_the_command_on_n_nodes_of_the_runtime():
    body = _body(workers=3, gpus_per_worker=2)
    assert body["apiVersion"] == "trainer.kubeflow.org/v1alpha1" and body["kind"] == "TrainJob"
    assert body["spec"]["runtimeRef"] == {"name": "tfx-classics-tensorflow",
                                          "apiGroup": "trainer.kubeflow.org",
                                          "kind": "TrainingRuntime"}
    trainer = body["spec"]["trainer"]
    assert trainer["command"] + trainer["args"] == COMMAND and "--cluster" in COMMAND
    assert trainer["numNodes"] == 3
    assert trainer["resourcesPerNode"]["limits"] == {"cpu": "4", "memory": "16Gi",
                                                     "nvidia.com/gpu": "2"}
    env = {e["name"]: e.get("value") for e in trainer["env"]}
    assert env[REQUIRE_GPUS_ENV] == "2" and env[jobset_cluster.NUM_NODES_ENV] == "3"
    assert body["spec"]["activeDeadlineSeconds"] == 24 * 3600
    # What the Job runs once Trainer has merged the TrainJob into the runtime.
    jobset = _jobset(body)
    job = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]
    assert job["parallelism"] == job["completions"] == 3
    (container,) = _pod(jobset)["spec"]["containers"]
    assert container["image"] == "registry.example.com/tfx-classics:v1"
    assert container["command"] + container["args"] == COMMAND
    assert container["resources"] == trainer["resourcesPerNode"]
    assert {"mountPath": "/dev/shm", "name": "dshm"} in container["volumeMounts"]
    names = [e["name"] for e in container["env"]]
    assert names[:3] == [jobset_cluster.JOBSET_NAME_ENV, jobset_cluster.REPLICATED_JOB_ENV,
                         jobset_cluster.JOB_INDEX_ENV]  # the runtime's, then the TrainJob's
    assert _pod(jobset)["metadata"]["labels"]["tfx-classics/step"] == "Trainer.softmax"


def test_gpu_workers_get_the_default_toleration_and_the_users_placement():
    user = [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}, GPU]
    body = _body(gpus_per_worker=1, tolerations=user, node_selector={"pool": "gpu"})
    k8s_standin.validate_trainjob(body)
    assert _patch_pod(body)["tolerations"] == [GPU, user[0]]  # the default once
    assert _patch_pod(body)["nodeSelector"] == {"pool": "gpu"}
    pod = _pod(_jobset(body))["spec"]
    assert pod["tolerations"] == [GPU, user[0]] and pod["nodeSelector"] == {"pool": "gpu"}
    cpu = _body(node_selector={"pool": "cpu"})
    assert "tolerations" not in _patch_pod(cpu)
    assert _pod(_jobset(cpu))["spec"]["nodeSelector"] == {"pool": "cpu"}


def test_the_schema_check_refuses_what_an_api_server_would():
    body = _body(gpus_per_worker=1)
    broken = copy.deepcopy(body)
    broken["spec"]["trainer"]["numNode"] = 2  # a typo
    with pytest.raises(jsonschema.ValidationError, match="numNode"):
        k8s_standin.validate_trainjob(broken)
    broken = copy.deepcopy(body)
    _patch_pod(broken)["tolerations"][0]["efect"] = "NoSchedule"
    with pytest.raises(jsonschema.ValidationError, match="efect"):
        k8s_standin.validate_trainjob(broken)
    broken = copy.deepcopy(body)
    broken["spec"]["runtimeRef"]["name"] = ""
    with pytest.raises(jsonschema.ValidationError):
        k8s_standin.validate_trainjob(broken)
    runtime = fx.shipped_runtime(NS)
    rule = runtime["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"][
        "podFailurePolicy"]["rules"][0]
    rule["onExitCode"] = rule.pop("onExitCodes")
    with pytest.raises(jsonschema.ValidationError, match="onExitCode"):
        k8s_standin.validate_training_runtime(runtime)


def test_settings_are_checked_and_round_trip():
    s = _settings(gpus_per_worker=1, node_selector={"a": "b"}, runtime="my-tf")
    assert trainjob.TrainJobSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    with pytest.raises(ValueError, match="no TrainingRuntime"):
        trainjob.TrainJobSettings.from_dict({"image": "i:1", "runtime": ""})
    with pytest.raises(ValueError, match="unknown keys"):
        trainjob.TrainJobSettings.from_dict({"image": "i:1", "runtim": "x"})


def test_the_backend_follows_the_custom_config_key():
    props = {"custom_config": json.dumps({"model": "cnn", "trainjob": {"image": "i:1"}}),
             "run_fn": "trainer.image.run.run_fn"}
    stripped, settings, backend = tfjob_trainer.split_custom_config(props)
    assert json.loads(stripped["custom_config"]) == {"model": "cnn"}
    assert backend.kind == "TrainJob" and isinstance(settings, trainjob.TrainJobSettings)
    assert backend.cluster == tfjob_worker.JOBSET_CLUSTER
    both = {"custom_config": json.dumps({"tfjob": {"image": "i:1"},
                                         "trainjob": {"image": "i:1"}})}
    with pytest.raises(ValueError, match="both 'tfjob' and 'trainjob'"):
        tfjob_trainer.split_custom_config(both)


# ------------------------------------------------------------------------- the client

@pytest.fixture
def api(tmp_path, monkeypatch):
    standin = k8s_standin.serve(monkeypatch, tmp_path, operate=True, workdir=str(tmp_path),
                                runtimes=[fx.shipped_runtime(NS)],
                                base_env={"PATH": os.environ.get("PATH", "")})
    yield standin
    standin.close()


def _client(lines):
    return trainjob.TrainJobClient(trainjob.default_api_client(), NS, log=lines.append,
                                   sleep=lambda s: None)


# A pod's program: prints the TF_CONFIG it derives from its environment, then exits with
# the code given for its index and attempt (marker files count the attempts); `waits`
# holds an index back until another index has started that many attempts.
_PROGRAM = """
import json, os, sys, time
from trainer.runtime import jobset_cluster
print(json.dumps(jobset_cluster.tf_config(os.environ)), flush=True)
index = os.environ["JOB_COMPLETION_INDEX"]
def attempts(i):
    path = os.path.join({workdir!r}, "attempt-" + i)
    return len(open(path).read()) if os.path.exists(path) else 0
attempt = attempts(index)
open(os.path.join({workdir!r}, "attempt-" + index), "a").write("x")
other, started = {waits!r}.get(index, (index, 0))
while attempts(other) < started:
    time.sleep(0.05)
codes = {codes!r}.get(index, [0])
code = codes[min(attempt, len(codes) - 1)]
if code is None:  # runs until the job ends it
    import time
    time.sleep(600)
sys.exit(code)
"""


def _run(api, tmp_path, codes, lines, name="trainer-x-1a2b3c4d", waits=None):
    command = ["python", "-c", _PROGRAM.format(workdir=str(tmp_path), codes=codes,
                                               waits=waits or {})]
    body = trainjob.build_trainjob(name, NS, _settings(cpu=None, memory_gb=None), command)
    return _client(lines).run(body, timeout_seconds=120, poll_seconds=0.05)


def test_pods_derive_tf_config_from_their_jobset_env_and_a_retryable_exit_restarts(
        api, tmp_path):
    lines = []
    # Worker 1's first attempt exits as after losing a peer; its second succeeds. Worker 0
    # ends only once worker 1's second attempt started: the Job succeeds with worker 0
    # (its successPolicy), which would otherwise stop worker 1 before its first exit.
    job = _run(api, tmp_path, {"1": [tfjob_worker.RETRYABLE_EXIT, 0]}, lines,
               waits={"0": ("1", 2)})
    k8s_standin.validate_trainjob(job, with_status=True)  # Trainer's status, per its CRD
    complete = [c for c in job["status"]["conditions"] if c["type"] == "Complete"]
    assert complete and complete[0]["reason"] == "AllJobsCompleted"
    name = job["metadata"]["name"]
    pods = api.pod_codes(name)
    by_index = {i: [c for p, c in pods.items() if p.startswith(f"{name}-node-0-{i}-")]
                for i in range(2)}
    # Worker 1 got a new pod; the Job succeeded with worker 0 (its successPolicy), which
    # stops a worker still running.
    assert by_index[0] == [0], pods
    assert by_index[1][0] == tfjob_worker.RETRYABLE_EXIT and by_index[1][1] in (0, -9), pods
    logs = api.pod_logs(name)
    configs = {p: json.loads(text.splitlines()[0]) for p, text in logs.items() if text}
    assert len(configs) >= 2
    run = api.jobsets[(NS, name)]
    for pod, config in configs.items():
        index = int(pod.split("-")[-2])
        assert config["task"] == {"type": "worker", "index": index}
        # DNS names of the pods, mapped by the stand-in's network to local ports.
        assert config["cluster"]["worker"] == [
            run.addresses[f"{name}-node-0-{i}.{name}:2222"] for i in range(2)]
    assert any(f"TrainJob {NS}/{name}: Complete" in line for line in lines)
    assert api.deleted == [name]


def test_a_permanent_exit_fails_the_trainjob_at_once_naming_the_pod(api, tmp_path):
    lines = []
    with pytest.raises(trainjob.TrainJobFailed) as e:
        # Worker 0 does not finish first: the job must fail on worker 1's exit alone.
        _run(api, tmp_path, {"0": [None], "1": [3]}, lines)
    message = str(e.value)
    assert "FailJobSetFailurePolicyAction" in message
    assert "first failed job: trainer-x-1a2b3c4d-node-0" in message
    failed = message.split("failed worker pod(s): ", 1)[1]
    assert "trainer-x-1a2b3c4d-node-0-1-" in failed  # (worker 0 was stopped with the job)
    assert list(api.pod_codes("trainer-x-1a2b3c4d").values()).count(3) == 1  # no retry


def test_retries_are_bounded_by_the_runtime(api, tmp_path):
    lines = []
    with pytest.raises(trainjob.TrainJobFailed, match="ReachedMaxRestarts"):
        _run(api, tmp_path, {"0": [137]}, lines)  # killed every time
    run = api.jobsets[(NS, "trainer-x-1a2b3c4d")]
    # backoffLimit 3: four attempts of the pod, then one JobSet restart (maxRestarts 1).
    assert run.restarts == 1
    assert sum(e.startswith("restart trainer-x-1a2b3c4d-node-0 index 0") for e in run.events) \
        == 6


def test_an_invalid_trainjob_or_a_missing_runtime_is_refused_with_422(api):
    body = _body()
    body["spec"]["trainer"]["numNodes"] = "two"
    with pytest.raises(k8s.exceptions.ApiException) as e:
        _client([]).run(body, timeout_seconds=60, poll_seconds=0.01)
    assert e.value.status == 422 and "numNodes" in e.value.body and api.created == []
    body = trainjob.build_trainjob("trainer-x-1", NS, _settings(runtime="tensorflow"), COMMAND)
    with pytest.raises(k8s.exceptions.ApiException) as e:
        _client([]).run(body, timeout_seconds=60, poll_seconds=0.01)
    assert e.value.status == 422 and api.created == []
    assert "specified trainingRuntime must be created before the TrainJob" in e.value.body


def test_the_job_client_is_the_shared_one():
    assert issubclass(trainjob.TrainJobClient, k8s_job.JobClient)
    assert trainjob.TRAINJOB.state({"status": {"conditions": [
        {"type": "Complete", "status": "True", "reason": "AllJobsCompleted",
         "message": "jobset completed successfully"}]}})[0] == "Complete"
    assert sys.modules["components.tfjob"].TFJOB.plural == "tfjobs"
