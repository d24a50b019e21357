"""components/tfjob_trainer.py with the TrainJob backend: the Trainer step submits a
Kubeflow Trainer v2 TrainJob on the shipped TrainingRuntime and waits for it.

End to end, as tests/components/test_tfjob_trainer.py does for TFJobs (same harness and
data): the executor runs in its own process against the stand-in Kubernetes API of
tests/k8s_standin.py, which also plays Trainer, JobSet and the Job controller
(tests/jobset_standin.py): the TrainJob is expanded with the runtime into a JobSet, each
worker pod is a local process with only the pod's environment, and the workers derive
TF_CONFIG from it. One run loses both workers after their second epoch (SIGKILL, a lost
node): the Job controller restarts them and they resume from the backup.
"""
import json

import pytest

from components import trainjob
from tests import k8s_standin
from tests import tfjob_fixtures as fx
from tests.tfjob_fixtures import s3_data  # noqa: F401  (a module-scoped fixture)
from tests.k8s_standin import wait_until

pytestmark = pytest.mark.e2e


def _kill_after_the_second_epoch(killed):
    """Kills every pod once a worker logged its second epoch, by when BackupAndRestore
    has checkpointed at least the first on the object store."""
    def during(api):
        assert wait_until(lambda: api.created, timeout=300), "no TrainJob was created"
        name = api.created[0]["metadata"]["name"]
        trained = wait_until(lambda: any(
            "epoch 2/4:" in log for log in api.pod_logs(name).values()), timeout=900,
            interval=0.05)
        assert trained, "no worker finished its second epoch"
        killed.extend(api.kill_pods(name))
    return during


def test_two_workers_train_survive_a_lost_node_and_output_the_chiefs_model(s3_data, tmp_path):
    s3, uris = s3_data
    killed = []
    run = fx.run_step(s3, uris, fx.softmax_config(
        epochs=4, trainjob=fx.job_settings()), str(tmp_path),
        during=_kill_after_the_second_epoch(killed))
    assert run.step.returncode == 0, run.tail()
    assert f"MODEL {fx.MODEL_URI}" in run.step.stdout
    (body,) = run.api.created
    k8s_standin.validate_trainjob(body)
    name = body["metadata"]["name"]
    assert body["spec"]["runtimeRef"] == {"name": trainjob.RUNTIME, "apiGroup": trainjob.GROUP,
                                          "kind": "TrainingRuntime"}
    assert body["spec"]["trainer"]["args"][:4] == [
        "-m", "trainer.runtime.tfjob_worker", "--cluster", "jobset"]
    # Both pods of the lost node came back with their index and finished the job.
    assert len(killed) == 2, killed
    codes = run.codes[name]
    assert [codes[p] for p in killed] == [137, 137], codes
    chief = [p for p in codes if p.startswith(f"{name}-node-0-0-")]
    assert len(chief) == 2 and codes[chief[-1]] == 0, codes
    stats = json.loads(s3.client.get_object(
        Bucket=fx.BUCKET, Key="root/Trainer.softmax/model_run/7/training_stats.json")
        ["Body"].read())
    assert stats["strategy"] == "MultiWorkerMirroredStrategy" and stats["replicas"] == 2
    assert stats["task"] == "worker:0"
    assert stats["resumed_at_epoch"] >= 1, stats  # not from scratch: from the backup
    assert "root/Trainer.softmax/model/7/Format-Serving/saved_model.pb" in s3.keys(
        fx.MODEL_URI + "/")
    # The step followed the job (worker 0's lines reached its log) and deleted it.
    assert f"TrainJob pipelines/{name}: Complete (AllJobsCompleted" in run.step.stderr
    assert f"[{chief[-1]}]" in run.step.stderr
    assert run.api.deleted == [name] and not run.api.jobs
    # Each worker derived its TF_CONFIG from JobSet's labels and its completion index.
    log = run.logs[name][chief[-1]]
    assert "worker worker:0 of 2" in log, log[-3000:]


def test_a_failing_worker_fails_the_trainjob_and_the_step_names_it(s3_data, tmp_path):
    s3, uris = s3_data
    # An unknown model: every worker exits 1, which the runtime's podFailurePolicy fails
    # at once (no retries), and its JobSet failurePolicy fails the JobSet.
    run = fx.run_step(s3, uris, fx.softmax_config(
        model="no_such_model", trainjob=fx.job_settings()), str(tmp_path))
    assert run.step.returncode == 1, run.tail()
    (name,) = run.codes
    failed = [p for p, c in run.codes[name].items() if c == 1]
    assert failed, run.codes
    assert "JobFailed" in run.step.stderr
    assert (f"TrainJob pipelines/{name} failed: FailJobSetFailurePolicyAction: applying "
            f"FailJobSet failure policy action (first failed job: {name}-node-0)") \
        in run.step.stderr
    assert "failed worker pod(s): " in run.step.stderr and failed[0] in run.step.stderr
    assert "no_such_model" in run.step.stderr  # the failed worker's log reached the step's log
    assert len(run.codes[name]) == 2  # nothing was retried
    assert run.api.deleted == [name] and not run.api.jobs
