"""A Trainer step's inputs and outputs on the S3 stand-in, for the multi-worker tests:
Transform outputs (graph + transformed examples, built by tests/transformed_fixtures.py)
uploaded to s3://, and the artifacts and exec properties TFX would hand the Trainer's
executor for them (MNIST softmax, small and quick)."""
import dataclasses
import json
import os
import subprocess
import sys
from typing import Any, Callable, Dict, List, Optional

import pytest
import tensorflow as tf
from tfx.types import standard_artifacts

from tests import transformed_fixtures
from tests.mnist_fixtures import synthetic_digits
from trainer.contract import image_example, serialize

RUN_FN = "trainer.image.run.run_fn"
BUCKET = "pipelines"
ROOT_URI = f"s3://{BUCKET}/root"
MODEL_URI = f"{ROOT_URI}/Trainer.softmax/model/7"
MODEL_RUN_URI = f"{ROOT_URI}/Trainer.softmax/model_run/7"


def upload_transform_outputs(s3, local_root: str) -> Dict[str, str]:
    """Builds the Transform outputs locally and uploads them; returns their URIs."""
    graph, _, _ = transformed_fixtures.build(local_root, n_train=400, n_eval=100)
    uris = {"transform_graph": f"{ROOT_URI}/Transform/transform_graph/5",
            "examples": f"{ROOT_URI}/Transform/transformed_examples/5"}
    s3.upload_dir(graph, uris["transform_graph"])
    s3.upload_dir(os.path.join(local_root, "transformed"), uris["examples"])
    return uris


def trainer_invocation(uris: Dict[str, str], custom_config: Dict[str, Any]):
    """(input_dict, output_dict, exec_properties) of a Trainer step on `uris`."""
    examples = standard_artifacts.Examples()
    examples.uri = uris["examples"]
    examples.split_names = json.dumps(["train", "eval"])
    graph = standard_artifacts.TransformGraph()
    graph.uri = uris["transform_graph"]
    model = standard_artifacts.Model()
    model.uri = MODEL_URI
    model_run = standard_artifacts.ModelRun()
    model_run.uri = MODEL_RUN_URI
    exec_properties = {"run_fn": RUN_FN, "custom_config": json.dumps(custom_config),
                       "train_args": "{}", "eval_args": "{}"}
    return ({"examples": [examples], "transform_graph": [graph]},
            {"model": [model], "model_run": [model_run]}, exec_properties)


def softmax_config(**overrides) -> Dict[str, Any]:
    config = {"model": "softmax", "image_shape": [28, 28, 1], "num_classes": 10,
              "epochs": 2, "batch_size": 20}
    config.update(overrides)
    return config


def download(s3, uri: str, dest: str) -> List[str]:
    """Copies everything under `uri` to `dest` (boto3: no TensorFlow S3 plugin here)."""
    bucket, prefix = uri[len("s3://"):].split("/", 1)
    prefix = prefix.rstrip("/") + "/"
    got = []
    for key in s3.keys(uri.rstrip("/") + "/"):
        if key.endswith("/"):
            continue
        path = os.path.join(dest, key[len(prefix):])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.client.download_file(bucket, key, path)
        got.append(key[len(prefix):])
    return got


def raw_eval_examples(folder: str, n: int = 64):
    """Raw image examples (as ExampleGen writes them) in `folder`/Split-eval; returns
    (serialized examples, labels)."""
    images, labels = synthetic_digits(n, seed=2)
    serialized = [serialize(image_example(img, int(y))) for img, y in zip(images, labels)]
    os.makedirs(os.path.join(folder, "Split-eval"), exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(folder, "Split-eval", "data.gz"), "GZIP") as w:
        for record in serialized:
            w.write(record)
    return serialized, labels


# ------------------------------------------------------- the distributed Trainer step
# The Trainer step (components/tfjob_trainer.py) run in its own process against the
# stand-in Kubernetes API (tests/k8s_standin.py) operating its jobs, with data and model
# on the S3 stand-in; shared by the TFJob and TrainJob tests.
HARNESS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tfjob_trainer_harness.py")
SECRET_ENV = {"AWS_ACCESS_KEY_ID": ["s3-keys", "accesskey"],
              "AWS_SECRET_ACCESS_KEY": ["s3-keys", "secretkey"]}


@pytest.fixture(scope="module")
def s3_data(tmp_path_factory):
    """(the S3 stand-in, the Transform outputs' URIs on it), once per test module."""
    from tests.s3_standin import s3_server  # pylint: disable=import-outside-toplevel

    with s3_server() as s3:
        s3.bucket(BUCKET)
        yield s3, upload_transform_outputs(s3, str(tmp_path_factory.mktemp("xf")))


def job_settings(**overrides) -> Dict[str, Any]:
    settings = {"image": "registry.example.com/tfx-classics:v1", "workers": 2,
                "poll_seconds": 1.0, "timeout_seconds": 1200, "secret_env": SECRET_ENV}
    settings.update(overrides)
    return settings


def shipped_runtime(namespace: str) -> Dict[str, Any]:
    """k8s/training's TrainingRuntime, as `kubectl apply -k` puts it in `namespace`."""
    import yaml  # pylint: disable=import-outside-toplevel

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "k8s", "training", "tensorflow-runtime.yaml")
    with open(path, encoding="utf-8") as f:
        runtime = yaml.safe_load(f)
    runtime["metadata"]["namespace"] = namespace
    return runtime


@dataclasses.dataclass
class StepRun:
    step: subprocess.CompletedProcess
    api: Any  # the stand-in, closed
    codes: Dict[str, Any]  # job name -> exit codes (TFJob: per replica; TrainJob: per pod)
    logs: Dict[str, Any]

    def tail(self) -> str:
        return (f"exit {self.step.returncode}\n{self.step.stdout[-3000:]}\n"
                f"{self.step.stderr[-6000:]}")


def run_step(s3, uris, custom_config: Dict[str, Any], workdir: str,
             during: Optional[Callable[[Any], None]] = None) -> StepRun:
    """Runs the step; `during(api)` runs while it does (e.g. to kill workers)."""
    from tests import k8s_standin  # pylint: disable=import-outside-toplevel
    from tests.s3_standin import CREDENTIALS  # pylint: disable=import-outside-toplevel

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    secrets = {"s3-keys": {"accesskey": CREDENTIALS["AWS_ACCESS_KEY_ID"],
                           "secretkey": CREDENTIALS["AWS_SECRET_ACCESS_KEY"]}}
    # The workers get the store's address from the step, their keys only from the Secret.
    worker_env = {k: v for k, v in s3.process_env().items() if k not in CREDENTIALS}
    api = k8s_standin.StandIn(operate=True, secrets=secrets, base_env=worker_env,
                              workdir=workdir, runtimes=[shipped_runtime("pipelines")])
    try:
        env = dict(s3.process_env(), PYTHONPATH=root,
                   KUBECONFIG=api.kubeconfig(os.path.join(workdir, "kubeconfig")))
        env.pop("KUBERNETES_SERVICE_HOST", None)
        proc = subprocess.Popen([sys.executable, HARNESS, json.dumps(
            {"uris": uris, "custom_config": custom_config})], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            if during is not None:
                during(api)
            out, err = proc.communicate(timeout=1500)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        step = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        codes, logs = {}, {}
        for body in api.created:
            name = body["metadata"]["name"]
            if body["kind"] == "TFJob":
                codes[name], logs[name] = api.replica_codes(name), api.replica_logs(name)
            else:
                codes[name], logs[name] = api.pod_codes(name), api.pod_logs(name)
        return StepRun(step, api, codes, logs)
    finally:
        api.close()
