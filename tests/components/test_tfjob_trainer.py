"""components/tfjob_trainer.py: the Trainer step that fans out to a TFJob.

End to end, the executor runs in its own process (the step's container) against the
stand-in Kubernetes API of tests/k8s_standin.py, which also stands in for the Training
Operator: it starts the submitted job's workers as local processes with the container's
command, environment (Secret references resolved) and the operator's TF_CONFIG; the data
and the model live on moto's S3 server on 127.0.0.1. The step succeeds with the chief's
model as its Model artifact, or fails when the job fails; either way the job is deleted.
The step that succeeds runs as the Trainer task of a compiled IR
(tests/pipelines/runners/ir/test_run_ir_workers_e2e.py); the one that fails runs here.
"""
import json

import pytest
from tfx import v1 as tfx
from tfx.types import standard_artifacts

from components import tfjob, tfjob_trainer
from tests import k8s_standin
from tests import tfjob_fixtures as fx
from tests.tfjob_fixtures import s3_data  # noqa: F401  (a module-scoped fixture)

SETTINGS = fx.job_settings()


def _run_step(s3, uris, custom_config, tmp_path):
    run = fx.run_step(s3, uris, custom_config, str(tmp_path))
    return run.step, run.api, run.codes, run.logs


def _tail(step):
    return f"exit {step.returncode}\n{step.stdout[-3000:]}\n{step.stderr[-6000:]}"


@pytest.mark.e2e
def test_a_failing_job_fails_the_step_and_is_deleted(s3_data, tmp_path):
    s3, uris = s3_data
    # An unknown model: every worker exits 1, a permanent failure (restartPolicy ExitCode).
    step, api, codes, logs = _run_step(
        s3, uris, fx.softmax_config(model="no_such_model", tfjob=SETTINGS), tmp_path)
    assert step.returncode == 1, _tail(step)
    (name,) = codes
    # The first permanent failure fails the job; deleting it stops the other worker.
    assert any(c is not None and 0 < c < 128 for c in codes[name]), logs[name]
    assert all(c is not None and (0 < c < 128 or c == -9) for c in codes[name]), codes
    assert "TFJobFailed" in step.stderr and "has failed because" in step.stderr
    assert "no_such_model" in step.stderr  # the failed worker's log reached the step's log
    assert api.deleted == [name] and not api.jobs


def test_settings_are_removed_from_the_run_fns_custom_config():
    props = {"custom_config": json.dumps({"model": "cnn", "tfjob": {"image": "i:1"}}),
             "run_fn": "trainer.image.run.run_fn"}
    stripped, settings, backend = tfjob_trainer.split_custom_config(props)
    assert backend.kind == "TFJob"
    assert json.loads(stripped["custom_config"]) == {"model": "cnn"}
    assert settings.image == "i:1" and settings.workers == 2
    assert props["custom_config"] != stripped["custom_config"]  # the input is untouched
    with pytest.raises(ValueError, match="has no settings: it needs 'tfjob'"):
        tfjob_trainer.split_custom_config({"custom_config": json.dumps({"model": "cnn"})})


def test_local_paths_are_refused_before_anything_is_submitted(tmp_path, monkeypatch):
    api = k8s_standin.StandIn()
    monkeypatch.setenv("KUBECONFIG", api.kubeconfig(str(tmp_path / "kubeconfig")))
    try:
        uris = {"examples": str(tmp_path / "examples"), "transform_graph": str(tmp_path / "g")}
        inputs, outputs, props = fx.trainer_invocation(
            uris, fx.softmax_config(tfjob=SETTINGS))
        with pytest.raises(ValueError, match="cannot see local paths"):
            tfjob_trainer.Executor().Do(inputs, outputs, props)
        assert api.requests == []
    finally:
        api.close()


def _channels():
    examples = tfx.dsl.Channel(type=standard_artifacts.Examples)
    graph = tfx.dsl.Channel(type=standard_artifacts.TransformGraph)
    return examples, graph


def test_the_component_is_the_stock_trainer_with_the_tfjob_executor():
    examples, graph = _channels()
    trainer = tfjob_trainer.Trainer(run_fn="trainer.image.run.run_fn", examples=examples,
                                    transform_graph=graph,
                                    custom_config={"model": "cnn", "tfjob": SETTINGS})
    assert isinstance(trainer, tfx.components.Trainer)
    assert trainer.executor_spec.executor_class is tfjob_trainer.Executor
    assert set(trainer.outputs) == {"model", "model_run"}
    with pytest.raises(ValueError, match="workers must be at least 1"):
        tfjob_trainer.Trainer(run_fn="trainer.image.run.run_fn", examples=examples,
                              custom_config={"tfjob": {**SETTINGS, "workers": 0}})
    with pytest.raises(ValueError, match="needs 'tfjob' .TFJob. or 'trainjob'"):
        tfjob_trainer.Trainer(run_fn="trainer.image.run.run_fn", examples=examples,
                              custom_config={"model": "cnn"})


def test_step_names_follow_the_node_or_the_model():
    assert tfjob_trainer._step_name(None, {"model": "cnn"}) == "Trainer.cnn"
    assert tfjob_trainer._step_name(None, {}) == "Trainer"
    assert tfjob.job_name(tfjob_trainer._step_name(None, {"model": "cnn"}),
                          fx.MODEL_RUN_URI).startswith("trainer-cnn-")
