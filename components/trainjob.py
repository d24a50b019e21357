"""Kubeflow Trainer v2 TrainJobs (`trainer.kubeflow.org/v1alpha1`) for a Trainer step: the
job's spec; submitting, following and deleting it is components/k8s_job.py's JobClient.

The TrainJob references (`spec.runtimeRef`) the TrainingRuntime shipped in
k8s/training/tensorflow-runtime.yaml (RUNTIME): a JobSet of one replicated job `node` whose
container `node` runs the worker. Trainer v2 has no TensorFlow runtime and no TF_CONFIG;
the workers derive it (trainer/runtime/jobset_cluster.py, `--cluster jobset`). What the
TrainJob carries, where Trainer v2.3 takes it (kubeflow/trainer v2.3.0
pkg/apis/trainer/v1alpha1/trainjob_types.go; applied in
pkg/runtime/core/trainingruntime.go `TrainingRuntime.newRuntimeInfo` /
`mergeRuntimePatches` and pkg/runtime/framework/plugins/jobset/builder.go
`Builder.Trainer`):
- `spec.trainer`: image, command + args, env (plain values and Secret references),
  numNodes (the Job's parallelism and completions, through the PlainML plugin: the runtime
  has an mlPolicy with no framework), resourcesPerNode (merged into `node`'s resources;
  also only with an mlPolicy);
- `spec.runtimePatches` (owned by PATCH_MANAGER), a strategic-merge patch of the runtime's
  JobSet for the `node` pods: nodeSelector, tolerations (the GPU taint's for GPU workers,
  then the user's, as with TFJobs), serviceAccountName, the in-memory /dev/shm volume and
  its mount, and the step's labels. Trainer refuses env in a container patch of `node`,
  so the env stays in `spec.trainer`;
- `spec.activeDeadlineSeconds`: Trainer fails the TrainJob (reason DeadlineExceeded).
Retries (backoffLimit, which exit codes fail at once) belong to the runtime: a TrainJob
cannot patch a Job's spec beyond its pod template, so `backoff_limit` is the runtime's.

The job ends when Trainer copies the JobSet's terminal condition: `Complete` or `Failed`
(pkg/runtime/framework/plugins/jobset/jobset.go `JobSet.Status`); `status.jobsStatus`
counts the child Jobs (one here). Pods carry JobSet's labels and the Job controller's
completion index, which find worker 0's pod for its log.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Dict, List, Mapping, Optional

from components import k8s_job
from trainer.runtime import jobset_cluster

GROUP, VERSION, PLURAL, KIND = "trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob"
API_VERSION = f"{GROUP}/{VERSION}"
RUNTIME_KIND = "TrainingRuntime"
RUNTIME = "tfx-classics-tensorflow"  # k8s/training/tensorflow-runtime.yaml
# The trainer's replicated job and container (kubeflow/trainer pkg/constants: Node).
REPLICATED_JOB = CONTAINER = "node"
# Trainer checks a patch's manager is a domain-prefixed path (jobset.go, `JobSet.Validate`).
PATCH_MANAGER = "tfx-classics.github.io/trainer"
COMPLETE, FAILED = "Complete", "Failed"
# Labels JobSet (v0.12.0 api/jobset/v1alpha2/jobset_types.go) and the Job controller put
# on the pods.
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
REPLICATED_JOB_LABEL = "jobset.sigs.k8s.io/replicatedjob-name"
COMPLETION_INDEX_LABEL = "batch.kubernetes.io/job-completion-index"

TrainJobFailed = k8s_job.JobFailed
TrainJobTimeout = k8s_job.JobTimeout
default_api_client = functools.partial(k8s_job.default_api_client, KIND)


@dataclasses.dataclass
class TrainJobSettings(k8s_job.JobSettings):
    """JobSettings plus the TrainingRuntime the TrainJob references (in its namespace)."""
    runtime: str = RUNTIME

    def check(self) -> None:
        super().check()
        if not self.runtime:
            raise ValueError("TrainJob: no TrainingRuntime named")


def pod_patch(settings: TrainJobSettings, labels: Dict[str, str]) -> Dict[str, Any]:
    """The `node` pods' placement and volumes, as a TrainJob's runtime patch."""
    from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel

    spec: Dict[str, Any] = {
        "volumes": [k8s_job.serialize(k8s_job.shm_volume(settings))],
        "containers": [{"name": CONTAINER,
                        "volumeMounts": [k8s_job.serialize(k8s_job.shm_mount())]}],
    }
    tolerations = k8s_job.tolerations(settings)
    if tolerations:
        spec["tolerations"] = k8s_job.serialize(tolerations)
    if settings.node_selector:
        spec["nodeSelector"] = dict(settings.node_selector)
    if settings.service_account:
        spec["serviceAccountName"] = settings.service_account
    pod = {"metadata": k8s_job.serialize(k8s.V1ObjectMeta(labels=labels)), "spec": spec}
    return {"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {"spec": {
        "replicatedJobs": [{"name": REPLICATED_JOB,
                            "template": {"spec": {"template": pod}}}]}}}}


def build_trainjob(name: str, namespace: str, settings: TrainJobSettings, command: List[str],
                   env: Optional[Mapping[str, str]] = None, step: str = "",
                   owner=None) -> Dict[str, Any]:
    """The TrainJob (a JSON-ready dict) running `command` on `settings.workers` pods."""
    settings.check()
    labels = k8s_job.job_labels(step)
    variables = k8s_job.worker_env(settings, env)
    variables[jobset_cluster.NUM_NODES_ENV] = str(settings.workers)
    trainer = {
        "image": settings.image, "command": command[:1], "args": command[1:],
        "env": k8s_job.serialize(k8s_job.env_vars(settings, variables)),
        "numNodes": settings.workers,
        "resourcesPerNode": k8s_job.serialize(k8s_job.resources(settings)),
    }
    if not trainer["resourcesPerNode"]:
        del trainer["resourcesPerNode"]
    return {
        "apiVersion": API_VERSION, "kind": KIND,
        "metadata": k8s_job.metadata(name, namespace, labels, owner),
        "spec": {
            "runtimeRef": {"name": settings.runtime, "apiGroup": GROUP, "kind": RUNTIME_KIND},
            "trainer": trainer,
            "runtimePatches": [pod_patch(settings, labels)],
            # Trainer stops the job even if the step that waits for it is gone.
            "activeDeadlineSeconds": int(settings.timeout_seconds),
        },
    }


def _counts(job: Mapping[str, Any]) -> str:
    jobs = {s.get("name"): s for s in (job.get("status") or {}).get("jobsStatus") or []}
    node = jobs.get(REPLICATED_JOB) or {}
    return f"{REPLICATED_JOB} jobs: " + ", ".join(
        f"{k} {node.get(k, 0)}" for k in ("active", "ready", "succeeded", "failed"))


TRAINJOB = k8s_job.JobKind(
    group=GROUP, version=VERSION, plural=PLURAL, kind=KIND, container=CONTAINER,
    succeeded=COMPLETE, failed=FAILED,
    workers=lambda body: body["spec"]["trainer"]["numNodes"],
    counts=_counts, index_label=COMPLETION_INDEX_LABEL,
    pod_labels=lambda name: {JOBSET_NAME_LABEL: name, REPLICATED_JOB_LABEL: REPLICATED_JOB})


class TrainJobClient(k8s_job.JobClient):
    """Submits, follows and deletes TrainJobs in one namespace through the Kubernetes API."""

    def __init__(self, api_client, namespace: str, **kwargs):
        super().__init__(TRAINJOB, api_client, namespace, **kwargs)
