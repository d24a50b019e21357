"""A stand-in for the Kubernetes API server and the operators that run training jobs, on
127.0.0.1, for the TFJob and TrainJob tests (these machines have no cluster).

It speaks the REST paths the official `kubernetes` client calls for what
components/k8s_job.py does: create, get and delete `tfjobs.kubeflow.org/v1` and
`trainjobs.trainer.kubeflow.org/v1alpha1` in a namespace, list pods by label selector and
read a pod's log. Every created job is validated against its CRD schema (vendored in
tests/data/: the Training Operator 1.9's TFJob, Kubeflow Trainer 2.3's TrainJob; strict:
unknown fields are refused) and refused with 422 when invalid, as an API server with
`--validate=strict` would; a TrainJob whose TrainingRuntime is not in its namespace is
refused with 422 too, as Trainer's validating webhook does
(pkg/runtime/core/trainingruntime.go, `TrainingRuntime.ValidateObjects`). Clients reach it
through a kubeconfig file (`kubeconfig()`), so the client's own configuration loading runs
too. Every request is recorded (`requests`), for the RBAC check.

Two ways a job progresses:
- scripted (`StandIn.script(statuses, pods, logs)`): each GET returns the next status of
  the list (the last one repeats);
- operated (`StandIn(operate=True)`):
  - a TFJob like the Training Operator runs it: every worker replica is started, here as
    a local process running the container's command and args (`python` is this
    interpreter) with the container's environment (Secret references resolved from
    `secrets`), the TF_CONFIG the operator writes (`{"cluster": {"worker": [...]},
    "task": {"type": "worker", "index": i}, "environment": "cloud"}`, addresses on
    127.0.0.1) and a TMPDIR of its own (`pod_tmp`: the container's own /tmp); the job succeeds when worker 0 exits 0 and fails when a worker exits with
    1-127 (restartPolicy ExitCode).
  - a TrainJob like Trainer, JobSet and the Job controller run it (tests/jobset_standin.py):
    expanded with its TrainingRuntime (`runtimes`) into a JobSet, validated against
    JobSet's CRD, every pod a local process with only the pod's environment, restarted,
    failed or completed by the Job's and JobSet's policies; its status conditions
    (Complete / Failed) are the ones Trainer copies from the JobSet.
  Deleting a job kills its processes.
"""
from __future__ import annotations

import copy
import datetime
import functools
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from typing import Any, Dict, List, Optional

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
CRD_FILE = os.path.join(DATA, "kubeflow.org_tfjobs.yaml")
TRAINJOB_CRD = os.path.join(DATA, "trainer.kubeflow.org_trainjobs.yaml")
TRAINING_RUNTIME_CRD = os.path.join(DATA, "trainer.kubeflow.org_trainingruntimes.yaml")
JOBSET_CRD = os.path.join(DATA, "jobset.x-k8s.io_jobsets.yaml")
TOKEN = "stand-in-token"
_TFJOBS = re.compile(r"^/apis/kubeflow\.org/v1/namespaces/([^/]+)/tfjobs(?:/([^/]+))?$")
_TRAINJOBS = re.compile(
    r"^/apis/trainer\.kubeflow\.org/v1alpha1/namespaces/([^/]+)/trainjobs(?:/([^/]+))?$")
_PODS = re.compile(r"^/api/v1/namespaces/([^/]+)/pods$")
_LOG = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/log$")


def _strict(schema: Any) -> Any:
    """The CRD's structural schema with unknown fields refused wherever it lists the
    fields (the API server would prune them silently; a typo must fail a test)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@functools.lru_cache(maxsize=None)
def crd(path: str = CRD_FILE) -> Dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@functools.lru_cache(maxsize=None)
def crd_schema(path: str, version: str, with_status: bool = False) -> Dict[str, Any]:
    (served,) = [v for v in crd(path)["spec"]["versions"] if v["name"] == version]
    schema = _strict(served["schema"]["openAPIV3Schema"])
    if not with_status:
        # status is written by the operator, not by clients.
        schema["properties"].pop("status", None)
    return schema


@functools.lru_cache(maxsize=None)
def _validator(path: str, version: str, with_status: bool) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(crd_schema(path, version, with_status))


def tfjob_schema() -> Dict[str, Any]:
    return crd_schema(CRD_FILE, "v1")


def validate_object(body: Dict[str, Any], path: str, with_status: bool = False) -> None:
    """Raises jsonschema.ValidationError when `body` is not a valid object of the CRD in
    `path` (its group, version and kind; a DNS-1035 name)."""
    spec = crd(path)["spec"]
    (version,) = [v["name"] for v in spec["versions"] if v.get("storage")]
    _validator(path, version, with_status).validate(body)
    expected = (f"{spec['group']}/{version}", spec["names"]["kind"])
    if (body.get("apiVersion"), body.get("kind")) != expected:
        raise jsonschema.ValidationError(f"apiVersion/kind must be {' '.join(expected)}")
    name = body.get("metadata", {}).get("name", "")
    if not re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name):
        raise jsonschema.ValidationError(f"metadata.name {name!r} is not a DNS-1035 label")


def validate_tfjob(body: Dict[str, Any]) -> None:
    """Raises jsonschema.ValidationError when `body` is not a valid TFJob."""
    assert crd()["spec"]["group"] == "kubeflow.org" and crd()["spec"]["names"]["kind"] == "TFJob"
    validate_object(body, CRD_FILE)


def validate_trainjob(body: Dict[str, Any], with_status: bool = False) -> None:
    """Raises jsonschema.ValidationError when `body` is not a valid Trainer v2.3 TrainJob."""
    validate_object(body, TRAINJOB_CRD, with_status)


def validate_training_runtime(body: Dict[str, Any]) -> None:
    validate_object(body, TRAINING_RUNTIME_CRD)


def validate_jobset(body: Dict[str, Any]) -> None:
    validate_object(body, JOBSET_CRD)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def condition(kind: str, reason: str = "", message: str = "") -> Dict[str, Any]:
    return {"type": kind, "status": "True", "reason": reason or f"TFJob{kind}",
            "message": message, "lastUpdateTime": _now(), "lastTransitionTime": _now()}


def status(*kinds: str, active: int = 0, succeeded: int = 0, failed: int = 0,
           message: str = "") -> Dict[str, Any]:
    """A TFJob status with the given condition types (the last one carries `message`)."""
    conditions = [condition(k, message=message if i == len(kinds) - 1 else "")
                  for i, k in enumerate(kinds)]
    return {"conditions": conditions, "replicaStatuses": {"Worker": {
        "active": active, "succeeded": succeeded, "failed": failed}}}


def pod_tmp(workdir: str, pod: str) -> str:
    """A pod's own /tmp (a container's filesystem), as TMPDIR: pods on this machine would
    otherwise share, and leave files in, the machine's /tmp."""
    path = os.path.join(workdir, f"{pod}.tmp")
    os.makedirs(path, exist_ok=True)
    return path


class _Replica:
    def __init__(self, proc: subprocess.Popen, log_path: str, pod: str):
        self.proc, self.log_path, self.pod = proc, log_path, pod

    @property
    def phase(self) -> str:
        code = self.proc.poll()
        return "Running" if code is None else ("Succeeded" if code == 0 else "Failed")


class StandIn:
    def __init__(self, operate: bool = False, secrets: Optional[Dict[str, Dict[str, str]]] = None,
                 base_env: Optional[Dict[str, str]] = None, workdir: str = "/tmp",
                 runtimes: Optional[List[Dict[str, Any]]] = None):
        self.operate = operate
        # TrainingRuntimes by (namespace, name), each validated against its CRD.
        self.runtimes: Dict[Any, Dict[str, Any]] = {}
        for runtime in runtimes or []:
            validate_training_runtime(runtime)
            self.runtimes[(runtime["metadata"]["namespace"],
                           runtime["metadata"]["name"])] = runtime
        self.jobsets: Dict[Any, Any] = {}  # (namespace, TrainJob name) -> JobSetRun
        self.secrets = secrets or {}
        self.base_env = dict(base_env if base_env is not None else os.environ)
        self.workdir = workdir
        self.jobs: Dict[str, Dict[str, Any]] = {}
        self.created: List[Dict[str, Any]] = []  # every accepted body, in order
        self.rejected: List[str] = []
        self.deleted: List[str] = []
        self.requests: List[str] = []
        self.unauthorized = 0
        self.fail_gets = 0  # answer this many GETs of a job with 500 first
        self._statuses: List[Dict[str, Any]] = []
        self._pods: List[Dict[str, Any]] = []
        self._logs: Dict[str, str] = {}
        self._gets = 0
        self._replicas: Dict[str, List[_Replica]] = {}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        handler = functools.partial(_Handler, self)
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        if operate:  # the controllers act whether or not a client polls
            threading.Thread(target=self._reconcile, daemon=True).start()

    # ------------------------------------------------------------------ scripting
    def script(self, statuses: List[Dict[str, Any]], pods: Optional[List[Dict[str, Any]]] = None,
               logs: Optional[Dict[str, str]] = None) -> None:
        self._statuses, self._pods, self._logs, self._gets = statuses, pods or [], logs or {}, 0

    def put(self, body: Dict[str, Any], job_status: Optional[Dict[str, Any]] = None) -> None:
        """A job that exists before the test's client comes (e.g. from an earlier attempt)."""
        job = copy.deepcopy(body)
        job["status"] = job_status or {}
        self.jobs[(body["metadata"]["namespace"], body["metadata"]["name"])] = job

    def kubeconfig(self, path: str, namespace: str = "pipelines") -> str:
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
                  "clusters": [{"name": "stand-in", "cluster": {"server": self.url}}],
                  "users": [{"name": "stand-in", "user": {"token": TOKEN}}],
                  "contexts": [{"name": "stand-in", "context": {
                      "cluster": "stand-in", "user": "stand-in", "namespace": namespace}}]}
        with open(path, "w", encoding="utf-8") as f:
            yaml.safe_dump(config, f)
        return path

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            for run in self.jobsets.values():
                run.kill()
        for replicas in self._replicas.values():
            for r in replicas:
                if r.proc.poll() is None:
                    r.proc.kill()
                    r.proc.wait()
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------------- operator
    def _start(self, key, job: Dict[str, Any]) -> None:
        spec = job["spec"]["tfReplicaSpecs"]["Worker"]
        n = spec["replicas"]
        (container,) = [c for c in spec["template"]["spec"]["containers"]
                        if c["name"] == "tensorflow"]
        addresses = [f"127.0.0.1:{_free_port()}" for _ in range(n)]
        replicas = []
        for index in range(n):
            env = dict(self.base_env)
            for var in container.get("env", []):
                if "value" in var:
                    env[var["name"]] = var["value"]
                else:
                    ref = var["valueFrom"]["secretKeyRef"]
                    env[var["name"]] = self.secrets[ref["name"]][ref["key"]]
            env["TF_CONFIG"] = json.dumps({"cluster": {"worker": addresses},
                                           "task": {"type": "worker", "index": index},
                                           "environment": "cloud"})
            env["PYTHONPATH"] = ROOT
            command = list(container["command"]) + list(container.get("args", []))
            if command[0] == "python":
                command[0] = sys.executable
            pod = f"{job['metadata']['name']}-worker-{index}"
            env["TMPDIR"] = pod_tmp(self.workdir, pod)
            log_path = os.path.join(self.workdir, f"{pod}.log")
            with open(log_path, "wb") as log:
                proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log,
                                        stderr=subprocess.STDOUT)
            replicas.append(_Replica(proc, log_path, pod))
        self._replicas[key] = replicas

    def _operated_status(self, key) -> Dict[str, Any]:
        replicas = self._replicas.get(key, [])
        phases = [r.phase for r in replicas]
        counts = {"active": phases.count("Running"), "succeeded": phases.count("Succeeded"),
                  "failed": phases.count("Failed")}
        kinds = ["Created", "Running"]
        message = ""
        codes = [r.proc.poll() for r in replicas]
        permanent = [i for i, c in enumerate(codes) if c is not None and 0 < c < 128]
        if permanent:
            kinds.append("Failed")
            message = f"TFJob has failed because {len(permanent)} Worker replica(s) failed."
        elif codes and codes[0] == 0:
            kinds.append("Succeeded")
            message = "TFJob successfully completed."
        return status(*kinds, message=message, **counts)

    def _reconcile(self) -> None:
        while not self._closed.wait(0.1):
            with self._lock:
                for run in self.jobsets.values():
                    run.tick()

    def _start_trainjob(self, key, job: Dict[str, Any]) -> None:
        """Trainer's reconcile of a new TrainJob: its JobSet, then JobSet's pods."""
        from tests import jobset_standin  # pylint: disable=import-outside-toplevel

        runtime = self.runtimes[(key[0], job["spec"]["runtimeRef"]["name"])]
        jobset = jobset_standin.expand(job, runtime)
        validate_jobset(jobset)
        self.jobsets[key] = jobset_standin.JobSetRun(
            jobset, f"uid-js-{len(self.jobsets)}", self._container_env, self.base_env,
            self.workdir, ROOT)

    def _container_env(self, container: Dict[str, Any], fields: Dict[str, str]):
        """A container's variables: values, Secret keys, downward-API fields."""
        env = {}
        for var in container.get("env", []):
            if "value" in var:
                env[var["name"]] = var["value"]
                continue
            source = var["valueFrom"]
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                env[var["name"]] = self.secrets[ref["name"]][ref["key"]]
            elif "fieldRef" in source:
                env[var["name"]] = fields[source["fieldRef"]["fieldPath"]]
            else:
                raise NotImplementedError(f"env {var['name']}: {sorted(source)}")
        return env

    def replica_codes(self, name: str, namespace: str = "pipelines") -> List[Optional[int]]:
        return [r.proc.poll() for r in self._replicas.get((namespace, name), [])]

    def replica_logs(self, name: str, namespace: str = "pipelines") -> List[str]:
        out = []
        for r in self._replicas.get((namespace, name), []):
            with open(r.log_path, encoding="utf-8", errors="replace") as f:
                out.append(f.read())
        return out

    def kill_pods(self, name: str, namespace: str = "pipelines") -> List[str]:
        """SIGKILLs a TrainJob's running pods (their node went away); returns their names."""
        with self._lock:
            run = self.jobsets[(namespace, name)]
            running = [p for p in run.pods() if p.code is None]
            for pod in running:
                pod.proc.kill()
            return [p.name for p in running]

    def pod_codes(self, name: str, namespace: str = "pipelines") -> Dict[str, Optional[int]]:
        """A TrainJob's pods (every attempt, in order of creation) -> exit code."""
        run = self.jobsets.get((namespace, name))
        return {p.name: p.code for p in run.pods()} if run else {}

    def pod_logs(self, name: str, namespace: str = "pipelines") -> Dict[str, str]:
        run = self.jobsets.get((namespace, name))
        out = {}
        for pod in run.pods() if run else []:
            with open(pod.log_path, encoding="utf-8", errors="replace") as f:
                out[pod.name] = f.read()
        return out

    # ---------------------------------------------------------------- API handlers
    def handle(self, method: str, path: str, query: Dict[str, str], body: Optional[dict]):
        self.requests.append(f"{method} {path}")
        for pattern, kind in ((_TFJOBS, "TFJob"), (_TRAINJOBS, "TrainJob")):
            m = pattern.match(path)
            if m:
                namespace, name = m.groups()
                with self._lock:
                    return self._jobs(kind, method, namespace, name, body)
        m = _PODS.match(path)
        if m and method == "GET":
            return 200, self._pod_list(m.group(1), query.get("labelSelector", ""))
        m = _LOG.match(path)
        if m and method == "GET":
            return self._log(m.group(1), m.group(2), query)
        return 404, _status(404, "NotFound", f"{method} {path}: not served by the stand-in")

    def _refusal(self, kind: str, body: Dict[str, Any], namespace: str) -> Optional[str]:
        """Why the API server (or an admission webhook) refuses to create `body`."""
        try:
            (validate_tfjob if kind == "TFJob" else validate_trainjob)(body)
        except jsonschema.ValidationError as e:
            where = ".".join(str(p) for p in e.absolute_path)
            return f"{kind} is invalid: {where}: {e.message}"
        if kind == "TrainJob":
            ref = body["spec"]["runtimeRef"]
            if ref.get("kind") != "TrainingRuntime" or (namespace, ref["name"]) not in \
                    self.runtimes:
                return (f'admission webhook "validator.trainjob.trainer.kubeflow.org" denied '
                        f"the request: spec.runtimeRef: Invalid value: {ref}: "
                        f'trainingruntimes.trainer.kubeflow.org "{ref["name"]}" not found: '
                        "specified trainingRuntime must be created before the TrainJob is "
                        "created")
        return None

    def _jobs(self, kind, method, namespace, name, body):
        key = (namespace, name)
        resource = "tfjobs.kubeflow.org" if kind == "TFJob" else "trainjobs.trainer.kubeflow.org"
        if method == "POST" and name is None:
            refusal = self._refusal(kind, body, namespace)
            if refusal:
                self.rejected.append(refusal)
                return 422, _status(422, "Invalid", refusal)
            if body["metadata"].get("namespace", namespace) != namespace:
                return 400, _status(400, "BadRequest", "namespace mismatch")
            key = (namespace, body["metadata"]["name"])
            if key in self.jobs:
                return 409, _status(409, "AlreadyExists", f"{resource} {key[1]} already exists")
            job = copy.deepcopy(body)
            job["metadata"].update(uid=f"uid-{len(self.created)}", creationTimestamp=_now())
            job["status"] = {}
            self.jobs[key] = job
            self.created.append(copy.deepcopy(body))
            if self.operate:
                (self._start if kind == "TFJob" else self._start_trainjob)(key, job)
            return 201, job
        if key not in self.jobs or self.jobs[key]["kind"] != kind:
            return 404, _status(404, "NotFound", f'{resource} "{name}" not found')
        if method == "GET":
            if self.fail_gets:
                self.fail_gets -= 1
                return 500, _status(500, "InternalError", "etcd leader changed")
            job = self.jobs[key]
            if self.operate and kind == "TFJob":
                job["status"] = self._operated_status(key)
            elif self.operate:
                job["status"] = self.jobsets[key].trainjob_status()
            elif self._statuses:
                job["status"] = self._statuses[min(self._gets, len(self._statuses) - 1)]
                self._gets += 1
            return 200, job
        if method == "DELETE":
            del self.jobs[key]
            self.deleted.append(name)
            for r in self._replicas.get(key, []):
                if r.proc.poll() is None:
                    r.proc.kill()
                    # Reaped here so that what the test reads after the step is settled.
                    r.proc.wait(timeout=60)
            if key in self.jobsets:
                self.jobsets[key].kill()  # the JobSet, its Jobs and pods go with it
            return 200, _status(200, "", "", status_text="Success")
        return 405, _status(405, "MethodNotAllowed", method)

    def _pod_list(self, namespace: str, selector: str) -> Dict[str, Any]:
        wanted = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
        pods = list(self._pods)
        for (ns, name), replicas in self._replicas.items():
            for index, r in enumerate(replicas):
                pods.append({"name": r.pod, "phase": r.phase, "namespace": ns, "labels": {
                    "training.kubeflow.org/job-name": name,
                    "training.kubeflow.org/replica-type": "worker",
                    "training.kubeflow.org/replica-index": str(index)}})
        with self._lock:
            for (ns, _), run in self.jobsets.items():
                pods += [{"name": p.name, "phase": p.phase, "namespace": ns,
                          "labels": p.labels, "created": p.created.strftime(
                              "%Y-%m-%dT%H:%M:%S.%fZ")} for p in run.pods()]
        items = [{"metadata": {"name": p["name"], "namespace": p.get("namespace", namespace),
                               "labels": p["labels"],
                               "creationTimestamp": p.get("created", _now())},
                  "status": {"phase": p["phase"]}}
                 for p in pods if p.get("namespace", namespace) == namespace
                 and all(p["labels"].get(k) == v for k, v in wanted.items())]
        return {"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": items}

    def _log(self, namespace, pod, query):
        text = self._logs.get(pod)
        if text is None:
            attempts = [list(self._replicas.values())]
            with self._lock:
                attempts.append([run.pods() for run in self.jobsets.values()])
            for replicas in [r for group in attempts for r in group]:
                for r in replicas:
                    if getattr(r, "pod", getattr(r, "name", None)) == pod:
                        with open(r.log_path, encoding="utf-8", errors="replace") as f:
                            stamp = _now()
                            text = "".join(f"{stamp} {line}" for line in f.readlines())
        if text is None:
            return 404, _status(404, "NotFound", f'pods "{pod}" not found')
        lines = text.splitlines()
        if str(query.get("timestamps")).lower() != "true":  # the client sends "True"
            lines = [line.partition(" ")[2] for line in lines]
        if query.get("tailLines"):
            lines = lines[-int(query["tailLines"]):]
        return 200, "\n".join(lines) + ("\n" if lines else "")


def _status(code: int, reason: str, message: str, status_text: str = "Failure"):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": status_text,
            "message": message, "reason": reason, "code": code}


class _Handler(http.server.BaseHTTPRequestHandler):
    def __init__(self, standin: StandIn, *args, **kwargs):
        self.standin = standin
        super().__init__(*args, **kwargs)

    def log_message(self, *args):  # quiet
        pass

    def _serve(self, method: str) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parsed.query))
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.standin.unauthorized += 1
            code, payload = 401, _status(401, "Unauthorized", "no token")
        else:
            code, payload = self.standin.handle(method, parsed.path, query, body)
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if isinstance(payload, str)
                         else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802
        self._serve("GET")

    def do_POST(self):  # noqa: N802
        self._serve("POST")

    def do_DELETE(self):  # noqa: N802
        self._serve("DELETE")


def serve(monkeypatch, tmp_path, **kwargs) -> StandIn:
    """A StandIn that the `kubernetes` client of this process reaches ($KUBECONFIG); the
    caller closes it."""
    standin = StandIn(**kwargs)
    monkeypatch.setenv("KUBECONFIG", standin.kubeconfig(str(tmp_path / "kubeconfig")))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return standin


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
