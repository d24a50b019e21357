"""TF_CONFIG for one pod of a Kubeflow Trainer v2 TrainJob (a JobSet underneath), derived
from what JobSet and the Kubernetes Job controller give the pod. Trainer v2 ships no
TensorFlow runtime and its PlainML policy writes no cluster variables
(kubeflow/trainer v2.3.0 pkg/runtime/framework/plugins/plainml/plainml.go,
`PlainML.EnforceMLPolicy`: only the node count and the TrainJob's env), so the worker
writes TF_CONFIG itself, as the Trainer maintainers advise for TensorFlow.

What a pod knows (the runtime k8s/training/tensorflow-runtime.yaml passes the labels in
through the downward API):
- its JobSet's name, replicated job and job index: the pod labels
  `jobset.sigs.k8s.io/jobset-name`, `.../replicatedjob-name`, `.../job-index`
  (kubernetes-sigs/jobset v0.12.0 pkg/controllers/jobset_controller.go,
  `labelAndAnnotateObject`); Trainer names the JobSet after the TrainJob
  (pkg/runtime/framework/plugins/jobset/jobset.go, `JobSet.Build`);
- its index among the Job's pods: JOB_COMPLETION_INDEX, which the Job controller sets in
  Indexed completion mode (JobSet's webhook defaults every replicated job to it:
  pkg/webhooks/jobset_webhook.go, `jobSetWebhook.Default`);
- how many pods the Job has: the TrainJob's numNodes, which the TrainJob also passes as
  NUM_NODES_ENV (Trainer sets the Job's parallelism and completions to it:
  jobset.go `JobSet.SyncParallelCount`, plainml.go);
- every pod's DNS name: `<jobset>-<replicatedJob>-<jobIdx>-<podIdx>.<subdomain>`, the
  subdomain being the JobSet's name unless the runtime sets `network.subdomain`
  (jobset.go `JobSet.IdentifyPodNetwork`; jobset_controller.go `constructJob`,
  `GetSubdomain`), resolvable through the headless Service JobSet creates.

Every pod listens on PORT (the runtime's container port). A network that does not
resolve pod DNS names (a test stand-in running every pod as a process on one machine)
passes ADDRESS_MAP_ENV, a JSON map from those DNS names to the address to use instead.
"""
from __future__ import annotations

import json
from typing import Any, Dict, Mapping

PORT = 2222
# Downward-API variables the runtime defines from JobSet's pod labels.
JOBSET_NAME_ENV = "JOBSET_NAME"
REPLICATED_JOB_ENV = "JOBSET_REPLICATED_JOB"
JOB_INDEX_ENV = "JOBSET_JOB_INDEX"
# Set by the Kubernetes Job controller in every pod of an Indexed Job.
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
# Set by the TrainJob (spec.trainer.env): the number of worker pods.
NUM_NODES_ENV = "CLASSICS_NUM_NODES"
SUBDOMAIN_ENV = "JOBSET_SUBDOMAIN"  # optional: a runtime that sets network.subdomain
ADDRESS_MAP_ENV = "CLASSICS_CLUSTER_ADDRESSES"


class ClusterEnvError(ValueError):
    """The pod's environment does not describe a JobSet pod."""


def _int(env: Mapping[str, str], name: str, minimum: int) -> int:
    value = env.get(name)
    try:
        number = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ClusterEnvError(f"{name}: expected an integer, got {value!r} (is this a pod of "
                              "a TrainJob on the tfx-classics TrainingRuntime?)") from None
    if number < minimum:
        raise ClusterEnvError(f"{name}: expected at least {minimum}, got {number}")
    return number


def hostnames(env: Mapping[str, str]) -> list:
    """The DNS names of the Job's pods, in completion-index order."""
    jobset = env.get(JOBSET_NAME_ENV) or ""
    replicated = env.get(REPLICATED_JOB_ENV) or ""
    if not jobset or not replicated:
        raise ClusterEnvError(f"{JOBSET_NAME_ENV} and {REPLICATED_JOB_ENV} must be set "
                              "(the runtime passes JobSet's pod labels)")
    job_index = _int(env, JOB_INDEX_ENV, 0)
    nodes = _int(env, NUM_NODES_ENV, 1)
    subdomain = env.get(SUBDOMAIN_ENV) or jobset
    return [f"{jobset}-{replicated}-{job_index}-{i}.{subdomain}" for i in range(nodes)]


def tf_config(env: Mapping[str, str]) -> Dict[str, Any]:
    """TF_CONFIG of this pod: every pod a `worker` (worker 0 is the chief, as with a
    Worker-only TFJob), this pod's task index its completion index."""
    names = hostnames(env)
    index = _int(env, COMPLETION_INDEX_ENV, 0)
    if index >= len(names):
        raise ClusterEnvError(f"{COMPLETION_INDEX_ENV}={index} but {NUM_NODES_ENV}="
                              f"{len(names)}")
    addresses = [f"{name}:{PORT}" for name in names]
    if env.get(ADDRESS_MAP_ENV):
        mapping = json.loads(env[ADDRESS_MAP_ENV])
        missing = [a for a in addresses if a not in mapping]
        if missing:
            raise ClusterEnvError(f"{ADDRESS_MAP_ENV} has no address for {missing}")
        addresses = [mapping[a] for a in addresses]
    return {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index},
            "environment": "cloud"}
