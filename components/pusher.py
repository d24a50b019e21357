"""The stock TFX Pusher, with a version number no other push has taken.

TFX 1.16's Pusher names the version `int(time.time())` and, when that folder exists,
skips the copy but still records the push. Two runs whose Pushers run within one second
(two `classics run` on one workspace, two pipeline runs on one cluster) then both report
one version that holds only the first run's model. This executor takes the first free
version at or after both the clock and the highest version already there (so a newer
push is always the version TF Serving's latest-version policy loads). On a local or
mounted folder `os.mkdir` claims the version atomically; object stores have no atomic
create, so there a version is taken when nothing is under it yet (two pushes would have
to list the same free version within the same moment to collide).

The copy is TFX's: every file, then `saved_model.pb` last (TF Serving and
trainer/serving/model_sync.py read that file as "this version is complete"). Given the
run's `statistics` (StatisticsGen's), the version gets them first, in
`<version>/training_statistics/` (components/served_statistics.py): every complete
version carries the statistics of the data it was trained on, for the next run's drift
gate (components/drift_gate.py).
"""
import os
import time
from typing import Any, Dict, List

from absl import logging
from tfx import types
# TFX's own modules, not tfx.v1 (which re-exports them): importing tfx.v1 loads its
# Google Cloud extensions, about 3.5 s in every container that runs this executor.
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.components.base import base_component, executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.types.component_spec import ChannelParameter
from tfx.utils import io_utils, json_utils, proto_utils

from components import served_statistics
from trainer.runtime import object_store
from trainer.serving import rollback

SAVED_MODEL_FILE = "saved_model.pb"


def _taken_versions(base_directory: str) -> List[int]:
    """Versions under `base_directory`, and those a rollback set aside (a new push must
    be above them to be the one served)."""
    base = base_directory.rstrip("/")
    aside = rollback.set_aside_versions(os.path.dirname(base), os.path.basename(base))
    if not fileio.exists(base_directory):
        return aside
    return aside + [int(name.rstrip("/")) for name in fileio.listdir(base_directory)
                    if name.rstrip("/").isdigit()]


def claim_version(base_directory: str, now: float) -> int:
    """A version under `base_directory` no push has taken, at least `now` (seconds) and
    above every version there; its folder exists when this returns."""
    taken = _taken_versions(base_directory)
    version = max([int(now)] + [v + 1 for v in taken])
    if "://" in base_directory:
        # An object store has no folders to claim: a version is free while no object is
        # under it; the copy that follows creates it.
        while fileio.exists(os.path.join(base_directory, str(version))):
            version += 1
        return version
    os.makedirs(base_directory, exist_ok=True)
    while True:
        try:
            os.mkdir(os.path.join(base_directory, str(version)))
            return version
        except FileExistsError:  # another push claimed it since the listing
            version += 1


def copy_model(src: str, dst: str) -> None:
    """Copies the SavedModel folder `src` into `dst`, `saved_model.pb` last. Unlike
    io_utils.copy_dir it never removes `dst` first: that would give up the claim."""
    src = src.rstrip("/")
    for folder, _, files in fileio.walk(src):
        target = dst + folder[len(src):]
        fileio.makedirs(target)
        for name in files:
            if folder != src or name != SAVED_MODEL_FILE:
                fileio.copy(os.path.join(folder, name), os.path.join(target, name),
                            overwrite=True)
    fileio.copy(os.path.join(src, SAVED_MODEL_FILE), os.path.join(dst, SAVED_MODEL_FILE),
                overwrite=True)


class Executor(tfx_pusher.Executor):
    """TFX's Pusher executor for filesystem destinations, versions claimed as above."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            raise NotImplementedError("this Pusher pushes to a filesystem destination only")
        base = destination.filesystem.base_directory
        if object_store.is_s3(base):
            object_store.enable_s3()
        version = str(claim_version(base, time.time()))
        serving_path = os.path.join(base, version)
        logging.info("Model version: %s", version)
        for statistics in input_dict.get(STATISTICS_KEY, []):
            served_statistics.write(
                statistics.uri, artifact_utils.decode_split_names(statistics.split_names),
                serving_path)
        copy_model(model_path, serving_path)
        logging.info("Model written to serving path %s.", serving_path)
        # The archive copy of the pushed model, as TFX's Pusher keeps it.
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path,
                         pushed_version=version)
        logging.info("Model pushed to %s.", model_push.uri)



STATISTICS_KEY = "statistics"


class PusherSpec(standard_component_specs.PusherSpec):
    """TFX's PusherSpec plus the statistics of the training data (optional)."""
    INPUTS = {**standard_component_specs.PusherSpec.INPUTS,
              STATISTICS_KEY: ChannelParameter(type=standard_artifacts.ExampleStatistics,
                                               optional=True)}


class Pusher(pusher_component.Pusher):
    """tfx.components.Pusher with the executor above, and an optional `statistics` input
    (StatisticsGen's output) that each pushed version carries."""
    SPEC_CLASS = PusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, push_destination: pusher_pb2.PushDestination, model=None,
                 model_blessing=None, infra_blessing=None, statistics=None):
        if model is None and infra_blessing is None:
            raise ValueError("Pusher: give the model or the infra_blessing channel")
        # As tfx.components.Pusher.__init__ builds its spec, with the one input more.
        spec = PusherSpec(
            model=model, model_blessing=model_blessing, infra_blessing=infra_blessing,
            statistics=statistics, push_destination=push_destination,
            custom_config=json_utils.dumps(None),
            pushed_model=types.Channel(type=standard_artifacts.PushedModel))
        base_component.BaseComponent.__init__(self, spec=spec)
