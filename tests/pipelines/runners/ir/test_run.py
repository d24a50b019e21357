"""`classics run-ir` on a small IR that kfp's compiler wrote: its tasks' own commands run
as subprocesses, in dependency order, with only the pod's environment; bad files and
broken tasks are named."""
import os
import json
import re
import sys

import pytest
import yaml

from pipelines import cli
from pipelines.runners.ir import dag as ir_dag
from pipelines.runners.ir import run as ir_run
from tests.paths import REPO
from tests.pipelines.runners.ir import tiny_pipeline


@pytest.fixture(scope="module")
def tiny_ir(tmp_path_factory):
    return tiny_pipeline.compile_to(str(tmp_path_factory.mktemp("ir")))


def _with_secret(ir_path, dest):
    """The tiny IR with the consumer's pod reading a Secret's key as a variable, as
    kfp-kubernetes' use_secret_as_env writes it into the platform spec."""
    with open(ir_path) as f:
        docs = list(yaml.safe_load_all(f))
    docs.append({"platforms": {"kubernetes": {"deploymentSpec": {"executors": {
        "exec-consume": {"secretAsEnv": [{"secretName": "store-keys", "keyToEnv": [
            {"secretKey": "accesskey", "envVar": "AWS_ACCESS_KEY_ID"}]}]}}}}}})
    docs[0]["deploymentSpec"]["executors"]["exec-consume"]["container"]["env"] = [
        {"name": "S3_ENDPOINT", "value": "http://store:9000"}]
    with open(dest, "w") as f:
        yaml.safe_dump_all(docs, f)
    return str(dest)


def _kubeconfig(path, current="stand-in", cluster="c"):
    """A kubeconfig for an API server on 127.0.0.1 (none needs to answer here)."""
    context = {"user": "u", "namespace": "pipelines"}
    if cluster:
        context["cluster"] = cluster
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "stand-in", "context": context}]}))
    return path


def _report(result):
    with open(result.produced["consume"].artifacts["report"].uri) as f:
        return json.load(f)


def test_the_tasks_own_commands_run_in_order_with_the_pods_environment(tiny_ir, tmp_path,
                                                                     monkeypatch):
    ir_path = _with_secret(tiny_ir, tmp_path / "tiny-secret.yaml")
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("store-keys: {accesskey: AKIA-LOCAL}\n")
    _kubeconfig(tmp_path / "kubeconfig")
    monkeypatch.chdir(tmp_path)  # a relative --kubeconfig reaches the tasks made absolute
    lines = []
    result = ir_run.run_ir(ir_path, pipeline_root=str(tmp_path / "root"), run_id="r1",
                           secrets_file=str(secrets), echo=lines.append,
                           environ={"UNRELATED": "x"}, kubeconfig="kubeconfig")
    assert [t.name for t in result.tasks] == ["produce", "consume"]
    assert all(t.exit_code == 0 for t in result.tasks)
    report = _report(result)
    data_uri = result.produced["produce"].artifacts["data"].uri
    assert re.fullmatch(re.escape(str(tmp_path / "root" / "tiny" / "r1" / "produce")) +
                        r"/[0-9a-f-]{36}/data", data_uri)
    # The consumer read the producer's file through the URI it was handed, the producer's
    # output parameter and the constant.
    assert report["data"] == "abab"
    assert report["argv"][:3] == [data_uri, "2", "false"]
    # Only what the pod has: the image's variables, PATH, HOME, the IR's env, the Secret,
    # the service account's credentials; TMPDIR stands in for the pod's own /tmp, gone
    # with the task.
    env = report["env"]
    pod_tmp = env.pop("TMPDIR")
    assert pod_tmp.endswith(os.path.join("consume", ir_run.POD_TMP))
    assert not os.path.exists(pod_tmp)
    assert env.pop("KUBECONFIG") == str(tmp_path / "kubeconfig")
    assert env.pop("AWS_ACCESS_KEY_ID") == "AKIA-LOCAL"
    assert env.pop("S3_ENDPOINT") == "http://store:9000"
    assert env.pop("PATH").split(":")[0] == os.path.dirname(sys.executable)
    assert env.pop("HOME") == os.path.expanduser("~")
    assert env == ir_run.IMAGE_ENV
    assert "instead of the image python:3.10" in "\n".join(lines)
    summary = ir_run.format_summary(result)
    assert re.search(r"produce\s+0\s+\d+\.\d\s+\d+\.\d", summary)
    assert re.search(r"consume\s+0", summary)


def test_each_tasks_cpu_counts_its_child_processes_and_not_its_waiting(tmp_path, capsys):
    ir_path = tiny_pipeline.compile_to(str(tmp_path), tiny_pipeline.busy_and_idle)
    assert cli.main(["run-ir", ir_path, "--pipeline-root", str(tmp_path / "root")]) == 0
    out = capsys.readouterr().out
    rows = {m.group(1): (float(m.group(2)), float(m.group(3))) for m in re.finditer(
        r"^  (burn|step)\s+0\s+\d+\.\d\s+(\d+\.\d)\s+(\d+\.\d)$", out, re.M)}
    burn_seconds, burn_cpu = rows["burn"]
    step_seconds, step_cpu = rows["step"]
    assert burn_cpu >= 0.8  # the spinning grandchild's CPU is the task's
    assert step_seconds >= 1.0 and step_cpu < 0.5  # asleep: wall time, hardly any CPU
    total = re.search(r"^  (\d+\.\d) s of CPU in the tasks' processes, (\d+\.\d) s per task",
                      out, re.M)
    assert total and abs(float(total.group(1)) - burn_cpu - step_cpu) <= 0.11
    assert burn_seconds >= 0.8


def test_a_secret_key_from_the_environment_and_a_missing_one(tiny_ir, tmp_path):
    ir_path = _with_secret(tiny_ir, tmp_path / "tiny-secret.yaml")
    result = ir_run.run_ir(ir_path, pipeline_root=str(tmp_path / "root"),
                           echo=lambda _: None, environ={"AWS_ACCESS_KEY_ID": "from-shell"})
    assert _report(result)["env"]["AWS_ACCESS_KEY_ID"] == "from-shell"
    with pytest.raises(ir_run.IRRunError, match=r"task consume failed: Secret 'store-keys' "
                                                "key 'accesskey'") as e:
        ir_run.run_ir(ir_path, pipeline_root=str(tmp_path / "root"), echo=lambda _: None,
                      environ={})
    assert [t.name for t in e.value.results] == ["produce"]


def _mutated(ir_path, dest, executor, index, value):
    with open(ir_path) as f:
        docs = list(yaml.safe_load_all(f))
    docs[0]["deploymentSpec"]["executors"][executor]["container"]["args"][index] = value
    with open(dest, "w") as f:
        yaml.safe_dump_all(docs, f)
    return str(dest)


def test_a_broken_argument_fails_the_run_naming_its_task(tiny_ir, tmp_path, capsys):
    # The producer writes its size parameter to a file the launcher does not read.
    broken = _mutated(tiny_ir, tmp_path / "broken.yaml", "exec-produce", 2, "/dev/null")
    rc = cli.main(["run-ir", broken, "--pipeline-root", str(tmp_path / "root")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err[-1].startswith("error: task produce failed: failed to read output "
                              "parameter name='size'"), err


def test_a_placeholder_nothing_fills_fails_before_the_command_runs(tiny_ir, tmp_path, capsys):
    broken = _mutated(tiny_ir, tmp_path / "broken.yaml", "exec-consume", 3,
                      "{{$.outputs.artifacts['reprot'].path}}")
    rc = cli.main(["run-ir", broken, "--pipeline-root", str(tmp_path / "root")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "error: task consume failed: placeholders nothing fills: " \
           "{{$.outputs.artifacts['reprot'].path}}" in err
    assert "not run" not in err  # the last task


def test_a_failing_command_is_named_with_its_log_tail(tiny_ir, tmp_path, capsys):
    broken = _mutated(tiny_ir, tmp_path / "broken.yaml", "exec-produce", 1,
                      "/proc/no-such-folder/data")
    rc = cli.main(["run-ir", broken, "--pipeline-root", str(tmp_path / "root")])
    err = capsys.readouterr().err
    assert rc == 1
    assert "not run: consume" in err
    assert err.strip().splitlines()[-1] == "error: task produce failed: exit status 1"
    assert "FileNotFoundError" in err or "PermissionError" in err  # the log's tail


@pytest.mark.parametrize("content,problem", [
    (None, "no such IR file"),
    ("components: [\n", "not a KFP pipeline spec"),
    ("- a\n- b\n", "not a KFP pipeline spec"),
    ("pipelineInfo: {name: x}\nroot: {dag: {tasks: {}}}\n",
     "the pipeline spec has no root DAG tasks"),
    ("pipelineInfo: {name: x}\nnoSuchField: 1\n", "not a KFP pipeline spec"),
])
def test_a_missing_or_invalid_ir_file_is_named(tmp_path, capsys, content, problem):
    path = tmp_path / "pipeline.yaml"
    if content is not None:
        path.write_text(content)
    rc = cli.main(["run-ir", str(path), "--pipeline-root", str(tmp_path / "root")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith(f"error: {path}: {problem}"), err
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize("current,cluster,problem", [
    (None, "c", "no such file"),
    ("elsewhere", "c", "not a kubeconfig the kubernetes client reads: Invalid kube-config "
                       "file. Expected object with name elsewhere"),
    ("stand-in", None, "not a kubeconfig the kubernetes client reads: Invalid kube-config "
                       "file. Expected key cluster"),
])
def test_a_missing_or_unreadable_kubeconfig_is_refused(tiny_ir, tmp_path, capsys, current,
                                                       cluster, problem):
    path = tmp_path / "kubeconfig"
    if current is not None:
        _kubeconfig(path, current, cluster)
    root = tmp_path / "root"
    rc = cli.main(["run-ir", tiny_ir, "--pipeline-root", str(root), "--kubeconfig",
                   str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith(f"error: --kubeconfig {path}: {problem}"), err
    assert not root.exists()  # refused before anything ran


def test_no_pipeline_root_is_refused(tiny_ir, capsys):
    rc = cli.main(["run-ir", tiny_ir])  # kfp's compiler wrote no defaultPipelineRoot
    assert rc == 2
    assert "the IR names no pipeline root; pass --pipeline-root" in capsys.readouterr().err


def _with_placement(ir_path, dest, toleration):
    """The tiny IR with the consumer's pod placed as `classics compile` places GPU
    Trainers: a node selector and tolerations in its kubernetes executor config."""
    with open(ir_path) as f:
        docs = list(yaml.safe_load_all(f))
    docs.append({"platforms": {"kubernetes": {"deploymentSpec": {"executors": {
        "exec-consume": {"nodeSelector": {"labels": {"pool": "gpu"}},
                         "tolerations": [toleration]}}}}}})
    with open(dest, "w") as f:
        yaml.safe_dump_all(docs, f)
    return str(dest)


def test_placement_is_accepted_and_a_misspelt_toleration_named(tiny_ir, tmp_path):
    good = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ir = ir_dag.load(_with_placement(tiny_ir, tmp_path / "placed.yaml", good))
    (consume,) = [t for t in ir.tasks.values() if t.executor_label == "exec-consume"]
    assert dict(consume.kubernetes.node_selector.labels) == {"pool": "gpu"}
    bad = dict(good, efect="NoSchedule")
    with pytest.raises(ir_dag.IRFileError, match="kubernetes config of exec-consume: "
                                                 r"toleration .*unknown fields \['efect'\]"):
        ir_dag.load(_with_placement(tiny_ir, tmp_path / "bad.yaml", bad))


def test_a_run_id_is_used_once(tiny_ir, tmp_path, capsys):
    args = ["run-ir", tiny_ir, "--pipeline-root", str(tmp_path), "--run-id", "same"]
    assert cli.main(args) == 0
    out = capsys.readouterr().out
    assert "IR run same of tiny: 2 task(s), every one exited 0" in out
    assert cli.main(args) == 2
    assert "choose another --run-id" in capsys.readouterr().err


def test_dependency_order_waits_for_every_producer(tiny_ir):
    ir = ir_dag.load(tiny_ir)
    consume = ir.tasks["consume"].spec
    del consume.dependent_tasks[:]
    assert ir_dag.order(ir) == ["produce", "consume"]  # its inputs' producer
    consume.inputs.parameters["size"].runtime_value.constant.number_value = 2
    assert ir_dag.order(ir) == ["produce", "consume"]  # its artifact input's producer alone
    del consume.inputs.artifacts["data"]
    assert ir_dag.upstream(consume) == []
    ir = ir_dag.load(tiny_ir)
    ir.tasks["produce"].spec.dependent_tasks.append("consume")
    with pytest.raises(ir_dag.IRFileError, match="cycle"):
        ir_dag.order(ir)


def test_image_env_is_the_dockerfiles():
    with open(os.path.join(REPO, "Dockerfile")) as f:
        text = f.read()
    env_block = re.search(r"^ENV (.*?)(?:\n\n|\n[A-Z])", text, re.S | re.M).group(1)
    declared = dict(re.findall(r"(\w+)=(\S+)", env_block))
    assert text.splitlines()[[l.startswith("FROM") for l in text.splitlines()].index(True)] \
        == "FROM python:3.10-slim-bookworm"  # whose image sets LANG=C.UTF-8
    assert {k: v for k, v in ir_run.IMAGE_ENV.items() if k != "LANG"} == \
        {k: v for k, v in declared.items() if not k.startswith("PIP_")}


def test_without_published_logs_the_tasks_have_no_log_output(tiny_ir, tmp_path, capsys):
    rc = cli.main(["run-ir", tiny_ir, "--pipeline-root", str(tmp_path), "--run-id", "quiet",
                   "--no-publish-logs"])
    assert rc == 0, capsys.readouterr().err
    for task in ("produce", "consume"):
        (folder,) = (tmp_path / "tiny" / "quiet" / task).iterdir()
        assert "executor-logs" not in os.listdir(folder)
        assert (folder / "executor.log").exists()  # the launcher's stdout, kept here
