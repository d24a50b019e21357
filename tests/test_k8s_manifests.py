"""k8s/: every local kustomization renders with `kubectl kustomize` and validates.

Core objects are validated in strict mode (unknown fields rejected) against the
Kubernetes JSON schemas shipped with kubernetes-validate, for every version in
KUBERNETES_VERSIONS. k8s/training holds RBAC and the TrainingRuntime of the TrainJob
backend (validated against Kubeflow Trainer's CRD; the TFJobs and TrainJobs are built at
run time by components/tfjob.py and components/trainjob.py and validated against their
CRDs in tests/components/test_tfjob.py and test_trainjob.py); its Role is checked against
the API calls the job clients really make. k8s/kfp references
remote bases (no network here): its own patch files are parsed and checked against what
the pinned KFP release reads.
"""
import copy
import functools
import os
import re
import shutil
import subprocess

import kubernetes_validate
import pytest
import yaml

from trainer.serving import model_config as sc

from tests.paths import REPO
K8S = os.path.join(REPO, "k8s")
# Kubernetes minor versions the manifests are validated against (stated in k8s/README.md).
KUBERNETES_VERSIONS = tuple(f"1.{minor}" for minor in range(30, 38))
NAMESPACE = "classics"
TRAINING_NAMESPACE = "kubeflow"
PART_OF = ("app.kubernetes.io/part-of", "tfx-classics")
SERVING_OVERLAYS = {"overlays/cpu": "tensorflow/serving:2.16.1",
                    "overlays/gpu": "tensorflow/serving:2.16.1-gpu"}
# Model repositories on object storage (the Pusher's --serving-root on Kubeflow): s3://
# mirrored by a sidecar into an emptyDir, gs:// read by TF Serving itself. Both build on
# overlays/cpu; the serving tests run on them too.
STORAGE_OVERLAYS = {"overlays/gcs": "tensorflow/serving:2.16.1",
                    "overlays/s3": "tensorflow/serving:2.16.1"}
ALL_SERVING = {**SERVING_OVERLAYS, **STORAGE_OVERLAYS}
SIDECARS = {"overlays/s3": ["model-sync"]}
# Not in the core schemas; TFJobs are validated against their CRD in tests/components/test_tfjob.py.
CRDS = {("kubeflow.org/v1", "TFJob"), ("trainer.kubeflow.org/v1alpha1", "TrainingRuntime")}
KFP_VERSION = "2.17.0"
KFP_REMOTE_BASES = [
    f"github.com/kubeflow/pipelines/manifests/kustomize/cluster-scoped-resources?ref={KFP_VERSION}",
    f"github.com/kubeflow/pipelines/manifests/kustomize/env/platform-agnostic?ref={KFP_VERSION}",
]
_REMOTE = re.compile(r"^(https?://|git@|github\.com/)|\?ref=")


@pytest.fixture(scope="module", autouse=True)
def _cached_schemas():
    """kubernetes-validate re-reads its JSON schema files on every call; read each once."""
    utils = getattr(kubernetes_validate, "utils", None)
    if utils is None or not hasattr(utils, "schema_contents"):
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(utils, "schema_contents",
                      functools.lru_cache(maxsize=None)(utils.schema_contents))
        yield


def _load_kustomization(rel_dir):
    with open(os.path.join(K8S, rel_dir, "kustomization.yaml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def _is_remote(rel_dir):
    return any(_REMOTE.search(r) for r in _load_kustomization(rel_dir).get("resources", []))


def _kustomization_dirs():
    found = []
    for folder, _, files in os.walk(K8S):
        if "kustomization.yaml" in files:
            found.append(os.path.relpath(folder, K8S).replace(os.sep, "/"))
    return sorted(found)


LOCAL_DIRS = [d for d in _kustomization_dirs() if not _is_remote(d)]


KUBECTL_MISSING = ("kubectl is not installed: `kubectl kustomize` renders the manifests, "
                   "so they are not checked at all. Install kubectl >= 1.27 (it bundles "
                   "kustomize v5), e.g. https://kubernetes.io/docs/tasks/tools/")


def test_kubectl_is_installed():
    # Without kubectl the rendering tests below skip; this one fails so that the suite
    # cannot pass with the manifests unchecked.
    assert shutil.which("kubectl"), KUBECTL_MISSING


def _kubectl():
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip(f"{KUBECTL_MISSING} (test_kubectl_is_installed fails for this)")
    return path


@functools.lru_cache(maxsize=None)
def _render_path(path):
    result = subprocess.run([_kubectl(), "kustomize", path], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, f"kubectl kustomize {path} failed:\n{result.stderr}"
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(rel_dir):
    return copy.deepcopy(list(_render_path(os.path.join(K8S, rel_dir))))


def one(docs, kind, name=None):
    matches = [d for d in docs if d["kind"] == kind
               and (name is None or d["metadata"]["name"] == name)]
    assert len(matches) == 1, f"expected one {kind} {name or ''}, found {len(matches)}"
    return matches[0]


def validate_core(obj):
    for version in KUBERNETES_VERSIONS:
        error = None
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            error = f"at {'.'.join(str(p) for p in e.path)}: {e.message}"
        if error:
            pytest.fail(f"{obj['kind']}/{obj['metadata'].get('name')} is invalid for "
                        f"Kubernetes {version} {error}")


def _quantity(value):
    """Kubernetes quantity -> float, for the forms used here (cores, millicores, counts)."""
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


# ----------------------------------------------------------------------------- coverage

def test_kustomization_layout():
    assert LOCAL_DIRS == ["base", "base/namespace", "base/serving", "overlays/cpu",
                          "overlays/gcs", "overlays/gpu", "overlays/s3", "schedule",
                          "training"]
    assert [d for d in _kustomization_dirs() if d not in LOCAL_DIRS] == ["kfp"]


def test_kubernetes_validate_ships_the_stated_versions():
    assert kubernetes_validate.latest_version() >= KUBERNETES_VERSIONS[-1]
    for version in KUBERNETES_VERSIONS:  # a version without schemas raises here
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}},
            version, strict=True)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}, "spc": {}},
            KUBERNETES_VERSIONS[0], strict=True)


def test_readme_states_what_was_validated():
    with open(os.path.join(K8S, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert f"{KUBERNETES_VERSIONS[0]} to {KUBERNETES_VERSIONS[-1]}" in readme
    assert "kubectl kustomize k8s/overlays/cpu" in readme
    assert "Not run here" in readme


# ------------------------------------------------------------------- render + validate

@pytest.mark.parametrize("rel_dir", LOCAL_DIRS)
def test_renders_and_validates(rel_dir):
    docs = render(rel_dir)
    assert docs, f"{rel_dir} rendered nothing"
    # base/namespace and base/serving are components: the label and the namespace
    # are set by the kustomizations that include them.
    complete = rel_dir not in ("base/namespace", "base/serving")
    for obj in docs:
        key = (obj["apiVersion"], obj["kind"])
        name = obj["metadata"]["name"]
        if complete:
            assert obj["metadata"].get("labels", {}).get(PART_OF[0]) == PART_OF[1], \
                f"{key} {name} lacks the common label"
        if obj["kind"] == "Namespace":
            assert name == NAMESPACE
        elif complete:
            # Training RBAC lives where KFP runs the pipeline's pods (and so the TFJobs).
            expected = TRAINING_NAMESPACE if rel_dir == "training" else NAMESPACE
            assert obj["metadata"].get("namespace") == expected, f"{key} {name}"
        if key == ("trainer.kubeflow.org/v1alpha1", "TrainingRuntime"):
            from tests import k8s_standin
            k8s_standin.validate_training_runtime(obj)
        if key in CRDS:
            continue  # validated against its CRD
        missing = None
        try:
            validate_core(obj)
        except kubernetes_validate.SchemaNotFoundError as e:
            missing = e.message
        if missing:
            pytest.fail(f"{missing}: add {key} to CRDS with explicit checks")


def test_overlays_contain_the_serving_stack():
    for overlay in SERVING_OVERLAYS:
        kinds = sorted(d["kind"] for d in render(overlay))
        assert kinds == ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Namespace",
                         "PersistentVolumeClaim", "Service"], overlay


# ------------------------------------------------------------------------------ serving

def _serving(overlay):
    docs = render(overlay)
    deployment = one(docs, "Deployment", "tf-serving")
    pod = deployment["spec"]["template"]["spec"]
    assert sorted(c["name"] for c in pod["containers"]) == sorted(
        ["tf-serving"] + SIDECARS.get(overlay, []))
    (container,) = [c for c in pod["containers"] if c["name"] == "tf-serving"]
    return docs, deployment, pod, container


def _flags(container):
    flags = {}
    for arg in container["args"]:
        assert arg.startswith("--"), arg
        name, _, value = arg[2:].partition("=")
        assert name not in flags, f"--{name} given twice"
        flags[name] = value
    return flags


def _config_map_files(docs, pod):
    """The ConfigMap the `config` volume mounts: (mount path, {file: content})."""
    (volume,) = [v for v in pod["volumes"] if v["name"] == "config"]
    config_map = one(docs, "ConfigMap", volume["configMap"]["name"])
    assert re.fullmatch(r"tf-serving-config-[a-z0-9]{10}", config_map["metadata"]["name"]), \
        "the ConfigMap must come from the kustomize generator (hash-suffixed name)"
    (server,) = [c for c in pod["containers"] if c["name"] == "tf-serving"]
    mounts = [m for m in server["volumeMounts"] if m["name"] == "config"]
    assert len(mounts) == 1 and "subPath" not in mounts[0]
    return mounts[0]["mountPath"], config_map["data"]


@pytest.mark.parametrize("overlay", sorted(ALL_SERVING))
def test_serving_container(overlay):
    docs, deployment, pod, container = _serving(overlay)
    assert container["image"] == ALL_SERVING[overlay]
    assert container["command"] == ["/usr/bin/tensorflow_model_server"]
    flags = _flags(container)
    assert flags["port"] == "8500" and flags["rest_api_port"] == "8501"
    assert "enable_batching" in flags
    assert int(flags["model_config_file_poll_wait_seconds"]) > 0
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 8500, "rest": 8501}
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


@pytest.mark.parametrize("overlay", sorted(ALL_SERVING))
def test_serving_config_files_are_mounted_and_valid(overlay):
    docs, _, pod, container = _serving(overlay)
    mount_path, files = _config_map_files(docs, pod)
    flags = _flags(container)
    for flag, validate in (("model_config_file", sc.parse_models_config),
                           ("batching_parameters_file", sc.validate_batching_config),
                           ("monitoring_config_file", sc.parse_monitoring_config)):
        folder, _, file_name = flags[flag].rpartition("/")
        assert folder == mount_path, f"--{flag} must point into the ConfigMap mount"
        assert file_name in files, f"--{flag}: {file_name} is not in the ConfigMap"
        validate(files[file_name])
    expected = sc.default_serving_files()
    models_source = ("k8s/overlays/gcs/models.config" if overlay == "overlays/gcs"
                     else "k8s/base/serving/models.config")
    assert files["models.config"] == expected[models_source]
    for model in sc.parse_models_config(files["models.config"]).model_config_list.config:
        sc.validate_model_root(model.base_path)  # a base path TF Serving can read
    batching_source = ("k8s/overlays/gpu/batching.config" if overlay == "overlays/gpu"
                       else "k8s/base/serving/batching.config")
    assert files["batching.config"] == expected[batching_source]


@pytest.mark.parametrize("overlay", sorted(ALL_SERVING))
def test_serving_probes(overlay):
    docs, _, pod, container = _serving(overlay)
    _, files = _config_map_files(docs, pod)
    served = [m.name for m in sc.parse_models_config(files["models.config"])
              .model_config_list.config]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}

    readiness = container["readinessProbe"]["httpGet"]
    match = re.fullmatch(r"/v1/models/([^/]+)/metadata", readiness["path"])
    assert match, "readiness must GET /v1/models/<name>/metadata (/v1/models/<name> is " \
                  f"200 while LOADING), got {readiness['path']}"
    assert match.group(1) in served
    assert ports.get(readiness["port"], readiness["port"]) == 8501

    liveness = container["livenessProbe"]
    if "tcpSocket" in liveness:
        assert ports.get(liveness["tcpSocket"]["port"], liveness["tcpSocket"]["port"]) == 8500
    else:
        assert ports.get(liveness["httpGet"]["port"], liveness["httpGet"]["port"]) == 8501
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300


@pytest.mark.parametrize("overlay", sorted(SERVING_OVERLAYS))
def test_model_repository_volume(overlay):
    docs, _, pod, container = _serving(overlay)
    mounts = [m for m in container["volumeMounts"] if m["mountPath"] == sc.CONTAINER_MODEL_ROOT]
    assert len(mounts) == 1 and mounts[0]["readOnly"] is True
    volume = [v for v in pod["volumes"] if v["name"] == mounts[0]["name"]][0]
    claim = volume["persistentVolumeClaim"]
    assert claim["readOnly"] is True
    pvc = one(docs, "PersistentVolumeClaim", claim["claimName"])
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    _, files = _config_map_files(docs, pod)
    for model in sc.parse_models_config(files["models.config"]).model_config_list.config:
        assert model.base_path == f"{sc.CONTAINER_MODEL_ROOT}/{model.name}"


@pytest.mark.parametrize("overlay", sorted(ALL_SERVING))
def test_serving_security_context(overlay):
    _, _, pod, container = _serving(overlay)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    tmp = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert tmp and "emptyDir" in [v for v in pod["volumes"] if v["name"] == tmp[0]["name"]][0]


@pytest.mark.parametrize("overlay, cores", [("overlays/cpu", sc.CPU_SERVING_CORES),
                                            ("overlays/gpu", sc.GPU_SERVING_HOST_CORES),
                                            ("overlays/gcs", sc.CPU_SERVING_CORES),
                                            ("overlays/s3", sc.CPU_SERVING_CORES)])
def test_serving_resources_match_batching_threads(overlay, cores):
    docs, _, pod, container = _serving(overlay)
    resources = container["resources"]
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[section]), section
    assert _quantity(resources["limits"]["cpu"]) == cores
    assert _quantity(resources["requests"]["cpu"]) <= cores
    _, files = _config_map_files(docs, pod)
    assert sc.validate_batching_config(files["batching.config"])["num_batch_threads"] == cores
    flags = _flags(container)
    assert int(flags["tensorflow_intra_op_parallelism"]) == cores
    assert int(flags["tensorflow_inter_op_parallelism"]) == cores


def test_gpu_overlay_requests_a_gpu():
    _, _, pod, container = _serving("overlays/gpu")
    assert str(container["resources"]["limits"]["nvidia.com/gpu"]) == "1"
    assert str(container["resources"]["requests"]["nvidia.com/gpu"]) == "1"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in \
        pod["tolerations"]
    values = sc.validate_batching_config(_config_map_files(render("overlays/gpu"), pod)[1]
                                         ["batching.config"])
    assert values["batch_timeout_micros"] > 0 and values.get("allowed_batch_sizes")

    _, _, cpu_pod, cpu_container = _serving("overlays/cpu")
    assert "nvidia.com/gpu" not in cpu_container["resources"]["limits"]
    assert "tolerations" not in cpu_pod
    assert "nodeSelector" not in pod and "nodeSelector" not in cpu_pod


@pytest.mark.parametrize("overlay", sorted(ALL_SERVING))
def test_service(overlay):
    docs, deployment, _, container = _serving(overlay)
    service = one(docs, "Service", "tf-serving")
    assert service["spec"]["type"] == "ClusterIP"
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = service["spec"]["selector"]
    assert selector and all(pod_labels.get(k) == v for k, v in selector.items())
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    by_port = {p["port"]: p for p in service["spec"]["ports"]}
    assert set(by_port) == {8500, 8501}
    for port, target in ((8500, "grpc"), (8501, "rest")):
        assert container_ports[by_port[port]["targetPort"]] == port
        assert by_port[port]["name"] == target


@pytest.mark.parametrize("overlay", sorted(ALL_SERVING))
def test_hpa(overlay):
    docs, deployment, _, container = _serving(overlay)
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource" and metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100
    assert "cpu" in container["resources"]["requests"], "CPU utilisation needs a cpu request"


# ----------------------------------------------------------- model repository on S3/GCS

def test_storage_overlays_need_no_claim():
    # s3: the sidecar's ConfigMap comes on top; gcs: the service account reading the bucket.
    for overlay, extra in (("overlays/s3", ["ConfigMap"]),
                           ("overlays/gcs", ["ServiceAccount"])):
        kinds = sorted(d["kind"] for d in render(overlay))
        assert kinds == sorted(["ConfigMap", "Deployment", "Namespace",
                                "HorizontalPodAutoscaler", "Service"] + extra), overlay
        _, _, pod, _ = _serving(overlay)
        assert not [v for v in pod["volumes"] if "persistentVolumeClaim" in v], overlay


def _sync_container(pod):
    (sync,) = [c for c in pod["containers"] if c["name"] == "model-sync"]
    return sync


def _container_env(docs, container):
    """The container's environment as Kubernetes builds it: ConfigMap values resolved,
    Secret references kept as ("secret", name, key)."""
    env = {}
    for source in container.get("envFrom", []):
        env.update(one(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    for var in container.get("env", []):
        ref = var.get("valueFrom", {}).get("secretKeyRef")
        env[var["name"]] = ("secret", ref["name"], ref["key"]) if ref else var["value"]
    return env


def test_s3_overlay_syncs_complete_versions_into_a_shared_empty_dir():
    from pipelines.runners import kubeflow as kubeflow_runner
    from trainer.runtime import object_store
    from trainer.serving import model_sync

    docs, deployment, pod, server = _serving("overlays/s3")
    sync = _sync_container(pod)
    assert sync["image"] == "tfx-classics:latest"  # the pipeline image (Dockerfile)
    assert sync["command"] == ["python", "-m", "trainer.serving.model_sync"]
    env = _container_env(docs, sync)
    # Kubernetes expands $(VAR) in args from the container's environment.
    args = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], a) for a in sync["args"]]
    parsed = model_sync.build_parser().parse_args(args)
    assert parsed.dest == sc.CONTAINER_MODEL_ROOT and parsed.interval > 0
    # By default it mirrors what `classics compile` pushes to, on the k8s/kfp install.
    assert parsed.source == kubeflow_runner.KubeflowSettings().serving_root
    assert object_store.is_s3(parsed.source)
    settings = object_store.S3Settings.from_env(
        {k: v for k, v in env.items() if isinstance(v, str)})
    assert settings.endpoint_url == "http://seaweedfs.kubeflow:9000"
    # Keys from the Secret KFP ships (copied into this namespace), never literals.
    secret = kubeflow_runner.DEFAULT_SECRET_KEYS
    assert env["AWS_ACCESS_KEY_ID"] == ("secret", "mlpipeline-minio-artifact",
                                        [k for k, v in secret.items()
                                         if v == "AWS_ACCESS_KEY_ID"][0])
    assert env["AWS_SECRET_ACCESS_KEY"] == ("secret", "mlpipeline-minio-artifact",
                                            [k for k, v in secret.items()
                                             if v == "AWS_SECRET_ACCESS_KEY"][0])

    # One emptyDir: the sidecar writes it, TF Serving reads it read-only at /models.
    server_mount = [m for m in server["volumeMounts"]
                    if m["mountPath"] == sc.CONTAINER_MODEL_ROOT]
    sync_mount = [m for m in sync["volumeMounts"] if m["mountPath"] == parsed.dest]
    assert len(server_mount) == 1 and server_mount[0]["readOnly"] is True
    assert len(sync_mount) == 1 and not sync_mount[0].get("readOnly")
    assert server_mount[0]["name"] == sync_mount[0]["name"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == sync_mount[0]["name"]]
    assert set(volume) == {"name", "emptyDir"}
    _, files = _config_map_files(docs, pod)
    for model in sc.parse_models_config(files["models.config"]).model_config_list.config:
        assert model.base_path == f"{parsed.dest}/{model.name}"

    security = sync["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert [m for m in sync["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert {"cpu", "memory"} <= set(sync["resources"]["limits"])
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["kubectl.kubernetes.io/default-container"] == "tf-serving"


def test_gcs_overlay_serves_straight_from_the_bucket():
    docs, _, pod, server = _serving("overlays/gcs")
    assert not [m for m in server["volumeMounts"] if m["mountPath"] == sc.CONTAINER_MODEL_ROOT]
    assert {v["name"] for v in pod["volumes"]} == {"config", "tmp"}
    _, files = _config_map_files(docs, pod)
    for model in sc.parse_models_config(files["models.config"]).model_config_list.config:
        assert model.base_path == f"{sc.GCS_MODEL_ROOT}/{model.name}"
    assert pod["serviceAccountName"] == "tf-serving"
    one(docs, "ServiceAccount", "tf-serving")


# ----------------------------------------------------------------------- training RBAC

# RBAC (verb, resource) of each request path the kubernetes client sends.
_RBAC_OF_REQUEST = [
    (re.compile(r"^POST /apis/kubeflow\.org/v1/namespaces/[^/]+/tfjobs$"), ("create", "tfjobs")),
    (re.compile(r"^GET /apis/kubeflow\.org/v1/namespaces/[^/]+/tfjobs/[^/]+$"), ("get", "tfjobs")),
    (re.compile(r"^DELETE /apis/kubeflow\.org/v1/namespaces/[^/]+/tfjobs/[^/]+$"),
     ("delete", "tfjobs")),
    (re.compile(r"^POST /apis/trainer\.kubeflow\.org/v1alpha1/namespaces/[^/]+/trainjobs$"),
     ("create", "trainjobs")),
    (re.compile(r"^GET /apis/trainer\.kubeflow\.org/v1alpha1/namespaces/[^/]+/trainjobs/[^/]+$"),
     ("get", "trainjobs")),
    (re.compile(
        r"^DELETE /apis/trainer\.kubeflow\.org/v1alpha1/namespaces/[^/]+/trainjobs/[^/]+$"),
     ("delete", "trainjobs")),
    (re.compile(r"^GET /api/v1/namespaces/[^/]+/pods$"), ("list", "pods")),
    (re.compile(r"^GET /api/v1/namespaces/[^/]+/pods/[^/]+/log$"), ("get", "pods/log")),
]


def _granted(role):
    return {(verb, resource) for rule in role["rules"] for verb in rule["verbs"]
            for resource in rule["resources"]}


def _requests_of_a_failed_job(tmp_path, backend: str):
    """Every API request of a submitted, followed, failed and deleted job of `backend`,
    as the stand-in API saw them."""
    from kubernetes import client as k8s, config

    from components import tfjob, tfjob_trainer
    from tests import k8s_standin
    from tests.tfjob_fixtures import shipped_runtime

    chosen = tfjob_trainer.BACKENDS[backend]
    api = k8s_standin.StandIn(runtimes=[shipped_runtime(TRAINING_NAMESPACE)])
    try:
        labels = {tfjob.JOB_NAME_LABEL: "trainer-x-1", tfjob.REPLICA_TYPE_LABEL: "worker",
                  tfjob.REPLICA_INDEX_LABEL: "0", "jobset.sigs.k8s.io/jobset-name": "trainer-x-1",
                  "jobset.sigs.k8s.io/replicatedjob-name": "node",
                  "batch.kubernetes.io/job-completion-index": "0"}
        failed = {"type": "Failed", "status": "True", "reason": "FailJobSetFailurePolicyAction",
                  "message": "applying FailJobSet failure policy action"}
        api.script([{"conditions": [failed]}], pods=[{
            "name": "j-worker-0", "phase": "Failed", "labels": labels}],
            logs={"j-worker-0": "2026-01-01T00:00:00Z x\n"})
        configuration = k8s.Configuration()
        config.load_kube_config(config_file=api.kubeconfig(str(tmp_path / "kc")),
                                client_configuration=configuration)
        client = chosen.client(k8s.ApiClient(configuration), TRAINING_NAMESPACE,
                               log=lambda line: None, sleep=lambda s: None)
        body = chosen.build("trainer-x-1", TRAINING_NAMESPACE, chosen.settings(image="i:1"),
                            ["python", "-V"])
        with pytest.raises(tfjob.TFJobFailed):
            client.run(body, 60, 0.01)
    finally:
        api.close()
    assert api.created and not api.rejected and api.unauthorized == 0
    return api.requests


def test_training_grants_the_pipeline_runner_what_the_job_clients_call(tmp_path):
    docs = render("training")
    assert sorted(d["kind"] for d in docs) == ["Role", "RoleBinding", "TrainingRuntime"]
    role, binding = one(docs, "Role"), one(docs, "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline-runner",
                                    "namespace": TRAINING_NAMESPACE}]
    needed = set()
    for backend in ("tfjob", "trainjob"):
        for request in _requests_of_a_failed_job(tmp_path, backend):
            (rbac,) = [r for pattern, r in _RBAC_OF_REQUEST if pattern.match(request)]
            needed.add(rbac)
    assert needed == _granted(role), "the Role must grant exactly what the clients call"
    assert {rule["apiGroups"][0] for rule in role["rules"]} == {
        "kubeflow.org", "trainer.kubeflow.org", ""}


def test_training_ships_the_runtime_the_trainjobs_reference():
    from components import trainjob

    runtime = one(render("training"), "TrainingRuntime")
    # In the namespace of the pipeline's pods, where the TrainJobs are created.
    assert runtime["metadata"]["name"] == trainjob.RUNTIME
    assert runtime["metadata"]["namespace"] == TRAINING_NAMESPACE
    assert trainjob.TrainJobSettings(image="i:1").runtime == trainjob.RUNTIME


# ----------------------------------------------------------------------------- schedule

def test_schedule_runs_the_pipeline_into_the_served_repository():
    """k8s/schedule: a CronJob running `classics run` (arguments the CLI accepts) with its
    workspace on a claim of its own and --serving-root on the claim TF Serving reads."""
    from pipelines import cli
    from pipelines.runners import kfp_cron

    docs = render("schedule")
    assert sorted(d["kind"] for d in docs) == ["CronJob", "PersistentVolumeClaim"]
    cron = one(docs, "CronJob", "classics-retrain")["spec"]
    # Kubernetes cron: five fields. KFP's grammar with a seconds field put first reads
    # the same schedule (and refuses the five fields as they are).
    assert len(cron["schedule"].split()) == 5
    kfp_cron.check_cron("0 " + cron["schedule"])
    with pytest.raises(kfp_cron.CronError, match="5 fields"):
        kfp_cron.check_cron(cron["schedule"])
    assert cron["concurrencyPolicy"] == "Forbid" and cron["timeZone"] == "Etc/UTC"
    job = cron["jobTemplate"]["spec"]
    pod = job["template"]["spec"]
    assert job["backoffLimit"] == 0 and pod["restartPolicy"] == "Never"
    (container,) = pod["containers"]
    assert container["command"] == ["python", "-m", "pipelines.cli"]
    args = cli.build_parser().parse_args(container["args"])
    assert (args.command, args.corpus) == ("run", "mnist")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["volumes"]
              if "persistentVolumeClaim" in v}
    served = one(render("base/serving"), "PersistentVolumeClaim")["metadata"]["name"]
    workspace = one(docs, "PersistentVolumeClaim")["metadata"]["name"]
    by_claim = {claim: mounts[volume] for volume, claim in claims.items()}
    assert args.serving_root == by_claim[served]  # what TF Serving mounts at /models
    assert args.workspace == by_claim[workspace]
    # As locked down as the serving pods; /tmp writable for the libraries' caches.
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert pod["securityContext"]["runAsNonRoot"] and mounts["tmp"] == "/tmp"
    assert pod["automountServiceAccountToken"] is False


# ---------------------------------------------------------------------------------- KFP

def test_kfp_kustomization_references_the_pinned_upstream_install():
    assert _is_remote("kfp") and "kfp" not in LOCAL_DIRS
    assert _load_kustomization("kfp")["resources"] == KFP_REMOTE_BASES
    # The launcher's `providers` setting exists from KFP 2.2.0 on.
    assert tuple(int(v) for v in KFP_VERSION.split(".")) >= (2, 2, 0)
    with open(os.path.join(K8S, "kfp", "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert KFP_VERSION in readme and "cluster-scoped-resources" in readme


def _kfp_patches():
    found = {}
    for patch in _load_kustomization("kfp")["patches"]:
        with open(os.path.join(K8S, "kfp", patch["path"]), encoding="utf-8") as f:
            doc = yaml.safe_load(f)
        found[(doc["kind"], doc["metadata"]["name"])] = doc
    return found


# JSON names of the launcher's S3 provider settings: S3ProviderConfig, S3ProviderDefault,
# S3Credentials and S3SecretRef in kubeflow/pipelines backend/src/v2/config/s3.go (2.17.0).
_S3_PROVIDER_FIELDS = {"default", "Overrides"}
_S3_DEFAULT_FIELDS = {"endpoint", "credentials", "region", "disableSSL", "forcePathStyle",
                      "maxRetries"}
_S3_SECRET_REF_FIELDS = {"secretName", "accessKeyKey", "secretKeyKey"}


def test_kfp_launcher_stores_artifacts_in_the_bundled_object_store():
    from pipelines.runners import kubeflow as kubeflow_runner
    patches = _kfp_patches()
    assert set(patches) == {("ConfigMap", "kfp-launcher"),
                            ("ConfigMap", "pipeline-install-config")}
    launcher = patches[("ConfigMap", "kfp-launcher")]
    assert launcher["metadata"]["namespace"] == "kubeflow"
    root = launcher["data"]["defaultPipelineRoot"]
    # What `classics compile` writes into packages by default, and an s3:// root (the
    # launcher accepts no local one; TFX cannot read minio://).
    assert root == kubeflow_runner.KubeflowSettings().pipeline_root
    assert root.startswith("s3://mlpipeline/")  # the bucket KFP's SeaweedFS creates
    assert patches[("ConfigMap", "pipeline-install-config")]["data"][
        "defaultPipelineRoot"] == root
    providers = yaml.safe_load(launcher["data"]["providers"])
    assert set(providers) == {"s3"} and set(providers["s3"]) <= _S3_PROVIDER_FIELDS
    default = providers["s3"]["default"]
    assert set(default) <= _S3_DEFAULT_FIELDS
    # KFP's SeaweedFS Service (third-party/seaweedfs): port 9000 is its S3 API.
    assert default["endpoint"] == "seaweedfs.kubeflow:9000" and default["disableSSL"] is True
    creds = default["credentials"]
    assert creds["fromEnv"] is False and set(creds["secretRef"]) == _S3_SECRET_REF_FIELDS
    # The Secret KFP ships with its object store, and its keys.
    assert creds["secretRef"] == {"secretName": "mlpipeline-minio-artifact",
                                  "accessKeyKey": "accesskey", "secretKeyKey": "secretkey"}
    assert set(kubeflow_runner.DEFAULT_SECRET_KEYS) == {"accesskey", "secretkey"}
