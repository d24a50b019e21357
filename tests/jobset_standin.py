"""The parts of Kubeflow Trainer v2.3, JobSet v0.12 and the Kubernetes Job controller that
tests/k8s_standin.py plays for a TrainJob, each following the upstream code it names.

- `expand(trainjob, runtime)`: the JobSet Trainer builds from a TrainJob and its
  TrainingRuntime (kubeflow/trainer v2.3.0 pkg/runtime/core/trainingruntime.go
  `newRuntimeInfo` and `mergeRuntimePatches`; plugins/plainml/plainml.go
  `EnforceMLPolicy`; plugins/jobset/jobset.go `SyncParallelCount` and `Build`;
  plugins/jobset/builder.go `Builder.Trainer`), with JobSet's defaults
  (kubernetes-sigs/jobset v0.12.0 pkg/webhooks/jobset_webhook.go `Default`).
- `JobSetRun`: runs it. One Indexed Job per replicated job replica (jobset_controller.go
  `constructJob`, `labelAndAnnotateObject`), one local process per completion index with
  the pod's environment (its container's env, Secret and downward-API references
  resolved against the pod's own labels, and the Job controller's JOB_COMPLETION_INDEX).
  A failed pod goes through the Job's podFailurePolicy (FailJob / Ignore / Count) and
  backoffLimit, a restarted pod keeps its index and hostname; a Job succeeds by its
  successPolicy or when every index did. A failed Job goes through the JobSet's
  failurePolicy (controllers/failure_policy.go `executeFailurePolicy`: first matching
  rule, else RestartJobSet, which recreates every Job until maxRestarts; no policy: fail),
  and the JobSet succeeds by its successPolicy (default: All). The TrainJob's status is
  Trainer's copy of it (plugins/jobset/jobset.go `JobSet.Status`: Completed -> Complete,
  Failed -> Failed, reason and message kept; jobsStatus per replicated job).

Pods reach each other through the stand-in's network: every pod DNS name
(`<jobset>-<replicatedJob>-<jobIdx>-<podIdx>.<subdomain>:<containerPort>`) is given a
port of its own on 127.0.0.1, and every pod gets the map in
trainer/runtime/jobset_cluster.py's ADDRESS_MAP_ENV; with TMPDIR (k8s_standin.pod_tmp, the
container's own /tmp) the two variables a cluster would not set (its DNS resolves those
names, every pod has an IP and a filesystem of its own).
"""
from __future__ import annotations

import copy
import datetime
import hashlib
import json
import os
import random
import re
import socket
import string
import subprocess
import sys
from typing import Any, Callable, Dict, List, Optional

from tests.k8s_standin import pod_tmp
from trainer.runtime import jobset_cluster

ANCESTOR_LABEL = "trainer.kubeflow.org/trainjob-ancestor-step"
NODE = "node"
COMPLETION_INDEX = "batch.kubernetes.io/job-completion-index"
JOBSET_LABELS = ("jobset.sigs.k8s.io/jobset-name", "jobset.sigs.k8s.io/replicatedjob-name",
                 "jobset.sigs.k8s.io/job-index")
# The list fields a strategic merge patch merges by key (k8s.io/api core/v1 and batch/v1
# patchMergeKey tags, jobset_types.go ReplicatedJobs); other lists are replaced.
_MERGE_KEYS = {"replicatedJobs": "name", "containers": "name", "initContainers": "name",
               "volumes": "name", "env": "name", "volumeMounts": "mountPath",
               "ports": "containerPort", "imagePullSecrets": "name"}


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def strategic_merge(base: Any, patch: Any, field: str = "") -> Any:
    """`patch` merged into `base` as apimachinery's strategicpatch does for these types:
    maps recursively, keyed lists by their merge key, everything else replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = strategic_merge(base.get(key), value, key) if key in base else \
                copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in _MERGE_KEYS:
        key = _MERGE_KEYS[field]
        out = [copy.deepcopy(item) for item in base]
        for item in patch:
            match = [i for i, old in enumerate(out) if old.get(key) == item.get(key)]
            if match:
                out[match[0]] = strategic_merge(out[match[0]], item, field)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(patch)


def _upsert_env(container: Dict[str, Any], env: List[Dict[str, Any]]) -> None:
    """apply.UpsertEnvVars: same name replaced in place, new names appended."""
    current = container.setdefault("env", [])
    for var in env:
        names = [v["name"] for v in current]
        if var["name"] in names:
            current[names.index(var["name"])] = copy.deepcopy(var)
        else:
            current.append(copy.deepcopy(var))


def _node_container(pod_spec: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    found = [c for c in pod_spec.get("containers", []) if c.get("name") == NODE]
    return found[0] if found else None


def expand(trainjob: Dict[str, Any], runtime: Dict[str, Any]) -> Dict[str, Any]:
    """The JobSet (a dict) Trainer creates for `trainjob` on `runtime`."""
    template = copy.deepcopy(runtime["spec"]["template"])
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    annotations = dict((template.get("metadata") or {}).get("annotations") or {})
    spec = template["spec"]
    order = [r["name"] for r in spec["replicatedJobs"]]
    for patch in trainjob["spec"].get("runtimePatches") or []:
        patched = ((patch.get("trainingRuntimeSpec") or {}).get("template") or {})
        labels.update(((patched.get("metadata") or {}).get("labels")) or {})
        annotations.update(((patched.get("metadata") or {}).get("annotations")) or {})
        if patched.get("spec"):
            spec = strategic_merge(spec, patched["spec"])
    spec["replicatedJobs"].sort(key=lambda r: order.index(r["name"]))
    policy = runtime["spec"].get("mlPolicy")
    trainer = trainjob["spec"].get("trainer") or {}
    framework = policy and any(k in policy for k in ("torch", "mpi", "jax"))
    for rjob in spec["replicatedJobs"]:
        job_spec = rjob["template"]["spec"]
        pod_spec = job_spec["template"]["spec"]
        ancestor = ((rjob["template"].get("metadata") or {}).get("labels") or {}).get(
            ANCESTOR_LABEL)
        count = job_spec.get("parallelism", 1)
        if ancestor != "trainer":
            continue
        container = _node_container(pod_spec)
        if policy is not None:  # newRuntimeInfo: numNodes and resourcesPerNode need a policy
            count = policy.get("numNodes", 1)
            if trainer.get("resourcesPerNode") and container is not None:
                resources = container.setdefault("resources", {})
                for kind in ("requests", "limits"):
                    if trainer["resourcesPerNode"].get(kind):
                        resources.setdefault(kind, {}).update(trainer["resourcesPerNode"][kind])
            if not framework and trainer.get("numNodes"):  # PlainML
                count = trainer["numNodes"]
        rjob["replicas"] = 1  # Builder.Trainer
        if container is not None:
            for field in ("image", "command", "args"):
                if trainer.get(field):
                    container[field] = copy.deepcopy(trainer[field])
            _upsert_env(container, trainer.get("env") or [])
        job_spec["parallelism"] = job_spec["completions"] = count  # SyncParallelCount
    # JobSet's webhook defaults.
    spec.setdefault("successPolicy", {"operator": "All"})
    spec.setdefault("network", {}).setdefault("enableDNSHostnames", True)
    for rjob in spec["replicatedJobs"]:
        rjob.setdefault("replicas", 1)
        rjob["template"]["spec"].setdefault("completionMode", "Indexed")
        rjob["template"]["spec"]["template"]["spec"].setdefault("restartPolicy", "OnFailure")
    meta = trainjob["metadata"]
    return {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                         "labels": labels, "annotations": annotations,
                         "ownerReferences": [{
                             "apiVersion": "trainer.kubeflow.org/v1alpha1",
                             "kind": "TrainJob", "name": meta["name"], "uid": meta["uid"],
                             "controller": True, "blockOwnerDeletion": True}]},
            "spec": spec}


def _index_set(text: str) -> set:
    """A Job successPolicy's succeededIndexes ("0", "1-3,7")."""
    out = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pod:
    def __init__(self, name: str, index: int, labels: Dict[str, str], proc: subprocess.Popen,
                 log_path: str):
        self.name, self.index, self.labels = name, index, labels
        self.proc, self.log_path = proc, log_path
        self.created = datetime.datetime.now(datetime.timezone.utc)

    @property
    def code(self) -> Optional[int]:
        return self.proc.poll()

    @property
    def phase(self) -> str:
        code = self.code
        return "Running" if code is None else ("Succeeded" if code == 0 else "Failed")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=60)


class Job:
    """One child Job of the JobSet: Indexed, restartPolicy Never."""

    def __init__(self, name: str, rjob: Dict[str, Any], index: int):
        self.name, self.rjob, self.index = name, rjob, index
        self.spec = rjob["template"]["spec"]
        self.pods: List[Pod] = []
        self.succeeded: set = set()
        self.failures = 0
        self.condition: Optional[Dict[str, str]] = None  # Complete / Failed

    def current(self, index: int) -> Optional[Pod]:
        pods = [p for p in self.pods if p.index == index]
        return pods[-1] if pods else None


class JobSetRun:
    """Runs one JobSet's pods as local processes and keeps its status."""

    def __init__(self, jobset: Dict[str, Any], uid: str, container_env: Callable,
                 base_env: Dict[str, str], workdir: str, root: str):
        self.jobset, self.uid = jobset, uid
        self.container_env, self.base_env = container_env, base_env
        self.workdir, self.root = workdir, root
        self.restarts = 0
        self.conditions: List[Dict[str, str]] = []
        self.jobs: List[Job] = []
        self.events: List[str] = []
        self.addresses = self._network()
        self._create_jobs()

    @property
    def name(self) -> str:
        return self.jobset["metadata"]["name"]

    def _subdomain(self) -> str:
        return (self.jobset["spec"].get("network") or {}).get("subdomain") or self.name

    def _network(self) -> Dict[str, str]:
        """Every pod DNS name and container port -> a port of its own on 127.0.0.1."""
        out = {}
        for rjob in self.jobset["spec"]["replicatedJobs"]:
            spec = rjob["template"]["spec"]
            ports = [p["containerPort"] for c in spec["template"]["spec"]["containers"]
                     for p in c.get("ports") or []]
            for j in range(rjob["replicas"]):
                for i in range(spec.get("completions", 1)):
                    host = f"{self.name}-{rjob['name']}-{j}-{i}.{self._subdomain()}"
                    for port in ports:
                        out[f"{host}:{port}"] = f"127.0.0.1:{_free_port()}"
        return out

    def _create_jobs(self) -> None:
        self.jobs = []
        for rjob in self.jobset["spec"]["replicatedJobs"]:
            for j in range(rjob["replicas"]):
                job = Job(f"{self.name}-{rjob['name']}-{j}", rjob, j)
                self.jobs.append(job)
                for i in range(job.spec.get("completions", 1)):
                    self._start_pod(job, i)

    def _pod_labels(self, job: Job, index: int) -> Dict[str, str]:
        """labelAndAnnotateObject's labels, then the Job controller's."""
        rjob = job.rjob
        labels = dict((rjob["template"]["spec"]["template"].get("metadata") or {})
                      .get("labels") or {})
        labels.update({
            "jobset.sigs.k8s.io/jobset-name": self.name,
            "jobset.sigs.k8s.io/jobset-uid": self.uid,
            "jobset.sigs.k8s.io/replicatedjob-name": rjob["name"],
            "jobset.sigs.k8s.io/restart-attempt": str(self.restarts),
            "jobset.sigs.k8s.io/replicatedjob-replicas": str(rjob["replicas"]),
            "jobset.sigs.k8s.io/job-index": str(job.index),
            "jobset.sigs.k8s.io/job-key": hashlib.sha1(
                f"{self.jobset['metadata']['namespace']}/{job.name}".encode()).hexdigest(),
            "batch.kubernetes.io/job-name": job.name, "job-name": job.name,
            COMPLETION_INDEX: str(index)})
        return labels

    def _start_pod(self, job: Job, index: int) -> None:
        pod_spec = job.spec["template"]["spec"]
        (container,) = pod_spec["containers"]  # the runtime has one container
        labels = self._pod_labels(job, index)
        suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
        name = f"{job.name}-{index}-{suffix}"
        env = dict(self.base_env)
        env["PYTHONPATH"] = self.root
        env.update(self.container_env(container, {
            "metadata.name": name, "metadata.namespace": self.jobset["metadata"]["namespace"],
            **{f"metadata.labels['{k}']": v for k, v in labels.items()},
            **{f"metadata.annotations['{k}']": v for k, v in labels.items()
               if k.startswith("jobset.sigs.k8s.io/") or k == COMPLETION_INDEX}}))
        env["JOB_COMPLETION_INDEX"] = str(index)  # the Job controller, Indexed mode
        env[jobset_cluster.ADDRESS_MAP_ENV] = json.dumps(self.addresses)  # the network
        env["TMPDIR"] = pod_tmp(self.workdir, name)
        command = list(container.get("command") or []) + list(container.get("args") or [])
        if command and command[0] == "python":
            command[0] = sys.executable
        log_path = os.path.join(self.workdir, f"{name}.log")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(command, cwd=self.root, env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
        job.pods.append(Pod(name, index, labels, proc, log_path))

    # ------------------------------------------------------------------ controllers
    def _pod_failure_action(self, job: Job, pod: Pod) -> str:
        """The Job's podFailurePolicy for a pod that exited non-zero: the first rule
        whose onExitCodes match (In / NotIn, 0 never counts), else Count."""
        for rule in (job.spec.get("podFailurePolicy") or {}).get("rules") or []:
            codes = rule.get("onExitCodes")
            if not codes:
                continue
            values = set(codes["values"])
            hit = pod.code in values if codes["operator"] == "In" else pod.code not in values
            if hit:
                return rule["action"]
        return "Count"

    def _job_tick(self, job: Job) -> None:
        completions = job.spec.get("completions", 1)
        for index in range(completions):
            pod = job.current(index)
            if index in job.succeeded or pod is None or pod.code is None:
                continue
            if pod.code == 0:
                job.succeeded.add(index)
                continue
            # A signal shows as a negative code locally; in a container it is 128 + n.
            code = pod.code if pod.code > 0 else 128 - pod.code
            pod.proc.returncode = code
            action = self._pod_failure_action(job, pod)
            if action == "FailJob":
                job.condition = {"type": "Failed", "reason": "PodFailurePolicy", "message": (
                    f"Container node for pod {self.jobset['metadata']['namespace']}/"
                    f"{pod.name} failed with exit code {code} matching FailJob rule at "
                    "index 0")}
                break
            if action != "Ignore":
                job.failures += 1
            if job.failures > job.spec.get("backoffLimit", 6):
                job.condition = {"type": "Failed", "reason": "BackoffLimitExceeded",
                                 "message": "Job has reached the specified backoff limit"}
                break
            self.events.append(f"restart {job.name} index {index} after exit {code}")
            self._start_pod(job, index)
        if job.condition is None:
            rules = (job.spec.get("successPolicy") or {}).get("rules") or []
            met = any(_index_set(r["succeededIndexes"]) <= job.succeeded for r in rules
                      if r.get("succeededIndexes"))
            if met or len(job.succeeded) == completions:
                job.condition = {"type": "Complete", "reason": "", "message": ""}
        if job.condition is not None:  # a finished Job's other pods are stopped
            for pod in job.pods:
                pod.kill()

    def _finished(self) -> bool:
        return any(c["type"] in ("Completed", "Failed") for c in self.conditions)

    def _set(self, kind: str, reason: str, message: str) -> None:
        self.conditions.append({"type": kind, "status": "True", "reason": reason,
                                "message": message, "lastTransitionTime": now()})
        for job in self.jobs:
            for pod in job.pods:
                pod.kill()

    def tick(self) -> None:
        if self._finished():
            return
        for job in self.jobs:
            if job.condition is None:
                self._job_tick(job)
        failed = [j for j in self.jobs if j.condition and j.condition["type"] == "Failed"]
        if failed:
            self._failure_policy(failed)
            return
        policy = self.jobset["spec"]["successPolicy"]
        targets = policy.get("targetReplicatedJobs") or [
            r["name"] for r in self.jobset["spec"]["replicatedJobs"]]
        done = [j.condition is not None and j.condition["type"] == "Complete"
                for j in self.jobs if j.rjob["name"] in targets]
        if done and (all(done) if policy["operator"] == "All" else any(done)):
            self._set("Completed", "AllJobsCompleted", "jobset completed successfully")

    def _failure_policy(self, failed: List[Job]) -> None:
        policy = self.jobset["spec"].get("failurePolicy")
        first = failed[0]
        if policy is None:
            self._set("Failed", "FailedJobs", "jobset failed due to one or more job "
                      f"failures (first failed job: {first.name})")
            return
        action, job = "RestartJobSet", first
        for rule in policy.get("rules") or []:
            matching = [j for j in failed
                        if (not rule.get("onJobFailureReasons")
                            or j.condition["reason"] in rule["onJobFailureReasons"])
                        and (not rule.get("onJobFailureMessagePatterns") or any(
                            re.search(p, j.condition["message"])
                            for p in rule["onJobFailureMessagePatterns"]))
                        and (not rule.get("targetReplicatedJobs")
                             or j.rjob["name"] in rule["targetReplicatedJobs"])]
            if matching:
                action, job = rule["action"], matching[0]
                break
        if action == "FailJobSet":
            self._set("Failed", "FailJobSetFailurePolicyAction",
                      f"applying FailJobSet failure policy action (first failed job: "
                      f"{job.name})")
        elif action.startswith("RestartJobSet"):
            if action == "RestartJobSet" and self.restarts >= policy.get("maxRestarts", 0):
                self._set("Failed", "ReachedMaxRestarts", "jobset failed due to reaching "
                          f"max number of restarts (first failed job: {job.name})")
                return
            for j in self.jobs:
                for pod in j.pods:
                    pod.kill()
            self.restarts += 1
            self.events.append(f"restart jobset after {job.name}: {job.condition['reason']}")
            self._create_jobs()
        else:
            raise NotImplementedError(f"JobSet failure policy action {action}")

    def pods(self) -> List[Pod]:
        return [p for j in self.jobs for p in j.pods]

    def kill(self) -> None:
        for pod in self.pods():
            pod.kill()

    def trainjob_status(self) -> Dict[str, Any]:
        """The TrainJob's status as Trainer copies it from the JobSet."""
        renamed = {"Completed": "Complete", "Failed": "Failed"}
        conditions = [dict(c, type=renamed[c["type"]]) for c in self.conditions
                      if c["type"] in renamed]
        statuses = []
        for rjob in self.jobset["spec"]["replicatedJobs"]:
            jobs = [j for j in self.jobs if j.rjob["name"] == rjob["name"]]
            active = [j for j in jobs if j.condition is None
                      and any(p.code is None for p in j.pods)]
            statuses.append({
                "name": rjob["name"],
                "ready": len([j for j in active if all(
                    j.current(i) is not None and j.current(i).code in (None, 0)
                    for i in range(j.spec.get("completions", 1)))]),
                "succeeded": len([j for j in jobs if j.condition
                                  and j.condition["type"] == "Complete"]),
                "failed": len([j for j in jobs if j.condition
                               and j.condition["type"] == "Failed"]),
                "active": len(active), "suspended": 0})
        status: Dict[str, Any] = {"jobsStatus": statuses}
        if conditions:
            status["conditions"] = conditions
        return status
