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
trainer/serving/model_sync.py read that file as "this version is complete").
"""
import os
import time
from typing import Any, Dict, List

from absl import logging
from tfx import types
from tfx import v1 as tfx
from tfx.components.pusher import executor as tfx_pusher
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

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
        copy_model(model_path, serving_path)
        logging.info("Model written to serving path %s.", serving_path)
        # The archive copy of the pushed model, as TFX's Pusher keeps it.
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path,
                         pushed_version=version)
        logging.info("Model pushed to %s.", model_push.uri)



class Pusher(tfx.components.Pusher):
    """tfx.components.Pusher with the executor above (same spec, inputs and outputs)."""
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
