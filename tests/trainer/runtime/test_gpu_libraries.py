"""trainer/runtime/gpu_libraries.py and requirements-gpu.lock: the GPU image installs the CUDA
wheels TensorFlow was built against, and the check refuses anything else.

The GPU environment itself (a few GB) is not part of the project's .venv: the last tests
run the check inside one when CLASSICS_GPU_VENV names it, e.g.
    python3.10 -m venv /tmp/gpuvenv && /tmp/gpuvenv/bin/pip install --no-deps -r requirements-gpu.lock
    CLASSICS_GPU_VENV=/tmp/gpuvenv .venv/bin/python -m pytest tests/trainer/runtime/test_gpu_libraries.py
"""
import os
import re
import subprocess
from importlib import metadata

import pytest

from trainer.runtime import gpu_libraries

from tests.paths import REPO as ROOT
GPU_VENV = os.environ.get("CLASSICS_GPU_VENV")
BUILD = {"is_cuda_build": True, "cuda_version": "12.3", "cudnn_version": "8"}


def _lock_pins(name):
    pins, includes = {}, []
    with open(os.path.join(ROOT, name), encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line.startswith("-r "):
                includes.append(line[3:].strip())
            elif line:
                package, version = line.split("==")
                pins[package.lower().replace("_", "-")] = version
    return pins, includes


def _and_cuda_requirements():
    """TensorFlow's own `and-cuda` extra, from the installed tensorflow's metadata."""
    out = {}
    for req in metadata.requires("tensorflow") or []:
        if "extra == 'and-cuda'" in req or 'extra == "and-cuda"' in req:
            m = re.match(r"([A-Za-z0-9_.-]+)\s*==\s*([0-9.]+)", req)
            out[m.group(1).lower()] = m.group(2)
    return out


def test_gpu_lock_is_the_cpu_lock_plus_tensorflows_cuda_wheels():
    gpu, includes = _lock_pins("requirements-gpu.lock")
    cpu, _ = _lock_pins("requirements.lock")
    assert includes == ["requirements.lock"]  # nothing of the CPU lock can drift
    assert not set(gpu) & set(cpu)
    assert gpu == _and_cuda_requirements()
    assert cpu["tensorflow"] == metadata.version("tensorflow") == "2.16.2"
    assert set(gpu) == set(gpu_libraries.CUDA_TOOLKIT_WHEELS) | {gpu_libraries.CUDNN_WHEEL} \
        | set(gpu_libraries.OTHER_WHEELS)


def test_the_locked_wheels_match_the_build():
    gpu, _ = _lock_pins("requirements-gpu.lock")
    assert gpu_libraries.compare(BUILD, gpu) == []


@pytest.mark.parametrize("change,problem", [
    ({"nvidia-cuda-runtime-cu12": "12.4.99"}, "is CUDA 12.4, TensorFlow was built for CUDA 12.3"),
    ({"nvidia-cudnn-cu12": "9.1.0.70"}, "is cuDNN 9, TensorFlow was built for cuDNN 8"),
    ({"nvidia-cublas-cu12": None}, "nvidia-cublas-cu12 is not installed"),
    ({"nvidia-nccl-cu12": None}, "nvidia-nccl-cu12 is not installed"),
])
def test_a_mismatch_is_refused(change, problem):
    installed, _ = _lock_pins("requirements-gpu.lock")
    for name, version in change.items():
        if version is None:
            installed.pop(name)
        else:
            installed[name] = version
    problems = gpu_libraries.compare(BUILD, installed)
    assert len(problems) == 1 and problem in problems[0]


def test_a_build_without_cuda_is_refused():
    assert gpu_libraries.compare({"is_cuda_build": False}, {}) == [
        "this TensorFlow build has no CUDA support"]


def test_a_library_that_does_not_load_is_refused(tmp_path):
    for folder, name in gpu_libraries.LIBRARIES[:2]:
        os.makedirs(tmp_path / folder / "lib", exist_ok=True)
        (tmp_path / folder / "lib" / name).write_bytes(b"not an ELF file")
    loaded, problems = gpu_libraries.load_libraries(str(tmp_path))
    assert loaded == []
    assert any("libcudart.so.12 does not load" in p for p in problems)
    assert any("libcudnn.so.8 is missing" in p for p in problems)


def test_the_cpu_environment_fails_the_check():
    # The project's .venv is the CPU image's environment: no CUDA wheels.
    result = subprocess.run([os.path.join(ROOT, ".venv", "bin", "python"), "-m",
                             "trainer.runtime.gpu_libraries"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1
    assert "nvidia-cudnn-cu12 is not installed" in result.stdout
    assert "would train on the CPU" in result.stderr


needs_gpu_venv = pytest.mark.skipif(
    not GPU_VENV or not os.path.exists(os.path.join(GPU_VENV or "", "bin", "python")),
    reason="no GPU environment: set CLASSICS_GPU_VENV to a venv with requirements-gpu.lock "
           "installed (a few GB; see this file's docstring)")


@needs_gpu_venv
def test_the_gpu_environment_passes_the_check():
    result = subprocess.run([os.path.join(GPU_VENV, "bin", "python"), "-m",
                             "trainer.runtime.gpu_libraries"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600, env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TensorFlow built for CUDA 12.3, cuDNN 8" in result.stdout
    assert "loaded libcudnn.so.8" in result.stdout and "GPU libraries: OK" in result.stdout


@needs_gpu_venv
def test_the_gpu_environment_without_a_gpu_refuses_to_train():
    # The libraries are there; the machine has no GPU: the requested GPU is an error.
    code = ("from trainer import strategy\n"
            "try:\n    strategy.make_strategy()\n"
            "except strategy.GPUUnavailableError as e:\n    print(e)\n")
    result = subprocess.run([os.path.join(GPU_VENV, "bin", "python"), "-c", code], cwd=ROOT,
                            capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, PYTHONPATH=ROOT, CLASSICS_REQUIRE_GPUS="1"))
    assert "1 GPU(s) requested" in result.stdout, result.stdout + result.stderr
    assert "CUDA libraries are installed" in result.stdout
