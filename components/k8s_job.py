"""A Trainer step's training job on Kubernetes, whatever operator runs it: the settings
that travel in the Trainer's custom_config, pod placement (tolerations, node selector),
the worker container, and the client that submits a job, follows it to the end (status,
worker 0's log lines, the failed workers' last lines) and deletes it.

The backends are small modules beside this one: components/tfjob.py (a `kubeflow.org/v1`
TFJob of the Training Operator 1.9) and components/trainjob.py (a
`trainer.kubeflow.org/v1alpha1` TrainJob of Kubeflow Trainer v2). Each describes its
custom resource with a `JobKind` (group, version, plural, the condition types that end a
job, how to find its pods) and builds its body; everything else is here, written once.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

PART_OF = ("app.kubernetes.io/part-of", "tfx-classics")
STEP_LABEL = "tfx-classics/step"
SERVICE_ACCOUNT_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
MAX_NAME = 40  # leaves room for the operators' "-worker-<i>" / "-node-<j>-<i>" pod names (63)
# Consecutive failed status reads (API server restarts, network blips) before giving up.
API_ERROR_LIMIT = 5
# Pod placement: taint effects Kubernetes knows, and the label key / value syntax
# (apimachinery validation: an optional DNS-subdomain prefix, a name of at most 63).
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_KEY = re.compile(
    rf"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?{_NAME}$")
_LABEL_VALUE = re.compile(rf"^({_NAME})?$")
TOLERATION_FORMAT = "KEY[=VALUE]:EFFECT"
NODE_SELECTOR_FORMAT = "KEY=VALUE"


def gpu_toleration(resource: str) -> Dict[str, str]:
    """Tolerates the taint GPU node pools commonly carry (the NVIDIA device plugin's and
    the managed clouds' `nvidia.com/gpu`), so GPU pods may land there."""
    return {"key": resource, "operator": "Exists", "effect": "NoSchedule"}


def _label_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return bool(_LABEL_KEY.match(key)) and len(prefix) <= 253 and len(name) <= 63


def check_toleration(toleration: Mapping[str, str]) -> None:
    """Refuses a toleration an API server would refuse (or this project never writes)."""
    extra = sorted(set(toleration) - {"key", "operator", "value", "effect"})
    key, value = toleration.get("key", ""), toleration.get("value", "")
    operator, effect = toleration.get("operator"), toleration.get("effect")
    if extra or not _label_key(key) or effect not in TAINT_EFFECTS or (
            operator == "Exists" and value) or operator not in ("Exists", "Equal") or (
            not _LABEL_VALUE.match(value)):
        raise ValueError(f"toleration {dict(toleration)!r}: expected a label key, operator "
                         f"Exists (no value) or Equal, effect one of {', '.join(TAINT_EFFECTS)}")


def parse_toleration(text: str) -> Dict[str, str]:
    """`KEY:EFFECT` (operator Exists) or `KEY=VALUE:EFFECT` (operator Equal)."""
    rest, _, effect = text.rpartition(":")
    key, equals, value = rest.partition("=")
    toleration = {"key": key, "operator": "Equal" if equals else "Exists", "effect": effect}
    if equals:
        toleration["value"] = value
    try:
        check_toleration(toleration)
    except ValueError:
        raise ValueError(f"expected {TOLERATION_FORMAT} (EFFECT one of "
                         f"{', '.join(TAINT_EFFECTS)}), got {text!r}") from None
    return toleration


def check_node_selector(selector: Mapping[str, str]) -> None:
    for key, value in selector.items():
        if not _label_key(key) or not isinstance(value, str) or not _LABEL_VALUE.match(value):
            raise ValueError(f"node selector {key}={value}: expected a label key and value")


def parse_node_selector(text: str) -> Tuple[str, str]:
    """`KEY=VALUE` -> (key, value)."""
    key, equals, value = text.partition("=")
    try:
        if not equals:
            raise ValueError
        check_node_selector({key: value})
    except ValueError:
        raise ValueError(f"expected {NODE_SELECTOR_FORMAT} (a node label), got "
                         f"{text!r}") from None
    return key, value


class JobFailed(RuntimeError):
    """The operator marked the job Failed (or it vanished)."""


class JobTimeout(TimeoutError):
    """The job did not finish within the step's timeout."""


@dataclasses.dataclass
class JobSettings:
    """How a Trainer step's training job runs: carried in the Trainer's custom_config."""
    image: str
    workers: int = 2
    gpus_per_worker: int = 0
    gpu_resource: str = "nvidia.com/gpu"  # the Kubernetes resource name of one GPU
    cpu: Optional[float] = 4.0  # per worker, cores (requests = limits)
    memory_gb: Optional[float] = 16.0  # per worker
    namespace: Optional[str] = None  # None: the step's own namespace
    timeout_seconds: int = 24 * 3600
    poll_seconds: float = 30.0
    backoff_limit: int = 3
    keep_job: bool = False  # keep the finished job and its pods (for their logs)
    service_account: Optional[str] = None
    # Variables from Secrets: {variable: [secret name, key]}; values never enter the spec.
    secret_env: Dict[str, List[str]] = dataclasses.field(default_factory=dict)
    env: Dict[str, str] = dataclasses.field(default_factory=dict)
    shm_gi: float = 2.0  # in-memory /dev/shm (NCCL, tf.data); the container default is 64Mi
    # Each worker pod's placement, besides the GPU taint's toleration that GPU workers get.
    tolerations: List[Dict[str, str]] = dataclasses.field(default_factory=list)
    node_selector: Dict[str, str] = dataclasses.field(default_factory=dict)

    def check(self) -> None:
        if not self.image:
            raise ValueError("training job: no image")
        if self.workers < 1:
            raise ValueError(f"training job: workers must be at least 1, got {self.workers}")
        if self.gpus_per_worker < 0:
            raise ValueError(f"training job: GPUs per worker must be 0 or more, got "
                             f"{self.gpus_per_worker}")
        if self.gpus_per_worker and "/" not in self.gpu_resource:
            raise ValueError(f"training job: GPU resource {self.gpu_resource!r} is not a "
                             "Kubernetes resource name (e.g. nvidia.com/gpu)")
        if self.timeout_seconds <= 0 or self.poll_seconds <= 0:
            raise ValueError("training job: timeout and poll interval must be positive")
        for var, ref in self.secret_env.items():
            if len(ref) != 2 or not all(ref):
                raise ValueError(f"training job: secret variable {var}: expected [secret, "
                                 f"key], got {ref!r}")
        for toleration in self.tolerations:
            check_toleration(toleration)
        check_node_selector(self.node_selector)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "JobSettings":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown keys {unknown}")
        settings = cls(**data)
        settings.check()
        return settings

    def tolerations_wanted(self) -> List[Dict[str, str]]:
        """The GPU taint's toleration (GPU workers only), then the user's, each once."""
        wanted = [gpu_toleration(self.gpu_resource)] if self.gpus_per_worker else []
        return wanted + [t for t in self.tolerations if t not in wanted]


def job_name(step: str, output_uri: str) -> str:
    """A DNS-1035 name unique to one execution of a step (its output URI), the same when
    a retried step asks again: `<step>-<hash>`, e.g. trainer-softmax-1a2b3c4d."""
    digest = hashlib.sha256(output_uri.encode()).hexdigest()[:8]
    stem = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-") or "trainer"
    if not stem[0].isalpha():
        stem = f"t-{stem}"
    stem = stem[:MAX_NAME - len(digest) - 1].rstrip("-")
    return f"{stem}-{digest}"


def job_labels(step: str) -> Dict[str, str]:
    labels = {PART_OF[0]: PART_OF[1], "app.kubernetes.io/component": "trainer"}
    if step:
        labels[STEP_LABEL] = re.sub(r"[^A-Za-z0-9_.-]+", "-", step)[:63].strip("-_.")
    return labels


def worker_env(settings: JobSettings, env: Optional[Mapping[str, str]]) -> Dict[str, str]:
    """The workers' plain variables: the step's, the settings', and the GPU requirement
    (trainer/strategy.py refuses to train without the GPUs it was promised)."""
    from trainer.strategy import REQUIRE_GPUS_ENV  # pylint: disable=import-outside-toplevel

    variables = dict(env or {})
    variables.update(settings.env)
    if settings.gpus_per_worker:
        variables[REQUIRE_GPUS_ENV] = str(settings.gpus_per_worker)
    return variables


def _quantity(value: float) -> str:
    return f"{value:g}"


def env_vars(settings: JobSettings, env: Mapping[str, str]):
    """[kubernetes.client.V1EnvVar]: plain values, then Secret references."""
    from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel

    variables = [k8s.V1EnvVar(name=k, value=v) for k, v in sorted(env.items())]
    return variables + [k8s.V1EnvVar(name=var, value_from=k8s.V1EnvVarSource(
        secret_key_ref=k8s.V1SecretKeySelector(name=ref[0], key=ref[1])))
        for var, ref in sorted(settings.secret_env.items())]


def resources(settings: JobSettings):
    """One worker's kubernetes.client.V1ResourceRequirements (requests = limits)."""
    from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel

    amounts: Dict[str, str] = {}
    if settings.cpu:
        amounts["cpu"] = _quantity(settings.cpu)
    if settings.memory_gb:
        amounts["memory"] = f"{_quantity(settings.memory_gb)}Gi"
    if settings.gpus_per_worker:
        amounts[settings.gpu_resource] = str(settings.gpus_per_worker)
    return k8s.V1ResourceRequirements(requests=dict(amounts) or None,
                                      limits=dict(amounts) or None)


SHM_VOLUME, SHM_PATH = "dshm", "/dev/shm"


def shm_volume(settings: JobSettings):
    from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel

    return k8s.V1Volume(name=SHM_VOLUME, empty_dir=k8s.V1EmptyDirVolumeSource(
        medium="Memory", size_limit=f"{_quantity(settings.shm_gi)}Gi"))


def shm_mount():
    from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel

    return k8s.V1VolumeMount(name=SHM_VOLUME, mount_path=SHM_PATH)


def tolerations(settings: JobSettings):
    from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel

    return [k8s.V1Toleration(**t) for t in settings.tolerations_wanted()] or None


def serialize(obj) -> Any:
    """A kubernetes.client model as the JSON the API takes."""
    from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel

    return k8s.ApiClient().sanitize_for_serialization(obj)


def owner_reference(environ: Optional[Mapping[str, str]] = None):
    """The step's pod as owner (KFP sets KFP_POD_NAME/KFP_POD_UID on its tasks), or None."""
    from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel

    env = os.environ if environ is None else environ
    name, uid = env.get("KFP_POD_NAME"), env.get("KFP_POD_UID")
    if not name or not uid:
        return None
    return k8s.V1OwnerReference(api_version="v1", kind="Pod", name=name, uid=uid)


def metadata(name: str, namespace: str, labels: Dict[str, str], owner=None) -> Dict[str, Any]:
    from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel

    return serialize(k8s.V1ObjectMeta(name=name, namespace=namespace, labels=labels,
                                      owner_references=[owner] if owner is not None else None))


def default_api_client(kind: str = "TFJob"):
    """A Kubernetes API client: the pod's service account inside a cluster, else the
    kubeconfig ($KUBECONFIG or ~/.kube/config)."""
    # pylint: disable=import-outside-toplevel
    from kubernetes import client as k8s, config
    from kubernetes.config.config_exception import ConfigException

    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
        else:
            # The client reads $KUBECONFIG once, at import; read it now.
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
    except (ConfigException, OSError) as e:
        raise RuntimeError(f"no Kubernetes API to submit the {kind} to: {e}") from None
    return k8s.ApiClient()


def default_namespace(settings: JobSettings,
                      environ: Optional[Mapping[str, str]] = None) -> str:
    """The settings' namespace, else the step's own (KFP_NAMESPACE, the service account's
    namespace file), else the kubeconfig context's, else `default`."""
    env = os.environ if environ is None else environ
    if settings.namespace:
        return settings.namespace
    if env.get("KFP_NAMESPACE"):
        return env["KFP_NAMESPACE"]
    if os.path.exists(SERVICE_ACCOUNT_NAMESPACE_FILE):
        with open(SERVICE_ACCOUNT_NAMESPACE_FILE, encoding="utf-8") as f:
            return f.read().strip()
    try:
        from kubernetes import config  # pylint: disable=import-outside-toplevel
        _, current = config.list_kube_config_contexts(
            config_file=os.environ.get("KUBECONFIG"))
        return current.get("context", {}).get("namespace") or "default"
    except Exception:  # pylint: disable=broad-except
        return "default"


def job_state(job: Mapping[str, Any], succeeded: str, failed: str) -> Tuple[str, str, str]:
    """(state, reason, message) from the job's conditions: the terminal condition
    (`succeeded` or `failed`) if one is true, else the newest true one ("Pending" while
    the job has none)."""
    conditions = [c for c in (job.get("status") or {}).get("conditions") or []
                  if c.get("status") == "True"]
    for condition in conditions:
        if condition.get("type") in (succeeded, failed):
            return condition["type"], condition.get("reason", ""), condition.get("message", "")
    if conditions:
        last = conditions[-1]
        return last.get("type", "Unknown"), last.get("reason", ""), last.get("message", "")
    return "Pending", "", ""


@dataclasses.dataclass(frozen=True)
class JobKind:
    """What the client needs to know of one custom resource kind."""
    group: str
    version: str
    plural: str
    kind: str
    container: str  # the worker container (its log is followed)
    succeeded: str  # the condition types that end a job
    failed: str
    workers: Callable[[Mapping[str, Any]], int]  # a body's worker count
    counts: Callable[[Mapping[str, Any]], str]  # a job's progress, e.g. "workers: active 2"
    pod_labels: Callable[[str], Dict[str, str]]  # job name -> labels of all its workers
    index_label: str  # the label holding a worker's index

    def pod_selector(self, name: str, index: Optional[int] = None) -> str:
        """The label selector of a job's worker pods (of one worker, with `index`)."""
        labels = dict(self.pod_labels(name))
        if index is not None:
            labels[self.index_label] = str(index)
        return ",".join(f"{k}={v}" for k, v in labels.items())

    def state(self, job: Mapping[str, Any]) -> Tuple[str, str, str]:
        return job_state(job, self.succeeded, self.failed)

    def describe(self, job: Mapping[str, Any]) -> str:
        state, reason, message = self.state(job)
        detail = f" ({reason}: {message})" if reason or message else ""
        return f"{state}{detail}; {self.counts(job)}"


class JobClient:
    """Submits, follows and deletes jobs of one kind in one namespace."""

    def __init__(self, kind: JobKind, api_client, namespace: str,
                 log: Callable[[str], None] = print,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel

        self.kind = kind
        self.custom = k8s.CustomObjectsApi(api_client)
        self.core = k8s.CoreV1Api(api_client)
        self.namespace = namespace
        self.log, self.sleep, self.clock = log, sleep, clock
        self._log_pod: Optional[str] = None
        self._log_last = ""

    def _where(self, name: str) -> str:
        return f"{self.kind.kind} {self.namespace}/{name}"

    def _args(self):
        return self.kind.group, self.kind.version, self.namespace, self.kind.plural

    def get(self, name: str) -> Dict[str, Any]:
        return self.custom.get_namespaced_custom_object(*self._args(), name)

    def create(self, body: Dict[str, Any]) -> Dict[str, Any]:
        """Creates the job. A job of that name already there is the same step asking
        again (a retried step): a running one is followed, a finished one replaced."""
        from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel

        name = body["metadata"]["name"]
        try:
            created = self.custom.create_namespaced_custom_object(*self._args(), body)
            self.log(f"{self._where(name)} submitted: {self.kind.workers(body)} worker(s)")
            return created
        except ApiException as e:
            if e.status != 409:
                raise
        existing = self.get(name)
        state, _, _ = self.kind.state(existing)
        if state not in (self.kind.succeeded, self.kind.failed):
            self.log(f"{self._where(name)} already exists ({state}): following it")
            return existing
        self.log(f"{self._where(name)} exists from an earlier attempt ({state}): replacing it")
        self.delete(name)
        deadline = self.clock() + 120
        while self.clock() < deadline:
            try:
                self.get(name)
            except ApiException as e:
                if e.status == 404:
                    break
                raise
            self.sleep(1.0)
        return self.custom.create_namespaced_custom_object(*self._args(), body)

    def delete(self, name: str) -> bool:
        """Deletes the job and (through the operator's owner references) its pods;
        False when it was not there."""
        from kubernetes import client as k8s  # pylint: disable=import-outside-toplevel
        from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel

        try:
            self.custom.delete_namespaced_custom_object(
                *self._args(), name,
                body=k8s.V1DeleteOptions(propagation_policy="Background"))
        except ApiException as e:
            if e.status == 404:
                return False
            raise
        self.log(f"{self._where(name)} deleted")
        return True

    def _pods(self, name: str, index: Optional[int] = None) -> List[Any]:
        return list(self.core.list_namespaced_pod(
            self.namespace, label_selector=self.kind.pod_selector(name, index)).items)

    def _follow_chief_log(self, name: str, since_seconds: int) -> None:
        """Logs worker 0's lines not logged yet (the API's timestamps order them)."""
        from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel

        try:
            pods = [p for p in self._pods(name, 0)
                    if p.status and p.status.phase in ("Running", "Succeeded", "Failed")]
            if not pods:
                return
            # The newest pod of worker 0 (a restarted worker gets a new one).
            pod = max(pods, key=lambda p: (p.metadata.creation_timestamp.timestamp()
                                           if p.metadata.creation_timestamp else 0.0)
                      ).metadata.name
            if pod != self._log_pod:  # a new (restarted) pod: its log starts afresh
                self._log_pod, self._log_last = pod, ""
            text = self.core.read_namespaced_pod_log(
                pod, self.namespace, container=self.kind.container, timestamps=True,
                since_seconds=since_seconds)
        except ApiException:
            return  # logs are a courtesy; the job's status decides
        for line in (text or "").splitlines():
            stamp, _, message = line.partition(" ")
            if stamp > self._log_last:
                self._log_last = stamp
                self.log(f"[{pod}] {message}")

    def failed_pods(self, name: str) -> List[Any]:
        """The job's worker pods that failed (every attempt)."""
        from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel

        try:
            return [p for p in self._pods(name) if p.status and p.status.phase == "Failed"]
        except ApiException:
            return []

    def failed_logs(self, name: str, tail_lines: int = 40, pods=None) -> List[str]:
        """The last lines of every worker pod that failed."""
        from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel

        out = []
        for pod in self.failed_pods(name) if pods is None else pods:
            try:
                text = self.core.read_namespaced_pod_log(
                    pod.metadata.name, self.namespace, container=self.kind.container,
                    tail_lines=tail_lines)
            except ApiException as e:
                text = f"(no log: {e.reason})"
            out += [f"[{pod.metadata.name}] {line}" for line in (text or "").splitlines()]
        return out

    def wait(self, name: str, timeout_seconds: float, poll_seconds: float) -> Dict[str, Any]:
        """Follows the job until it succeeds (returns it) or fails (JobFailed), or until
        `timeout_seconds` passed (JobTimeout)."""
        from kubernetes.client.exceptions import ApiException  # pylint: disable=import-outside-toplevel
        from urllib3.exceptions import HTTPError  # pylint: disable=import-outside-toplevel

        deadline = self.clock() + timeout_seconds
        last, errors, job = "", 0, {}
        since = int(poll_seconds * 2) + 5  # overlapping windows; duplicates are dropped
        while True:
            try:
                job = self.get(name)
                errors = 0
            except ApiException as e:
                if e.status == 404:
                    raise JobFailed(f"{self._where(name)} is gone (deleted by someone "
                                    "else?) before it finished") from None
                errors += 1
                if errors > API_ERROR_LIMIT:
                    raise
                self.log(f"{self._where(name)}: status read failed ({e.status} {e.reason}); "
                         "retrying")
            except HTTPError as e:
                errors += 1
                if errors > API_ERROR_LIMIT:
                    raise
                self.log(f"{self._where(name)}: API unreachable ({e}); retrying")
            if job:
                status = self.kind.describe(job)
                if status != last:
                    self.log(f"{self._where(name)}: {status}")
                    last = status
                self._follow_chief_log(name, since)
                state, reason, message = self.kind.state(job)
                if state == self.kind.succeeded:
                    return job
                if state == self.kind.failed:
                    pods = self.failed_pods(name)
                    for line in self.failed_logs(name, pods=pods):
                        self.log(line)
                    names = ", ".join(p.metadata.name for p in pods)
                    raise JobFailed(f"{self._where(name)} failed: {reason}: {message}"
                                    + (f"; failed worker pod(s): {names}" if names else ""))
            if self.clock() >= deadline:
                raise JobTimeout(f"{self._where(name)} did not finish within "
                                 f"{timeout_seconds:g} s (last: {last or 'no status'})")
            self.sleep(min(poll_seconds, max(deadline - self.clock(), 0.0)))

    def run(self, body: Dict[str, Any], timeout_seconds: float, poll_seconds: float,
            keep: bool = False) -> Dict[str, Any]:
        """create + wait; the job is deleted afterwards, whatever happened, unless `keep`."""
        name = body["metadata"]["name"]
        try:
            self.create(body)
            return self.wait(name, timeout_seconds, poll_seconds)
        finally:
            if keep:
                self.log(f"{self._where(name)} kept (delete it with kubectl delete "
                         f"{self.kind.kind.lower()} -n {self.namespace} {name})")
            else:
                try:
                    self.delete(name)
                except Exception as e:  # pylint: disable=broad-except
                    # The step's own outcome matters more; the operator's TTL or the
                    # owner reference removes the job later.
                    self.log(f"{self._where(name)}: could not delete it: {e}")
