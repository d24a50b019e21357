"""The MNIST softmax pipeline compiled by `classics compile` and run from its IR with
`classics run-ir`: every task's own command and arguments, under a local pipeline root.
Small: 200 + 60 synthetic digits, 1 epoch, Beam in one process."""
import glob
import json
import os
import re

import pytest
import yaml

from pipelines import cli
from tests.mnist_fixtures import synthetic_digits, write_mnist

pytestmark = pytest.mark.e2e
PIPELINE = "classics-mnist"
TASKS = ["MnistExampleGen", "ServingBaseline.softmax", "StatisticsGen", "SchemaGen",
         "ExampleValidator", "Transform", "Trainer.softmax", "Evaluator.softmax",
         "ServabilityCheck.softmax", "Pusher.softmax"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    base = tmp_path_factory.mktemp("ir-e2e")
    data = str(base / "data")
    write_mnist(data, *synthetic_digits(200, seed=1), "train")
    write_mnist(data, *synthetic_digits(60, seed=2), "t10k")
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--gpus", "0", "--epochs", "1",
                   "--output-dir", str(base / "kfp"), "--local-folders", "--data", data,
                   "--serving-root", str(base / "serving"),
                   "--pipeline-root", str(base / "compiled-root"),
                   "--beam-arg=--direct_running_mode=in_memory",
                   "--beam-arg=--direct_num_workers=1"])
    assert rc == 0
    return base, str(base / "kfp" / f"{PIPELINE}.yaml")


def test_every_task_of_the_ir_exits_0_and_the_model_is_pushed(compiled, capsys):
    base, ir = compiled
    root = base / "root"
    rc = cli.main(["run-ir", ir, "--pipeline-root", str(root), "--run-id", "e2e"])
    out, err = capsys.readouterr()
    assert rc == 0, err[-3000:]
    assert f"IR run e2e of {PIPELINE}: {len(TASKS)} task(s), every one exited 0" in out
    rows = re.findall(r"^  (\S+)\s+(\d+)\s+\d+\.\d$", out, re.M)
    assert rows == [(task, "0") for task in TASKS]
    # TF Serving's layout in the serving root the IR names: <model>/<version>/.
    pushed = glob.glob(str(base / "serving" / "mnist_softmax" / "*" / "saved_model.pb"))
    assert len(pushed) == 1
    # The launcher's reading of the Pusher's executor output: where it pushed.
    outputs = glob.glob(str(root / PIPELINE / "e2e" / "Pusher.softmax" / "*" /
                            "output_metadata.json"))
    with open(outputs[0]) as f:
        meta = json.load(f)["artifacts"]["pushed_model"]["artifacts"][0]["metadata"]
    assert meta["pushed"] == 1
    assert meta["pushed_destination"] == os.path.dirname(pushed[0])
    # Every task's outputs under <root>/<pipeline>/<run id>/<task>/<uuid>/; beside them
    # only the Trainer's checkpoint folder, which its retries share (trainer/image/train.py
    # backup_dir: two levels above model_run).
    assert sorted(os.listdir(root / PIPELINE / "e2e")) == sorted(TASKS)
    for task in TASKS:
        held = sorted(os.listdir(root / PIPELINE / "e2e" / task))
        if task.startswith("Trainer."):
            held.remove("backup")
        assert len(held) == 1 and re.fullmatch(r"[0-9a-f-]{36}", held[0]), (task, held)
    assert not (base / "compiled-root").exists()  # --pipeline-root replaced the IR's root


def test_a_broken_compiled_argument_fails_the_run_naming_its_task(compiled, tmp_path,
                                                                  capsys):
    _, ir = compiled
    with open(ir) as f:
        docs = list(yaml.safe_load_all(f))
    args = docs[0]["deploymentSpec"]["executors"]["MnistExampleGen_executor"]["container"][
        "args"]
    at = args.index("--executor_class_path") + 1
    args[at] = args[at] + "Typo"
    broken = tmp_path / "broken.yaml"
    with open(broken, "w") as f:
        yaml.safe_dump_all(docs, f)
    rc = cli.main(["run-ir", str(broken), "--pipeline-root", str(tmp_path / "root")])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.strip().splitlines()[-1] == "error: task MnistExampleGen failed: exit status 1"
    assert "Typo" in err  # TFX's import error, in the log's tail
    assert "not run: " + ", ".join(TASKS[1:]) in err
