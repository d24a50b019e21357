"""k8s/: every local kustomization renders with `kubectl kustomize` and validates.

Core objects are validated in strict mode (unknown fields rejected) against the
Kubernetes JSON schemas shipped with kubernetes-validate, for every version in
KUBERNETES_VERSIONS. The TFJob (a CRD, not in those schemas) is checked field by field,
and its replicas' pod templates are validated as core PodTemplates. k8s/kfp references
remote bases and is never rendered here.
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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(REPO, "k8s")
# Kubernetes minor versions the manifests are validated against (stated in k8s/README.md).
KUBERNETES_VERSIONS = tuple(f"1.{minor}" for minor in range(30, 38))
NAMESPACE = "classics"
PART_OF = ("app.kubernetes.io/part-of", "tfx-classics")
SERVING_OVERLAYS = {"overlays/cpu": "tensorflow/serving:2.16.1",
                    "overlays/gpu": "tensorflow/serving:2.16.1-gpu"}
CRDS = {("kubeflow.org/v1", "TFJob")}  # not in the core schemas; asserted explicitly
KFP_REMOTE_BASES = [
    "github.com/kubeflow/pipelines/manifests/kustomize/cluster-scoped-resources?ref=2.0.5",
    "github.com/kubeflow/pipelines/manifests/kustomize/env/platform-agnostic?ref=2.0.5",
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


def _kubectl():
    path = shutil.which("kubectl")
    if path is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` renders the manifests "
                    "(install kubectl >= 1.27, which bundles kustomize v5)")
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
                          "overlays/gpu", "training"]
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
            assert obj["metadata"].get("namespace") == NAMESPACE, f"{key} {name}"
        if key in CRDS:
            continue  # checked in test_tfjob_*
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
    assert [c["name"] for c in pod["containers"]] == ["tf-serving"]
    container = pod["containers"][0]
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
    mounts = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "config"]
    assert len(mounts) == 1 and "subPath" not in mounts[0]
    return mounts[0]["mountPath"], config_map["data"]


@pytest.mark.parametrize("overlay", sorted(SERVING_OVERLAYS))
def test_serving_container(overlay):
    docs, deployment, pod, container = _serving(overlay)
    assert container["image"] == SERVING_OVERLAYS[overlay]
    assert container["command"] == ["/usr/bin/tensorflow_model_server"]
    flags = _flags(container)
    assert flags["port"] == "8500" and flags["rest_api_port"] == "8501"
    assert "enable_batching" in flags
    assert int(flags["model_config_file_poll_wait_seconds"]) > 0
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 8500, "rest": 8501}
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


@pytest.mark.parametrize("overlay", sorted(SERVING_OVERLAYS))
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
    assert files["models.config"] == expected["k8s/base/serving/models.config"]
    batching_source = ("k8s/overlays/gpu/batching.config" if overlay == "overlays/gpu"
                       else "k8s/base/serving/batching.config")
    assert files["batching.config"] == expected[batching_source]


@pytest.mark.parametrize("overlay", sorted(SERVING_OVERLAYS))
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


@pytest.mark.parametrize("overlay", sorted(SERVING_OVERLAYS))
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
                                            ("overlays/gpu", sc.GPU_SERVING_HOST_CORES)])
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


@pytest.mark.parametrize("overlay", sorted(SERVING_OVERLAYS))
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


@pytest.mark.parametrize("overlay", sorted(SERVING_OVERLAYS))
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


# -------------------------------------------------------------------------------- TFJob

TFJOB_SPEC_FIELDS = {"runPolicy", "tfReplicaSpecs", "successPolicy", "enableDynamicWorker"}
RUN_POLICY_FIELDS = {"cleanPodPolicy", "ttlSecondsAfterFinished", "activeDeadlineSeconds",
                     "backoffLimit", "schedulingPolicy", "suspend", "managedBy"}
REPLICA_SPEC_FIELDS = {"replicas", "template", "restartPolicy"}


def _tfjob(docs=None):
    return one(docs if docs is not None else render("training"), "TFJob")


def test_tfjob_structure():
    docs = render("training")
    job = _tfjob(docs)
    assert job["apiVersion"] == "kubeflow.org/v1"
    assert job["metadata"]["namespace"] == NAMESPACE
    spec = job["spec"]
    assert set(spec) <= TFJOB_SPEC_FIELDS, f"unknown spec fields {set(spec) - TFJOB_SPEC_FIELDS}"
    assert set(spec["runPolicy"]) <= RUN_POLICY_FIELDS
    assert spec["runPolicy"]["cleanPodPolicy"] in {"All", "Running", "None"}
    replicas = spec["tfReplicaSpecs"]
    assert set(replicas) == {"Chief", "Worker"}
    assert replicas["Chief"]["replicas"] == 1
    assert replicas["Worker"]["replicas"] >= 1
    for role, replica in replicas.items():
        assert set(replica) <= REPLICA_SPEC_FIELDS, role
        assert replica["restartPolicy"] in {"Always", "OnFailure", "Never", "ExitCode"}, role
        # Validate the pod template with the core schemas.
        validate_core({"apiVersion": "v1", "kind": "PodTemplate",
                       "metadata": {"name": f"tfjob-{role.lower()}"},
                       "template": replica["template"]})


@pytest.mark.parametrize("role", ["Chief", "Worker"])
def test_tfjob_replica_container(role):
    docs = render("training")
    pod = _tfjob(docs)["spec"]["tfReplicaSpecs"][role]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["name"] == "tensorflow", "the Training Operator expects `tensorflow`"
    assert container["image"] == "tfx-classics:latest"
    assert container["command"] == ["python", "-m", "trainer.distributed_main"]
    assert "--model=resnet20" in container["args"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TF_USE_LEGACY_KERAS"] == "1"
    assert str(container["resources"]["limits"]["nvidia.com/gpu"]) == "1"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    workspace = [name for name, v in volumes.items() if "persistentVolumeClaim" in v]
    assert len(workspace) == 1 and workspace[0] in mounts
    claim = volumes[workspace[0]]["persistentVolumeClaim"]["claimName"]
    pvc = one(docs, "PersistentVolumeClaim", claim)
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert "--workspace=" + mounts[workspace[0]] in container["args"]


def test_tfjob_replicas_run_the_same_program():
    replicas = _tfjob()["spec"]["tfReplicaSpecs"]
    chief, worker = (replicas[r]["template"]["spec"]["containers"][0] for r in ("Chief", "Worker"))
    for field in ("image", "command", "args", "env", "resources", "volumeMounts"):
        assert chief[field] == worker[field], field
    assert replicas["Chief"]["restartPolicy"] == replicas["Worker"]["restartPolicy"]


def test_tfjob_image_is_overridable(tmp_path):
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [os.path.relpath(os.path.join(K8S, "training"), overlay)],
        "images": [{"name": "tfx-classics", "newName": "registry.example.com/tfx-classics",
                    "newTag": "v7"}],
    }))
    job = _tfjob(list(_render_path(str(overlay))))
    images = {r: s["template"]["spec"]["containers"][0]["image"]
              for r, s in job["spec"]["tfReplicaSpecs"].items()}
    assert images == {"Chief": "registry.example.com/tfx-classics:v7",
                      "Worker": "registry.example.com/tfx-classics:v7"}


# ---------------------------------------------------------------------------------- KFP

def test_kfp_kustomization_references_the_pinned_upstream_install():
    assert _is_remote("kfp") and "kfp" not in LOCAL_DIRS
    assert _load_kustomization("kfp")["resources"] == KFP_REMOTE_BASES
    with open(os.path.join(K8S, "kfp", "README.md"), encoding="utf-8") as f:
        readme = f.read()
    assert "2.0.5" in readme and "cluster-scoped-resources" in readme
