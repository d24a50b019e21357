"""Shared behaviour of this project's ExampleGen executors."""
from typing import Any, Dict, List, Optional, Tuple

from absl import logging
from tfx import types
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2

from components import spans

SINGLE_SPLIT = "single"  # input split name meaning "hash-split me into train/eval"


class AtomicExampleGenExecutor(BaseExampleGenExecutor):
    """Removes whatever the Beam job wrote when it fails, so a failed ExampleGen leaves no
    half-written split behind. TFX's local launcher also deletes a failed execution's
    output folders; the Kubeflow v2 container entrypoint does not, hence this. The
    artifact's own folder stays (emptied), as the launcher created it: deleting it too
    made the launcher's own cleanup fail with NotFoundError, hiding the real error.

    Subclasses that check their input before the graph is built, or record something on
    the output after it ran, override `prepare` / `finish`: both run inside the rollback.

    Span folders (components/spans.py) are resolved before anything else, so every
    executor reads the chosen span folder as if it were the whole data folder."""

    def prepare(self, exec_properties: Dict[str, Any]) -> None:
        """Runs before the Beam graph is built (e.g. a scan of every input file)."""

    def finish(self, output_dict: Dict[str, List[types.Artifact]]) -> None:
        """Runs after the examples are written (e.g. extra files or properties)."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        try:
            exec_properties = spans.resolve_in_executor(exec_properties, output_dict)
            self.prepare(exec_properties)
            super().Do(input_dict, output_dict, exec_properties)
            self.finish(output_dict)
        except BaseException:
            for artifacts in output_dict.values():
                for artifact in artifacts:
                    if fileio.exists(artifact.uri):
                        logging.warning("ExampleGen failed: removing partial output %s",
                                        artifact.uri)
                        fileio.rmtree(artifact.uri)
                        fileio.makedirs(artifact.uri)
            raise


def split_configs(patterns: Dict[str, str], train_hash_buckets: int = 4,
                  eval_hash_buckets: int = 1
                  ) -> Tuple[example_gen_pb2.Input, Optional[example_gen_pb2.Output]]:
    """ExampleGen input/output configs for split name -> file pattern.

    Named splits (e.g. train/eval) are kept as they are; a lone `single` split is hashed
    deterministically into train and eval (train_hash_buckets : eval_hash_buckets).
    """
    input_config = example_gen_pb2.Input(splits=[
        example_gen_pb2.Input.Split(name=name, pattern=pattern)
        for name, pattern in patterns.items()])
    if SINGLE_SPLIT not in patterns:
        return input_config, None
    return input_config, example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
        example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=train_hash_buckets),
        example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=eval_hash_buckets),
    ]))
