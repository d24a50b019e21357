"""The pipeline image installs exactly the lock file and the project, with Keras 2 pinned."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    text = _dockerfile()
    assert "TF_USE_LEGACY_KERAS=1" in text
    assert "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor" in text


def test_copies_every_package_the_pipelines_import():
    text = _dockerfile()
    for pkg in ("pipelines", "components", "trainer"):
        assert f"COPY {pkg} ./{pkg}" in text
        assert os.path.isfile(os.path.join(ROOT, pkg, "__init__.py"))
