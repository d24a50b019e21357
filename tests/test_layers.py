"""The import contracts in pyproject.toml ([tool.importlinter]) hold, and can fail.

Imports run one way, pipelines -> components -> trainer, each task's trainer code stands
alone, and no modules import each other in a cycle; import-linter checks all three from
the source, without importing TensorFlow.
"""
import os
import shutil
import subprocess
import sys

import pytest

from tests.paths import REPO
LINT = os.path.join(os.path.dirname(sys.executable), "lint-imports")


def lint(root: str) -> subprocess.CompletedProcess:
    # The copy's own packages must shadow the installed (editable) ones.
    env = dict(os.environ, PYTHONPATH=root)
    return subprocess.run([LINT, "--config", os.path.join(root, "pyproject.toml")], cwd=root,
                          env=env, capture_output=True, text=True, timeout=300)


def copy_tree(dest: str) -> str:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("pipelines", "components", "trainer"):
        shutil.copytree(os.path.join(REPO, package), os.path.join(dest, package), ignore=ignore)
    shutil.copy(os.path.join(REPO, "pyproject.toml"), dest)
    return dest


def test_the_repository_keeps_every_contract():
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("trainer/strategy.py", "import pipelines.config", "pipelines -> components -> trainer"),
    ("components/datasets.py", "from pipelines import tasks", "pipelines -> components -> trainer"),
    ("trainer/image/data.py", "from trainer.word2vec import config",
     "each task's trainer code stands alone"),
    # train.py imports fused.py: a way back is a cycle, lazy or not.
    ("trainer/word2vec/fused.py", "from trainer.word2vec import train",
     "no import cycles"),
    ("pipelines/config.py", "from pipelines import nodes", "no import cycles"),
])
def test_an_import_against_the_layers_is_refused(tmp_path, module, line, contract):
    root = copy_tree(str(tmp_path))
    with open(os.path.join(root, module), "a", encoding="utf-8") as f:
        f.write(f"\n{line}  # noqa\n")
    result = lint(root)
    assert result.returncode != 0
    assert f"{contract} BROKEN" in result.stdout
