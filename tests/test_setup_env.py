"""scripts/setup_env.sh: refuses, before creating anything, a machine it cannot install on."""
import os
import subprocess

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
