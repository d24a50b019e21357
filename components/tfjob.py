"""Kubeflow TFJobs (`kubeflow.org/v1`, the Training Operator) for a Trainer step: the job's
spec; submitting, following and deleting it is components/k8s_job.py's JobClient.

The spec: each worker's pod template is built from the Kubernetes client's own API types
(`kubernetes.client.V1PodTemplateSpec` and the types inside it, serialised by its
ApiClient); the TFJob around it follows the Training Operator's CRD
(`manifests/base/crds/kubeflow.org_tfjobs.yaml` of kubeflow/training-operator v1.9.0),
whose OpenAPI schema tests/components/test_tfjob.py validates every built spec against. N workers and
no chief: the operator gives each one TF_CONFIG `{"cluster": {"worker": [...]}, "task":
{"type": "worker", "index": i}}`, worker 0 is the chief (it exports; trainer/strategy.py),
and the job succeeds when worker 0 does (the default success policy). `restartPolicy:
ExitCode` restarts a replica that exits with a code >= 128 (a signal, e.g. preemption, or
trainer/runtime/tfjob_worker.py's RETRYABLE_EXIT after losing a peer) and fails the job on 1-127 (a bug or
bad input), within `backoffLimit` and `activeDeadlineSeconds`.

Following it: the job's conditions and per-replica counts go to the step's log as they
change, together with worker 0's new log lines; a Failed job raises TFJobFailed with the
operator's message and the failed replicas' last log lines, a job that outlives the
timeout raises TFJobTimeout. The caller deletes the job either way (unless asked to keep
it); the job also carries an owner reference to the step's pod (KFP_POD_NAME/KFP_POD_UID,
which KFP sets on every task), so Kubernetes deletes it when the step's pod goes.
"""
from __future__ import annotations

import functools
from typing import Any, Dict, List, Mapping, Optional, Tuple

from components import k8s_job
# The settings, placement and client are shared with the TrainJob backend; these names
# are this module's API too.
from components.k8s_job import (
    MAX_NAME, NODE_SELECTOR_FORMAT, PART_OF, STEP_LABEL, TAINT_EFFECTS, TOLERATION_FORMAT,
    check_node_selector, check_toleration, default_namespace, gpu_toleration, job_name,
    owner_reference, parse_node_selector, parse_toleration)

__all__ = [
    "GROUP", "VERSION", "PLURAL", "KIND", "API_VERSION", "REPLICA_TYPE", "CONTAINER", "PORT",
    "PORT_NAME", "RESTART_POLICY", "JOB_NAME_LABEL", "REPLICA_TYPE_LABEL",
    "REPLICA_INDEX_LABEL", "SUCCEEDED", "FAILED", "TFJobSettings", "TFJobFailed",
    "TFJobTimeout", "TFJOB", "TFJobClient", "build_tfjob", "default_api_client",
    "describe_status", "job_state", "pod_template", "MAX_NAME", "NODE_SELECTOR_FORMAT",
    "PART_OF", "STEP_LABEL", "TAINT_EFFECTS", "TOLERATION_FORMAT", "check_node_selector",
    "check_toleration", "default_namespace", "gpu_toleration", "job_name", "owner_reference",
    "parse_node_selector", "parse_toleration"]

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1", "tfjobs", "TFJob"
API_VERSION = f"{GROUP}/{VERSION}"
REPLICA_TYPE = "Worker"
# The container the operator configures (TF_CONFIG, the port) must be named `tensorflow`;
# it reads the port from the container port named `tfjob-port` (default 2222).
CONTAINER = "tensorflow"
PORT, PORT_NAME = 2222, "tfjob-port"
RESTART_POLICY = "ExitCode"
# Labels the operator puts on the pods of a job (kubeflow.org/v1 common_types.go).
JOB_NAME_LABEL = "training.kubeflow.org/job-name"
REPLICA_TYPE_LABEL = "training.kubeflow.org/replica-type"
REPLICA_INDEX_LABEL = "training.kubeflow.org/replica-index"
SUCCEEDED, FAILED = "Succeeded", "Failed"

TFJobSettings = k8s_job.JobSettings
TFJobFailed = k8s_job.JobFailed
TFJobTimeout = k8s_job.JobTimeout
default_api_client = functools.partial(k8s_job.default_api_client, KIND)


def pod_template(settings: TFJobSettings, command: List[str], labels: Dict[str, str],
                 env: Mapping[str, str]):
    """One worker's pod (kubernetes.client.V1PodTemplateSpec)."""
    from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel

    container = k8s.V1Container(
        name=CONTAINER, image=settings.image, command=command[:1], args=command[1:],
        env=k8s_job.env_vars(settings, env),
        ports=[k8s.V1ContainerPort(name=PORT_NAME, container_port=PORT)],
        resources=k8s_job.resources(settings), volume_mounts=[k8s_job.shm_mount()],
        security_context=k8s.V1SecurityContext(allow_privilege_escalation=False))
    return k8s.V1PodTemplateSpec(
        metadata=k8s.V1ObjectMeta(labels=labels),
        spec=k8s.V1PodSpec(
            containers=[container], tolerations=k8s_job.tolerations(settings),
            node_selector=dict(settings.node_selector) or None,
            service_account_name=settings.service_account,
            volumes=[k8s_job.shm_volume(settings)]))


def build_tfjob(name: str, namespace: str, settings: TFJobSettings, command: List[str],
                env: Optional[Mapping[str, str]] = None, step: str = "",
                owner=None) -> Dict[str, Any]:
    """The TFJob (a JSON-ready dict) running `command` on `settings.workers` workers."""
    settings.check()
    labels = k8s_job.job_labels(step)
    template = pod_template(settings, command, labels, k8s_job.worker_env(settings, env))
    run_policy: Dict[str, Any] = {
        # Finished pods stay (for their logs) until the job is deleted.
        "cleanPodPolicy": "None" if settings.keep_job else "Running",
        "backoffLimit": settings.backoff_limit,
        # The operator stops the job even if the step that waits for it is gone.
        "activeDeadlineSeconds": int(settings.timeout_seconds),
    }
    if not settings.keep_job:
        # Normally the step deletes the job; this removes it if the step could not.
        run_policy["ttlSecondsAfterFinished"] = 3600
    return {
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": k8s_job.metadata(name, namespace, labels, owner),
        "spec": {
            "runPolicy": run_policy,
            "tfReplicaSpecs": {REPLICA_TYPE: {
                "replicas": settings.workers, "restartPolicy": RESTART_POLICY,
                "template": k8s_job.serialize(template)}},
        },
    }


def job_state(job: Mapping[str, Any]) -> Tuple[str, str, str]:
    """(state, reason, message) from the job's conditions: the terminal condition if one
    is true, else the newest true one ("Pending" before the operator saw the job)."""
    return k8s_job.job_state(job, SUCCEEDED, FAILED)


def _counts(job: Mapping[str, Any]) -> str:
    replicas = ((job.get("status") or {}).get("replicaStatuses") or {}).get(REPLICA_TYPE) or {}
    return "workers: " + ", ".join(f"{k} {replicas.get(k, 0)}"
                                   for k in ("active", "succeeded", "failed"))


TFJOB = k8s_job.JobKind(
    group=GROUP, version=VERSION, plural=PLURAL, kind=KIND, container=CONTAINER,
    succeeded=SUCCEEDED, failed=FAILED,
    workers=lambda body: body["spec"]["tfReplicaSpecs"][REPLICA_TYPE]["replicas"],
    counts=_counts, index_label=REPLICA_INDEX_LABEL,
    pod_labels=lambda name: {JOB_NAME_LABEL: name, REPLICA_TYPE_LABEL: REPLICA_TYPE.lower()})


def describe_status(job: Mapping[str, Any]) -> str:
    return TFJOB.describe(job)


class TFJobClient(k8s_job.JobClient):
    """Submits, follows and deletes TFJobs in one namespace through the Kubernetes API."""

    def __init__(self, api_client, namespace: str, **kwargs):
        super().__init__(TFJOB, api_client, namespace, **kwargs)
