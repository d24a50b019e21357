"""scripts/setup_env.sh: refuses, before creating anything, a machine it cannot install on;
its venv is the lock, nothing more (scripts/lock_orphans.py)."""
import os
import subprocess
import sys

from packaging.utils import canonicalize_name

from tests.paths import REPO as ROOT
COMPILERS = ("g++", "c++")


def test_without_a_cpp_compiler_setup_stops_naming_it_and_creates_nothing(tmp_path):
    # A PATH with every tool this machine has except the C++ compiler drivers.
    tools = tmp_path / "bin"
    tools.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            if any(c in name for c in COMPILERS) or (tools / name).exists():
                continue
            os.symlink(os.path.join(folder, name), tools / name)
    venv = tmp_path / "venv"
    done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "setup_env.sh"), str(venv)],
                          env={**os.environ, "PATH": str(tools)}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1
    assert "error: g++ not found" in done.stderr and "fused_kernels.cc" in done.stderr
    assert not venv.exists()


def _orphans(lock):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "lock_orphans.py"),
                           str(lock)], capture_output=True, text=True, check=True)
    return done.stdout.split()


def test_a_package_the_lock_no_longer_holds_is_named_for_removal(tmp_path):
    lock = tmp_path / "requirements.lock"
    with open(os.path.join(ROOT, "requirements.lock")) as f:
        lines = f.readlines()
    kept = [line for line in lines if not line.lower().startswith(("numpy==", "pyyaml=="))]
    lock.write_text("".join(kept))
    named = _orphans(lock)
    assert {"numpy", "pyyaml"} <= set(named)
    # Nothing the lock holds, nor pip or the project itself (a developer's own extras may
    # be named too).
    held = {canonicalize_name(line.split("==")[0]) for line in kept if "==" in line}
    assert not set(named) & (held | {"pip", "setuptools", "wheel", "tfx-classics"})
