"""Two small real MNIST pipeline runs through the `classics` command, shared by the
report, lineage and console tests (a session fixture, so they run once per test session).

`demo_runs` runs `classics run mnist` in a subprocess on 300 + 100 real digits (softmax,
2 epochs) in a fresh workspace, with the environment a user's shell has (no
TF_CPP_MIN_LOG_LEVEL, no TF_USE_LEGACY_KERAS), capturing the terminal. The first run's
bar is 0.3: blessed and pushed. The second run's bar is 0.99: every data component and
the Trainer come from the cache, the Evaluator compares the same model with the version
the first run pushed, and refuses it.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from typing import Dict, List

import pytest

from tests.mnist_fixtures import real_digits, write_mnist

PIPELINE = "classics-mnist"
EPOCHS = 2
N_TRAIN, N_EVAL = 300, 100


@dataclasses.dataclass
class CliRun:
    argv: List[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


@dataclasses.dataclass
class DemoRuns:
    workspace: str
    data: str
    first: CliRun  # blessed, pushed
    second: CliRun  # cached, compared with the first's pushed version, not blessed

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.workspace, "metadata", f"{PIPELINE}.sqlite")


def classics_argv(*args: str) -> List[str]:
    """The command line of `classics ARGS`."""
    exe = os.path.join(os.path.dirname(sys.executable), "classics")
    return [exe, *args] if os.path.exists(exe) else [sys.executable, "-m", "pipelines.cli",
                                                      *args]


def user_env(**extra: str) -> Dict[str, str]:
    """The environment of a user's shell: none of the variables the test session sets."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_USE_LEGACY_KERAS", "CLASSICS_HOME")}
    env.update(extra)
    return env


def classics(*args: str, cwd: str, **env: str) -> CliRun:
    """`classics ARGS` as a user's shell would run it (plus `env`); the terminal output
    captured."""
    argv = classics_argv(*args)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=user_env(**env), capture_output=True,
                          text=True, timeout=1800, check=False)
    return CliRun(argv, proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0)


@pytest.fixture(scope="session")
def demo_runs(tmp_path_factory) -> DemoRuns:
    root = tmp_path_factory.mktemp("demo")
    (train_x, train_y), (test_x, test_y) = real_digits(N_TRAIN, N_EVAL)
    data = write_mnist(str(root / "data"), train_x, train_y, "train")
    write_mnist(data, test_x, test_y, "t10k")
    ws = str(root / "workspace")
    common = ["run", "mnist", "--models", "softmax", "--epochs", str(EPOCHS), "--data", data,
              "--workspace", ws]
    first = classics(*common, "--min-accuracy", "0.3", cwd=str(root))
    assert first.returncode == 0, first.stdout + first.stderr
    second = classics(*common, "--min-accuracy", "0.99", cwd=str(root))
    assert second.returncode == 0, second.stdout + second.stderr
    return DemoRuns(workspace=ws, data=data, first=first, second=second)
