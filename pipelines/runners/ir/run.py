"""Walks a compiled IR's root DAG and runs each task's own command, independent tasks at
the same time (schedule()).

For each task: the driver's ExecutorInput (driver.py), the launcher's command line
(launcher.py), then the command as a subprocess with only the environment a pod of the
image would give it (image_environment() plus the IR's env and the platform spec's Secret
variables; with a kubeconfig, KUBECONFIG standing in for the pod's service account), then
the executor output file read as the launcher reads it. With an s3:// pipeline root the
launcher's copies come around the command: input artifacts downloaded to the pod's local
paths before, outputs uploaded from them after (launcher.py, objectstore.py). The
container image is a name only: commands run with this machine's Python and the
project's code.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from typing import Callable, Dict, List, Optional, Tuple

import yaml

from pipelines.runners.ir import dag as ir_dag
from pipelines.runners.ir import driver, launcher, objectstore
from trainer.runtime import object_store

# The image's own ENV lines (Dockerfile; a test keeps them in step) and the one its base
# image (python:3.10-slim) sets that programs read.
IMAGE_ENV = {"TF_USE_LEGACY_KERAS": "1", "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
# What python:3.10-slim puts on PATH after the interpreter's folder.
IMAGE_PATH = "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
# The image's WORKDIR holds pipelines/, components/ and trainer/; here, the project's
# folder holding this package stands in for it.
PROJECT_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
LOG_TAIL_LINES = 20


POD_TMP = "tmp"  # in a task's staging folder: its pod's /tmp (TMPDIR)


class IRRunError(RuntimeError):
    """A task failed (its driver, its command or its launcher); names the task."""

    def __init__(self, task: str, message: str, log_path: Optional[str] = None,
                 log_tail: str = ""):
        self.task = task
        self.log_path = log_path
        self.log_tail = log_tail  # the task log's last lines, when its command ran
        self.results: List["TaskResult"] = []  # the tasks that finished
        self.others: List["IRRunError"] = []  # tasks that failed while it ran
        self.not_run: List[str] = []  # the tasks never started
        super().__init__(f"task {task} failed: {message}")


@dataclasses.dataclass
class TaskResult:
    name: str
    exit_code: Optional[int]  # None: the command never started
    seconds: float
    log_path: Optional[str] = None
    executor_input: Optional[driver.ExecutorInput] = None
    started: float = 0.0  # seconds after the run started
    # CPU (user + system) of the task's process and the descendants it waited for: what
    # a pod would be billed, and where a task's time went (its start-up is most of it
    # for the short ones).
    cpu_seconds: float = 0.0


@dataclasses.dataclass
class RunResult:
    ir_path: str
    pipeline_name: str
    run_id: str
    run_root: str
    image: str
    tasks: List[TaskResult]
    not_run: List[str]
    produced: Dict[str, driver.Produced]


def image_environment(python: str = sys.executable) -> Dict[str, str]:
    """What a container of the image has before the IR adds anything: the image's ENV,
    PATH with the interpreter's folder first (this venv's python stands in for the
    image's), and HOME."""
    return dict(IMAGE_ENV, PATH=f"{os.path.dirname(python)}:{IMAGE_PATH}",
                HOME=os.path.expanduser("~"))


def secret_source(secrets_file: Optional[str], environ: Optional[Dict[str, str]] = None
                  ) -> driver.SecretLookup:
    """Stands in for the cluster's Secrets: `secrets_file` (YAML or JSON,
    {secret name: {key: value}}) when it holds the Secret's key, else this process's
    variable of the name the pod would get."""
    environ = os.environ if environ is None else environ
    secrets: Dict[str, Dict[str, str]] = {}
    if secrets_file:
        try:
            with open(secrets_file, encoding="utf-8") as f:
                loaded = yaml.safe_load(f) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ir_dag.IRFileError(f"{secrets_file}: cannot read the secrets file: {e}") \
                from None
        if not isinstance(loaded, dict) or not all(isinstance(v, dict)
                                                   for v in loaded.values()):
            raise ir_dag.IRFileError(f"{secrets_file}: expected {{secret name: {{key: "
                                     "value}}}}")
        secrets = {str(k): {str(kk): str(vv) for kk, vv in v.items()}
                   for k, v in loaded.items()}

    def lookup(secret: str, key: str, variable: str) -> Optional[str]:
        if key in secrets.get(secret, {}):
            return secrets[secret][key]
        return environ.get(variable)
    return lookup


def check_kubeconfig(path: str) -> str:
    """The kubeconfig standing in for the service account every pod of a run has (its
    token and the API server's address; the current context's namespace stands in for
    the pod's namespace file), made absolute, since the tasks run in the project's
    folder. Refused when missing or when the kubernetes client cannot load its current
    context (with that context's cluster and user), before anything runs."""
    # pylint: disable=import-outside-toplevel
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    where = f"--kubeconfig {path}"
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: no such file")
    try:
        # Loads the current context with its cluster and user, as the task's client will.
        config.list_kube_config_contexts(config_file=path)
    except (ConfigException, OSError, yaml.YAMLError, TypeError, AttributeError) as e:
        problem = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{where}: not a kubeconfig the kubernetes client reads: "
                         f"{problem}") from None
    return os.path.abspath(path)


def check_pipeline_root(root: str) -> str:
    """A local folder (made absolute) or an s3:// root (its bucket as the launcher's
    objectstore.ParseBucketConfig reads it). gs:// and minio:// roots, which the backend
    takes too, have no bucket here."""
    if not root:
        raise ValueError("the IR names no pipeline root; pass --pipeline-root")
    if "://" not in root:
        return os.path.abspath(root)
    try:
        objectstore.parse_bucket_config(root)
    except objectstore.ObjectStoreError as e:
        raise ValueError(f"pipeline root {root}: {e}") from None
    if not root.startswith(objectstore.OPENED_SCHEMES):
        raise ValueError(f"pipeline root {root}: only s3:// object stores (or a local "
                         "folder) are run here")
    return root


def default_parallelism() -> int:
    """The cores this process may use: every task is a Python process importing
    TensorFlow, so more at once than cores only makes each slower."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _tail(path: str, lines: int = LOG_TAIL_LINES) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


class _Run:
    """One run's driver and launcher state. Tasks run in threads (one subprocess each);
    what they share (the outputs recorded so far, the artifact ids) is read and written
    under a lock."""

    def __init__(self, ir: ir_dag.IR, ctx: driver.RunContext, mounts: str,
                 secrets: driver.SecretLookup, base_env: Dict[str, str],
                 bucket: Optional[objectstore.Bucket]):
        self.ir = ir
        self.ctx = ctx
        self.mounts = mounts
        self.secrets = secrets
        self.base_env = base_env
        self.bucket = bucket  # None: a local pipeline root, nothing to copy
        self.produced: Dict[str, driver.Produced] = {}
        self.next_artifact_id = 1
        self.started = time.monotonic()
        self.lock = threading.Lock()

    def staging(self, task: ir_dag.Task) -> str:
        """Where this task's pod has its /s3, /gcs and /minio folders: one per task, as
        each pod has its own file system."""
        return os.path.join(self.mounts, task.name)

    def _prepare(self, task: ir_dag.Task):
        """The driver's part: ExecutorInput, environment and the pod's command line."""
        with self.lock:
            inputs = driver.resolve_inputs(task.spec, task.component, self.ctx, task.name,
                                           self.produced)
        executor_input = driver.ExecutorInput(inputs=inputs)
        executor_input.outputs.CopyFrom(driver.provision_outputs(
            self.ctx, task.name, task.component.output_definitions, str(uuid.uuid4()),
            self.staging(task)))
        env = dict(self.base_env)
        env.update(driver.pod_environment(task.container, task.kubernetes, self.secrets))
        command = (driver.resolve_container_args(list(task.container.command), executor_input)
                   + driver.resolve_container_args(list(task.container.args), executor_input))
        return executor_input, env, command

    def run_task(self, task: ir_dag.Task, echo: Callable[[str], None]) -> TaskResult:
        start = time.monotonic()
        staging = self.staging(task)
        try:
            executor_input, env, command = self._prepare(task)
            with_defaults = launcher.add_default_params(executor_input, task.component)
            argv = launcher.compile_cmd_and_args(with_defaults, command, staging)
            left = launcher.unfilled_placeholders(
                argv, launcher.executor_input_json(with_defaults))
            if left:
                raise launcher.LauncherError(
                    f"placeholders nothing fills: {', '.join(sorted(set(left)))}")
            if self.bucket is not None:
                launcher.download_artifacts(executor_input, self.bucket, staging)
            launcher.prepare_output_folders(executor_input, staging)
        except (driver.DriverError, launcher.LauncherError) as e:
            raise IRRunError(task.name, str(e)) from e
        log_path = self._log_path(executor_input, staging)
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        shown = " ".join(a if len(a) <= 40 else a[:37] + "..." for a in argv[:3])
        echo(f"  {task.name}: running {shown} ... (log {log_path})")
        # Stands in for the pod's own /tmp, which ends with the pod: what the task's
        # libraries leave there (AutoGraph's modules, tensorflow-io's S3 buffers) goes
        # with it instead of into this machine's /tmp.
        pod_tmp = os.path.join(staging, POD_TMP)
        os.makedirs(pod_tmp, exist_ok=True)
        try:
            with open(log_path, "wb") as log:
                code, cpu = run_process(argv, env=dict(env, TMPDIR=pod_tmp), cwd=PROJECT_DIR,
                                        stdout=log)
        finally:
            shutil.rmtree(pod_tmp, ignore_errors=True)
        result = TaskResult(task.name, code, time.monotonic() - start, log_path,
                            executor_input, started=start - self.started, cpu_seconds=cpu)
        if code != 0:
            if self.bucket is not None:  # executeV2 still uploads the log; errors ignored
                try:
                    launcher.upload_output_artifacts(
                        launcher.merged_outputs(executor_input, launcher.ExecutorOutput()),
                        self.bucket, staging, succeeded=False)
                except launcher.LauncherError:
                    pass
            raise IRRunError(task.name, f"exit status {code}", log_path, _tail(log_path))
        try:
            output = launcher.read_executor_output(executor_input.outputs.output_file)
            launcher.collect_output_parameters(executor_input, output, task.component)
            merged = launcher.merged_outputs(executor_input, output)
            if self.bucket is not None:
                merged = launcher.upload_output_artifacts(merged, self.bucket, staging,
                                                          succeeded=True)
        except launcher.LauncherError as e:
            raise IRRunError(task.name, str(e), log_path) from e
        with self.lock:
            artifacts = {}
            for name, artifact in merged.items():
                artifacts[name] = launcher.recorded_artifact(artifact, self.next_artifact_id)
                self.next_artifact_id += 1
            self.produced[task.name] = driver.Produced(artifacts,
                                                       dict(output.parameter_values))
        result.seconds = time.monotonic() - start
        return result

    @staticmethod
    def _log_path(executor_input: driver.ExecutorInput, staging: str) -> str:
        """getLogWriter's file: the executor-logs artifact's local path; without published
        logs (the launcher writes to its stdout only), one beside the output file."""
        logs = executor_input.outputs.artifacts.get(driver.EXECUTOR_LOGS)
        if logs is not None and logs.artifacts:
            return driver.local_path_for_uri(logs.artifacts[0].uri, staging)
        return os.path.join(os.path.dirname(executor_input.outputs.output_file),
                            "executor.log")


def run_process(argv: List[str], env: Dict[str, str], cwd: str, stdout) -> Tuple[int, float]:
    """Runs `argv` to its end (stdin empty, stderr into `stdout`); its exit code (negative:
    the signal that ended it) and its CPU seconds, user + system, its waited-for
    descendants included (wait4's rusage; subprocess.run keeps none)."""
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=subprocess.STDOUT)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
    return proc.returncode, usage.ru_utime + usage.ru_stime


def _run_task_safely(state: _Run, task: ir_dag.Task, echo: Callable[[str], None]
                     ) -> TaskResult:
    """run_task with any other error of its thread (a full disk, say) as its failure."""
    try:
        return state.run_task(task, echo)
    except IRRunError:
        raise
    except Exception as e:  # pylint: disable=broad-except
        raise IRRunError(task.name, f"{type(e).__name__}: {e}") from e


def schedule(ir: ir_dag.IR, order: List[str], state: _Run, parallelism: int,
             echo: Callable[[str], None]) -> List[TaskResult]:
    """Runs the tasks as the DAG allows: a task starts once every task it waits for
    (dag.upstream, the Argo task's dependencies) finished, at most `parallelism` at a
    time, ready tasks in `order`. After a failure, as Argo's DAG template with its
    default failFast (KFP 2.17's `backend/src/v2/compiler/argocompiler` sets none): no
    new task starts, the running ones finish, and the first failure is raised (with any
    other that failed meanwhile)."""
    waits = {name: set(ir_dag.upstream(ir.tasks[name].spec)) for name in order}
    finished: Dict[str, TaskResult] = {}
    started: List[str] = []
    running: Dict[concurrent.futures.Future, str] = {}
    failures: List[IRRunError] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=parallelism,
                                               thread_name_prefix="ir-task") as pool:
        while True:
            if not failures:
                for name in order:
                    if len(running) >= parallelism:
                        break
                    if name not in started and waits[name] <= set(finished):
                        started.append(name)
                        running[pool.submit(_run_task_safely, state, ir.tasks[name],
                                            echo)] = name
            if not running:
                break
            done, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: started.index(running[f])):
                name = running.pop(future)
                try:
                    finished[name] = future.result()
                except IRRunError as e:
                    failures.append(e)
                    continue
                done_task = finished[name]
                echo(f"  {name}: exit 0 in {done_task.seconds:.1f} s "
                     f"({done_task.cpu_seconds:.1f} s of CPU)")
    results = [finished[name] for name in order if name in finished]
    if failures:
        first = failures[0]
        first.results = results
        first.others = failures[1:]
        first.not_run = [name for name in order if name not in started]
        raise first
    return results


def new_run_id() -> str:
    return str(uuid.uuid4())


def _exists(root: str, bucket: Optional[objectstore.Bucket]) -> bool:
    if bucket is None:
        return os.path.exists(root)
    return bool(bucket.list(bucket.config.key_from_uri(root) + "/"))


def run_context(ir: ir_dag.IR, root: str, run_id: str, publish_logs: bool = True
                ) -> driver.RunContext:
    """What the root DAG driver knows of a new run: its root under the pipeline root
    (pipeline_run_root), its creation time and the IR's parameter defaults."""
    return driver.RunContext(
        pipeline_name=ir.pipeline_name, run_id=run_id,
        run_root=driver.pipeline_run_root(root, ir.pipeline_name, run_id),
        run_display_name=run_id,
        create_time_utc=datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        parameters={n: s.default_value for n, s in
                    ir.spec.root.input_definitions.parameters.items()
                    if s.HasField("default_value")},
        publish_logs=publish_logs)


def run_ir(path: str, pipeline_root: Optional[str] = None, run_id: Optional[str] = None,
           secrets_file: Optional[str] = None, publish_logs: bool = True,
           echo: Callable[[str], None] = print, python: str = sys.executable,
           environ: Optional[Dict[str, str]] = None, parallelism: Optional[int] = None,
           local_mounts: Optional[str] = None, kubeconfig: Optional[str] = None
           ) -> RunResult:
    """Runs the IR at `path`; raises IRRunError naming the first task that fails (no task
    starts after it; the running ones finish).

    `kubeconfig` (check_kubeconfig) reaches every task as KUBECONFIG: on a cluster each
    pod has its service account's credentials (a Trainer step that submits a TFJob or
    TrainJob uses them, components/k8s_job.py default_api_client).

    With an s3:// root the launcher's bucket is opened with this shell's S3 settings
    (trainer.runtime.object_store), its bucket checked before anything runs, and the
    pods' local folders are `local_mounts` (default: a new temporary folder, removed
    after a run where every task exited 0)."""
    ir = ir_dag.load(path)
    order = ir_dag.order(ir)
    root = check_pipeline_root(pipeline_root or ir.default_pipeline_root or "")
    run_id = run_id or new_run_id()
    parallelism = parallelism or default_parallelism()
    if parallelism < 1:
        raise ValueError(f"--parallelism {parallelism}: must be at least 1")
    base_env = image_environment(python)
    if kubeconfig is not None:
        base_env["KUBECONFIG"] = check_kubeconfig(kubeconfig)
    for name, spec in ir.spec.root.input_definitions.parameters.items():
        if not spec.HasField("default_value") and not spec.is_optional:
            raise ir_dag.IRFileError(f"{path}: pipeline parameter {name} has no default "
                                     "and this local driver takes no run parameters")
    ctx = run_context(ir, root, run_id, publish_logs)
    bucket = None
    if "://" in root:
        object_store.check_bucket(root)  # FileNotFoundError naming the bucket
        bucket = objectstore.open_bucket(objectstore.parse_bucket_config(root))
    if _exists(ctx.run_root, bucket):
        raise ValueError(f"run {run_id}: {ctx.run_root} exists already; choose another "
                         "--run-id")
    temporary = bucket is not None and not local_mounts
    if bucket is None:
        os.makedirs(ctx.run_root)
        # Stands in for the pods' /gcs, /s3 and /minio mounts (unused with a local root).
        mounts = local_mounts or os.path.join(ctx.run_root, ".local-mounts")
    else:
        mounts = local_mounts or tempfile.mkdtemp(prefix=f"run-ir-{run_id}-")
    mounts = os.path.abspath(mounts)
    image = _image(ir)
    echo(f"IR run {run_id} of {ir.pipeline_name} from {path}: a local driver following "
         "KFP 2.17's rules, not Kubeflow")
    echo(f"  run root {ctx.run_root}; commands run with {python} instead of the image "
         f"{image}; up to {parallelism} at a time")
    if bucket is not None:
        echo(f"  the pods' /s3 folders: {mounts}/<task>/s3")
    if kubeconfig is not None:
        echo(f"  the pods' service account: {base_env['KUBECONFIG']}")
    state = _Run(ir, ctx, mounts, secret_source(secrets_file, environ), base_env, bucket)
    results = schedule(ir, order, state, parallelism, echo)
    if temporary:
        shutil.rmtree(mounts, ignore_errors=True)
    return RunResult(path, ir.pipeline_name, run_id, ctx.run_root, image, results, [],
                     state.produced)


def _image(ir: ir_dag.IR) -> str:
    images = sorted({t.container.image for t in ir.tasks.values()})
    return ", ".join(images)


def format_summary(result: RunResult) -> str:
    width = max(len(t.name) for t in result.tasks) if result.tasks else 4
    lines = [f"IR run {result.run_id} of {result.pipeline_name}: {len(result.tasks)} "
             f"task(s), every one exited 0",
             f"  {'task'.ljust(width)}  exit   start  seconds  cpu s"]
    for t in result.tasks:
        lines.append(f"  {t.name.ljust(width)}  {t.exit_code:>4}  {t.started:6.1f}  "
                     f"{t.seconds:7.1f}  {t.cpu_seconds:5.1f}")
    cpu = sum(t.cpu_seconds for t in result.tasks)
    lines.append(f"  {cpu:.1f} s of CPU in the tasks' processes, "
                 f"{cpu / max(len(result.tasks), 1):.1f} s per task")
    lines.append(f"  outputs under {result.run_root}")
    return "\n".join(lines)
