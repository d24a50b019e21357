"""The pipeline image installs exactly the lock file and the project, with Keras 2 pinned."""
import json
import os
import re

from tests.paths import REPO as ROOT


def _dockerfile():
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        return f.read()


def test_base_image_is_python_310():
    assert re.search(r"^FROM python:3\.10-", _dockerfile(), re.M)


def test_installs_the_lock_file_without_resolving():
    text = _dockerfile()
    assert "COPY requirements.lock" in text
    assert "pip install --no-deps -r requirements.lock" in text
    assert "pip check" in text


def test_keras2_environment_and_kfp_entrypoint():
    from trainer.runtime import kfp_entrypoint

    text = _dockerfile()
    assert "TF_USE_LEGACY_KERAS=1" in text
    (entrypoint,) = re.findall(r"^ENTRYPOINT (.+)$", text, re.M)
    assert json.loads(entrypoint) == kfp_entrypoint.COMMAND
    assert kfp_entrypoint.EXECUTOR_MODULE == \
        "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"


def test_copies_every_package_the_pipelines_import():
    text = _dockerfile()
    for pkg in ("pipelines", "components", "trainer"):
        assert f"COPY {pkg} ./{pkg}" in text
        assert os.path.isfile(os.path.join(ROOT, pkg, "__init__.py"))


def _gpu_dockerfile():
    with open(os.path.join(ROOT, "Dockerfile.gpu")) as f:
        return f.read()


def test_gpu_image_installs_the_gpu_lock_and_checks_its_cuda_libraries():
    text = _gpu_dockerfile()
    assert re.search(r"^FROM python:3\.10-", text, re.M)
    # Both locks are copied: the GPU lock includes the CPU lock (-r requirements.lock).
    assert "COPY requirements.lock requirements-gpu.lock ./" in text
    assert "pip install --no-deps -r requirements-gpu.lock" in text and "pip check" in text
    # The check runs after the project is installed (it is one of its modules).
    assert text.index("pip install --no-deps --no-build-isolation .") \
        < text.index("RUN python -m trainer.runtime.gpu_libraries")
    from trainer.runtime import gpu_libraries  # the module the build runs exists and has a main
    assert callable(gpu_libraries.main)


def test_gpu_image_matches_the_cpu_image_otherwise():
    from trainer.runtime import kfp_entrypoint

    text = _gpu_dockerfile()
    assert "TF_USE_LEGACY_KERAS=1" in text
    (entrypoint,) = re.findall(r"^ENTRYPOINT (.+)$", text, re.M)
    assert json.loads(entrypoint) == kfp_entrypoint.COMMAND
    for pkg in ("pipelines", "components", "trainer"):
        assert f"COPY {pkg} ./{pkg}" in text
    # Exposes the node's GPUs when the runtime is NVIDIA's but the base image is not CUDA's.
    assert "NVIDIA_VISIBLE_DEVICES=all" in text


def test_both_images_compile_the_word2vec_op_and_drop_the_compiler():
    for text in (_dockerfile(), _gpu_dockerfile()):
        assert "COPY pyproject.toml setup.py README.md ./" in text
        install = text.index("pip install --no-deps --no-build-isolation .")
        assert text.index("apt-get install -y --no-install-recommends g++") < install
        # The op is loaded once in the build, then the compiler goes in the same layer.
        assert install < text.index("f.load_op()") < text.index("apt-get purge -y --auto-remove g++")
