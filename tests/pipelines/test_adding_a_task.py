"""Adding a task is one subpackage per floor plus one line in the task table.

A copy of the three packages gets a small fake task (tests/data/fake_task: a line fitted
to points in a CSV file) as trainer/fake/, components/fake/ and pipelines/fake/, and its
line in pipelines/tasks.py's TASK_PACKAGES; nothing else changes. The copy then runs the
task with the local runner (the model is pushed into the serving repository) and
compiles it for Kubeflow, and keeps every import contract.
"""
import glob
import os
import shutil
import subprocess
import sys

import pytest

from tests.paths import REPO, TEST_DATA
from tests.test_layers import copy_tree, lint

pytestmark = pytest.mark.e2e

SCRIPT = r"""
import json, os, sys
from pipelines import tasks
from pipelines.runners import kubeflow, local

workspace, out = sys.argv[1], sys.argv[2]
config = tasks.make_config("points", workspace=workspace)
result = local.run_pipeline(config, echo=lambda _: None)
model = result.models[0]
paths = kubeflow.compile_pipelines(
    config, kubeflow.KubeflowSettings(image="example.com/classics:1"),
    "gs://bucket/data/points", out)
print(json.dumps({"task": type(config).__name__, "models": tasks.MODELS.names("fake"),
                  "blessed": model.blessed, "pushed": model.pushed_path,
                  "metrics": model.metrics, "ir": paths}))
"""


@pytest.fixture(scope="module")
def with_fake_task(tmp_path_factory):
    root = copy_tree(str(tmp_path_factory.mktemp("repo")))
    for floor in ("trainer", "components", "pipelines"):
        shutil.copytree(os.path.join(TEST_DATA, "fake_task", floor, "fake"),
                        os.path.join(root, floor, "fake"))
    table = os.path.join(root, "pipelines", "tasks.py")
    with open(table, encoding="utf-8") as f:
        text = f.read()
    assert text.count('    "pipelines.lm",\n') == 1
    with open(table, "w", encoding="utf-8") as f:
        f.write(text.replace('    "pipelines.lm",\n', '    "pipelines.lm",\n    "pipelines.fake",\n'))
    return root


def test_the_fake_task_runs_locally_and_compiles(with_fake_task, tmp_path):
    import json  # pylint: disable=import-outside-toplevel
    env = dict(os.environ, PYTHONPATH=with_fake_task)
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "ws"),
                           str(tmp_path / "kfp")], cwd=with_fake_task, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["task"] == "LineConfig" and result["models"] == ["line"]
    assert result["blessed"] and result["metrics"]["error"] < 0.5
    versions = glob.glob(str(tmp_path / "ws" / "serving" / "points_line" / "*" /
                             "saved_model.pb"))
    assert len(versions) == 1 and result["pushed"]
    with open(result["ir"][0], encoding="utf-8") as f:
        ir = f.read()
    assert "trainer.fake.run.run_fn" in ir and "LineEvaluator" in ir


def test_the_fake_task_keeps_every_import_contract(with_fake_task):
    result = lint(with_fake_task)
    assert result.returncode == 0, result.stdout + result.stderr
