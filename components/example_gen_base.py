"""Shared behaviour of this project's ExampleGen executors."""
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio


class AtomicExampleGenExecutor(BaseExampleGenExecutor):
    """Removes whatever the Beam job wrote when it fails, so a failed ExampleGen leaves no
    half-written split behind (TFX itself only marks the execution FAILED in MLMD)."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        try:
            super().Do(input_dict, output_dict, exec_properties)
        except Exception:
            for artifacts in output_dict.values():
                for artifact in artifacts:
                    if fileio.exists(artifact.uri):
                        logging.warning("ExampleGen failed: removing partial output %s",
                                        artifact.uri)
                        fileio.rmtree(artifact.uri)
            raise
