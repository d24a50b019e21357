"""Runs an ExampleGen component's executor directly, the way TFX's launcher does, and
reads its output splits back: for the per-ExampleGen tests and nothing else."""
import glob
import os
from typing import List

import tensorflow as tf
from tfx.components.example_gen import driver as example_gen_driver
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import proto_utils


def run_executor(component, executor_cls, output_dir: str, with_driver: bool = False):
    """Exec properties as the launcher passes them (protos as JSON strings); the output
    folder exists before the executor runs. Returns the Examples artifact.

    `with_driver`: first TFX's FileBasedDriver resolves the span and records it on the
    artifact, as LocalDagRunner's launcher runs it (tfx/components/example_gen/driver.py
    Driver.run); without, the executor sees the patterns as compiled, as on open-source
    Kubeflow Pipelines, which never runs that driver."""
    props = {key: proto_utils.proto_to_json(value) if hasattr(value, "DESCRIPTOR") else value
             for key, value in component.exec_properties.items()}
    examples = standard_artifacts.Examples()
    examples.uri = output_dir
    if with_driver:
        props = example_gen_driver.FileBasedDriver(None).resolve_exec_properties(
            props, None, None)
        example_gen_driver.update_output_artifact(props, examples.mlmd_artifact)
    os.makedirs(output_dir, exist_ok=True)
    executor_cls().Do({}, {standard_component_specs.EXAMPLES_KEY: [examples]}, props)
    return examples


def read_examples(uri: str, split: str) -> List[tf.train.Example]:
    files = sorted(glob.glob(os.path.join(uri, f"Split-{split}", "*.gz")))
    return [tf.train.Example.FromString(r.numpy())
            for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
