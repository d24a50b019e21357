"""Independent tasks of an IR run at the same time, as far as --parallelism allows; a
failure stops new tasks from starting while the running ones finish."""
import json

import pytest
import yaml

from pipelines import cli
from pipelines.runners.ir import run as ir_run
from tests.pipelines.runners.ir import tiny_pipeline


@pytest.fixture(scope="module")
def diamond_ir(tmp_path_factory):
    return tiny_pipeline.compile_to(str(tmp_path_factory.mktemp("ir")), tiny_pipeline.diamond)


def _spans(result):
    return {name: json.loads(produced.parameters["span"].string_value)
            for name, produced in result.produced.items()}


def _with_defaults(ir_path, dest, **defaults):
    with open(ir_path) as f:
        docs = list(yaml.safe_load_all(f))
    for name, value in defaults.items():
        docs[0]["root"]["inputDefinitions"]["parameters"][name]["defaultValue"] = value
    with open(dest, "w") as f:
        yaml.safe_dump_all(docs, f)
    return str(dest)


def test_independent_tasks_overlap_and_the_join_waits_for_both(diamond_ir, tmp_path):
    result = ir_run.run_ir(diamond_ir, pipeline_root=str(tmp_path), parallelism=2,
                           echo=lambda _: None)
    spans = _spans(result)
    # step and step-2 (1.5 s each) ran at the same time; join started after both ended.
    assert spans["step"][0] < spans["step-2"][1] and spans["step-2"][0] < spans["step"][1]
    assert spans["join"][0] >= max(spans["step"][1], spans["step-2"][1])
    assert [t.name for t in result.tasks] == ["step", "step-2", "join"]


def test_parallelism_1_runs_one_task_at_a_time(diamond_ir, tmp_path):
    quick = _with_defaults(diamond_ir, tmp_path / "quick.yaml", seconds_a=0.3, seconds_b=0.3)
    result = ir_run.run_ir(quick, pipeline_root=str(tmp_path), parallelism=1,
                           echo=lambda _: None)
    spans = _spans(result)
    assert spans["step"][1] <= spans["step-2"][0] <= spans["step-2"][1] <= spans["join"][0]


def test_a_failure_lets_the_running_task_finish_and_starts_nothing_new(diamond_ir, tmp_path,
                                                                       capsys):
    failing = _with_defaults(diamond_ir, tmp_path / "failing.yaml", seconds_b=0.1, fail_b=1)
    rc = cli.main(["run-ir", failing, "--pipeline-root", str(tmp_path / "root"),
                   "--parallelism", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err[-1] == "error: task step-2 failed: exit status 1"
    # step (1.5 s) was running when step-2 failed: it finished; join never started.
    assert any(line.strip().startswith("step: exit 0 in ") for line in err), err
    assert "not run: join" in err


def test_after_a_failure_a_ready_task_does_not_start(diamond_ir, tmp_path):
    failing = _with_defaults(diamond_ir, tmp_path / "failing.yaml", seconds_a=0.1, fail_a=3)
    with pytest.raises(ir_run.IRRunError, match="task step failed: exit status 3") as e:
        ir_run.run_ir(failing, pipeline_root=str(tmp_path), parallelism=1,
                      echo=lambda _: None)
    assert e.value.results == [] and e.value.not_run == ["step-2", "join"]


def test_parallelism_must_be_positive(diamond_ir, tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["run-ir", diamond_ir, "--pipeline-root", str(tmp_path), "--parallelism", "0"])
    assert "--parallelism: must be at least 1" in capsys.readouterr().err
