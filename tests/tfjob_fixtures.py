"""A Trainer step's inputs and outputs on the S3 stand-in, for the multi-worker tests:
Transform outputs (graph + transformed examples, built by tests/transformed_fixtures.py)
uploaded to s3://, and the artifacts and exec properties TFX would hand the Trainer's
executor for them (MNIST softmax, small and quick)."""
import json
import os
from typing import Any, Dict, List

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
