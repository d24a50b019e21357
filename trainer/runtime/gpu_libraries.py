"""Checks that an environment can train on GPUs: the CUDA libraries TensorFlow was built
against are installed (the nvidia-* wheels of `tensorflow[and-cuda]`) and load.

TensorFlow's PyPI wheel is built with CUDA but ships none of it: without the nvidia-*
wheels it starts, finds no CUDA and trains on the CPU of a GPU node without a word. This
check compares what `tf.sysconfig.get_build_info()` names (CUDA `12.3`, cuDNN `8` for
TensorFlow 2.16.2) with the installed wheels, and loads each shared library TensorFlow
opens, so a wrong or incomplete install fails where it is made: the GPU image's build runs

    python -m trainer.runtime.gpu_libraries

(Dockerfile.gpu). It needs no GPU and no driver: loading a CUDA library does not call into
the driver. Whether a node exposes a GPU is checked at training time instead
(trainer/strategy.py, CLASSICS_REQUIRE_GPUS).
"""
from __future__ import annotations

import ctypes
import dataclasses
import glob
import os
import subprocess
import sys
from importlib import metadata
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from trainer import tf_env  # noqa: F401  (before TensorFlow)

# Wheels versioned with the CUDA toolkit (major.minor must be the build's CUDA version).
CUDA_TOOLKIT_WHEELS = ("nvidia-cuda-runtime-cu12", "nvidia-cuda-cupti-cu12",
                       "nvidia-cuda-nvcc-cu12", "nvidia-cuda-nvrtc-cu12",
                       "nvidia-nvjitlink-cu12", "nvidia-cublas-cu12")
CUDNN_WHEEL = "nvidia-cudnn-cu12"
# Versioned on their own; installed is what counts (-cu12: built for CUDA 12).
OTHER_WHEELS = ("nvidia-cufft-cu12", "nvidia-curand-cu12", "nvidia-cusolver-cu12",
                "nvidia-cusparse-cu12", "nvidia-nccl-cu12")
# (package folder under site-packages/nvidia, library file) in load order: a library's
# dependencies before it, as the dynamic loader would need them from these folders.
LIBRARIES: Tuple[Tuple[str, str], ...] = (
    ("cuda_runtime", "libcudart.so.12"),
    ("nvjitlink", "libnvJitLink.so.12"),
    ("cublas", "libcublasLt.so.12"),
    ("cublas", "libcublas.so.12"),
    ("cufft", "libcufft.so.11"),
    ("curand", "libcurand.so.10"),
    ("cusparse", "libcusparse.so.12"),
    ("cusolver", "libcusolver.so.11"),
    ("cuda_cupti", "libcupti.so.12"),
    ("cuda_nvrtc", "libnvrtc.so.12"),
    ("cudnn", "libcudnn.so.8"),
    ("nccl", "libnccl.so.2"),
)


@dataclasses.dataclass
class Report:
    cuda_version: str
    cudnn_version: str
    installed: Dict[str, str]
    loaded: List[str]
    problems: List[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> List[str]:
        out = [f"TensorFlow built for CUDA {self.cuda_version}, cuDNN {self.cudnn_version}"]
        out += [f"  {name}=={version}" for name, version in sorted(self.installed.items())]
        out += [f"  loaded {lib}" for lib in self.loaded]
        out += [f"problem: {p}" for p in self.problems]
        return out


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def installed_versions(names: Sequence[str]) -> Dict[str, str]:
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def compare(build_info: Mapping[str, object], installed: Mapping[str, str]) -> List[str]:
    """Problems (none: the installed wheels match what TensorFlow was built against)."""
    problems = []
    if not build_info.get("is_cuda_build"):
        return ["this TensorFlow build has no CUDA support"]
    cuda = str(build_info.get("cuda_version", ""))
    cudnn = str(build_info.get("cudnn_version", ""))
    for name in CUDA_TOOLKIT_WHEELS:
        if name not in installed:
            problems.append(f"{name} is not installed (TensorFlow needs CUDA {cuda})")
        elif _major_minor(installed[name]) != cuda:
            problems.append(f"{name}=={installed[name]} is CUDA {_major_minor(installed[name])}, "
                            f"TensorFlow was built for CUDA {cuda}")
    if CUDNN_WHEEL not in installed:
        problems.append(f"{CUDNN_WHEEL} is not installed (TensorFlow needs cuDNN {cudnn})")
    elif installed[CUDNN_WHEEL].split(".")[0] != cudnn.split(".")[0]:
        problems.append(f"{CUDNN_WHEEL}=={installed[CUDNN_WHEEL]} is cuDNN "
                        f"{installed[CUDNN_WHEEL].split('.')[0]}, TensorFlow was built for "
                        f"cuDNN {cudnn}")
    problems += [f"{name} is not installed" for name in OTHER_WHEELS if name not in installed]
    return problems


def nvidia_root() -> Optional[str]:
    """site-packages/nvidia (the nvidia-* wheels' shared folder), or None."""
    try:
        import nvidia  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    paths = list(getattr(nvidia, "__path__", []))
    return paths[0] if paths else None


def load_libraries(root: str,
                   loader: Callable[[str], object] = lambda p: ctypes.CDLL(
                       p, mode=ctypes.RTLD_GLOBAL)) -> Tuple[List[str], List[str]]:
    """(loaded, problems): dlopen every library of LIBRARIES from `root`."""
    loaded, problems = [], []
    for folder, name in LIBRARIES:
        path = os.path.join(root, folder, "lib", name)
        if not os.path.exists(path):
            problems.append(f"{path} is missing")
            continue
        try:
            loader(path)
        except OSError as e:
            problems.append(f"{path} does not load: {e}")
            continue
        loaded.append(name)
    return loaded, problems


def ptxas_problems(root: str, cuda: str) -> List[str]:
    """XLA compiles GPU kernels with ptxas from nvidia-cuda-nvcc: it must run and match."""
    found = glob.glob(os.path.join(root, "cuda_nvcc", "bin", "ptxas"))
    if not found:
        return [f"no ptxas under {root}/cuda_nvcc/bin"]
    try:
        out = subprocess.run([found[0], "--version"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return [f"{found[0]} does not run: {e}"]
    if f"release {cuda}" not in out:
        return [f"{found[0]} is not CUDA {cuda}: {out.strip().splitlines()[-1:]}"]
    return []


def check() -> Report:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    info = tf.sysconfig.get_build_info()
    cuda, cudnn = str(info.get("cuda_version", "")), str(info.get("cudnn_version", ""))
    installed = installed_versions(CUDA_TOOLKIT_WHEELS + (CUDNN_WHEEL,) + OTHER_WHEELS)
    problems = compare(info, installed)
    loaded: List[str] = []
    root = nvidia_root()
    if root is None:
        problems.append("no nvidia-* wheel is installed (site-packages/nvidia is absent)")
    elif not problems:
        loaded, load_problems = load_libraries(root)
        problems += load_problems + ptxas_problems(root, cuda)
    return Report(cuda, cudnn, installed, loaded, problems)


def main(argv: Optional[Sequence[str]] = None) -> int:
    del argv
    report = check()
    for line in report.lines():
        print(line)
    if report.ok:
        print("GPU libraries: OK (a GPU itself is checked when training starts)")
        return 0
    print(f"GPU libraries: {len(report.problems)} problem(s); this environment would train "
          "on the CPU", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
