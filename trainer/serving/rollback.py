"""Rolling a served model back to an earlier version of the TF Serving repository.

The repository is TF Serving's `model_base_path` layout, `<serving_root>/<model>/<int
version>/`, which TF Serving reads with its default version policy, `latest {
num_versions: 1 }`: the highest child folder whose name parses as an integer
(tensorflow_serving/sources/storage_path/file_system_storage_path_source.cc,
`IndexChildrenByVersion` and `AspireLatestVersions`; names that do not parse are skipped).
A rollback therefore moves every version above the target out of the model's folder,
into `<serving_root>/.rolled-back/<model>/<version>/`, a folder TF Serving is never
pointed at. Everything that reads the repository then agrees on the served version
without being told about rollbacks:

- TF Serving (local folder or gs://) loads the target on its next file-system poll;
- the model-sync sidecar (trainer/serving/model_sync.py) sees the moved versions gone
  upstream and drops them from its mirror (`.rolled-back` is no valid model name, so it
  is never mirrored);
- ServingBaseline (components/serving_baseline.py) copies the highest complete version,
  the target, so the next run's model is judged against what is served;
- the Pusher claims versions above those set aside too (components/pusher.py), so the
  next blessed push becomes the highest version and is served: a push ends a rollback.

The alternative, a `specific { versions: N }` policy in `models.config`, lives outside
the repository (a ConfigMap in k8s/base/serving): the sidecar, ServingBaseline (a
pipeline step on Kubeflow) and the Pusher cannot see it, and it would pin the version
until someone edits the file again.

Who rolled back and when is kept in `<serving_root>/<model>/rollback.json` (not a
version: TF Serving, the sidecar and ServingBaseline skip it), newest entry last.
An entry describes what is served only while its target is the served version.
Paths go through `tfx.dsl.io.fileio`, as in the Pusher and ServingBaseline, so s3:// and
gs:// repositories work as local folders do (s3:// needs
`trainer.runtime.object_store.enable_s3()` first).
"""
from __future__ import annotations

import dataclasses
import datetime
import getpass
import json
import os
from typing import Dict, List, Optional

from trainer.serving.model_config import write_atomically

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
SET_ASIDE_FOLDER = ".rolled-back"
RECORD_FILE = "rollback.json"


class RollbackError(ValueError):
    """A rollback that cannot be done; nothing was changed."""


def _is_local(path: str) -> bool:
    return "://" not in path


class _LocalFiles:
    """The part of fileio's interface used here, for local paths without importing
    TensorFlow (a rollback is an urgent command; it should start at once)."""
    exists = staticmethod(os.path.exists)
    isdir = staticmethod(os.path.isdir)
    listdir = staticmethod(os.listdir)
    open = staticmethod(lambda path, mode: open(path, mode, encoding="utf-8"))


def _files(path: str):
    if _is_local(path):
        return _LocalFiles
    from tfx.dsl.io import fileio  # pylint: disable=import-outside-toplevel
    return fileio


def model_dir(serving_root: str, model: str) -> str:
    return os.path.join(serving_root.rstrip("/"), model)


def set_aside_dir(serving_root: str, model: str) -> str:
    return os.path.join(serving_root.rstrip("/"), SET_ASIDE_FOLDER, model)


def version_folders(folder: str) -> Dict[int, bool]:
    """`{version: complete}` for the all-digit sub-folders of `folder` (complete: it holds
    saved_model.pb or saved_model.pbtxt, which the Pusher copies last)."""
    fileio = _files(folder)
    if not fileio.exists(folder) or not fileio.isdir(folder):
        return {}
    found = {}
    for entry in fileio.listdir(folder):
        name = entry.rstrip("/")  # object stores list sub-folders with a slash
        if name.isdigit():
            found[int(name)] = any(fileio.exists(os.path.join(folder, name, f))
                                   for f in SAVED_MODEL_FILES)
    return found


def complete_versions(folder: str) -> List[int]:
    return sorted(v for v, complete in version_folders(folder).items() if complete)


def served_version(serving_root: str, model: str) -> Optional[int]:
    """The version TF Serving serves for `model`: the highest complete one."""
    versions = complete_versions(model_dir(serving_root, model))
    return versions[-1] if versions else None


def set_aside_versions(serving_root: str, model: str) -> List[int]:
    """Versions a rollback moved out of the model's folder, ascending."""
    return sorted(version_folders(set_aside_dir(serving_root, model)))


@dataclasses.dataclass(frozen=True)
class Rollback:
    model: str
    from_version: int  # served before
    to_version: int  # served after
    set_aside: List[int]  # moved to <serving_root>/.rolled-back/<model>/
    user: str
    time: str  # ISO 8601, UTC

    @classmethod
    def from_dict(cls, data: dict) -> "Rollback":
        return cls(model=str(data["model"]), from_version=int(data["from_version"]),
                   to_version=int(data["to_version"]),
                   set_aside=[int(v) for v in data.get("set_aside", [])],
                   user=str(data["user"]), time=str(data["time"]))


def record_path(serving_root: str, model: str) -> str:
    return os.path.join(model_dir(serving_root, model), RECORD_FILE)


def read_record(serving_root: str, model: str) -> List[Rollback]:
    """Every rollback of `model`, oldest first (empty: never rolled back)."""
    path = record_path(serving_root, model)
    fileio = _files(path)
    if not fileio.exists(path):
        return []
    with fileio.open(path, "r") as f:
        text = f.read()
    try:
        data = json.loads(text)
        return [Rollback.from_dict(d) for d in data["rollbacks"]]
    except (ValueError, KeyError, TypeError) as e:
        raise RollbackError(f"{path}: not a rollback record: {e}") from None


def active_rollback(serving_root: str, model: str) -> Optional[Rollback]:
    """The last rollback if its target is still what is served (a later push, served
    instead, ends it)."""
    history = read_record(serving_root, model)
    if history and history[-1].to_version == served_version(serving_root, model):
        return history[-1]
    return None


def _write_record(serving_root: str, model: str, history: List[Rollback]) -> None:
    path = record_path(serving_root, model)
    text = json.dumps({"model": model,
                       "rollbacks": [dataclasses.asdict(r) for r in history]}, indent=1) + "\n"
    if _is_local(path):
        write_atomically(path, text)
    else:
        # One object written whole: S3 and GCS show a new object only once its upload
        # has completed, so a reader never sees half of it.
        with _files(path).open(path, "w") as f:
            f.write(text)


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no USER/LOGNAME and no passwd entry (containers)
        return f"uid {os.getuid()}"


def plan(serving_root: str, model: str, to: Optional[int] = None) -> Rollback:
    """The rollback of `model` to `to` (default: the newest complete version older than
    the served one), checked; nothing is changed."""
    folder = model_dir(serving_root, model)
    fileio = _files(folder)
    if not fileio.exists(folder) or not fileio.isdir(folder):
        known = sorted(e.rstrip("/") for e in fileio.listdir(serving_root)
                       if not e.startswith(".") and e.rstrip("/") != SET_ASIDE_FOLDER
                       ) if fileio.exists(serving_root) else []
        raise RollbackError(f"no model {model!r} in the serving repository {serving_root}"
                            + (f" (models there: {', '.join(known)})" if known
                               else " (it holds no model)"))
    folders = version_folders(folder)
    complete = sorted(v for v, ok in folders.items() if ok)
    if not complete:
        raise RollbackError(f"{folder}: no complete version (with saved_model.pb): "
                            "nothing is served, nothing to roll back")
    served = complete[-1]
    if to is None:
        earlier = [v for v in complete if v < served]
        if not earlier:
            raise RollbackError(f"{model}: version {served} is served and no complete "
                                "version older than it is left to roll back to")
        to = earlier[-1]
    elif to not in folders:
        aside = (" (it was set aside by a rollback, in "
                 f"{set_aside_dir(serving_root, model)})"
                 if to in set_aside_versions(serving_root, model) else "")
        raise RollbackError(f"{model}: no version {to} in {folder}{aside}; complete "
                            f"versions: {', '.join(map(str, complete))}")
    elif not folders[to]:
        raise RollbackError(f"{model}: version {to} is incomplete (no saved_model.pb in "
                            f"{os.path.join(folder, str(to))}): TF Serving cannot load it")
    elif to == served:  # (a complete version above it would be the served one)
        raise RollbackError(f"{model}: version {to} is the one served now; a rollback "
                            "goes to an older version")
    moving = sorted(v for v in folders if v > to)
    unfinished = [v for v in moving if not folders[v]]
    if unfinished:
        # A push still copying would go on writing into a folder moved away (a local
        # Pusher re-creates it, saved_model.pb last, around half a model); a failed push
        # is left for a person to look at.
        raise RollbackError(
            f"{model}: version(s) {', '.join(map(str, unfinished))} in {folder} have no "
            "saved_model.pb: a push still copying (wait for it to finish) or one that "
            "failed (delete its folder), then roll back")
    clash = set(moving) & set(set_aside_versions(serving_root, model))
    if clash:
        raise RollbackError(
            f"{model}: version(s) {', '.join(map(str, sorted(clash)))} already set aside in "
            f"{set_aside_dir(serving_root, model)}; move them away first")
    return Rollback(model=model, from_version=served, to_version=to, set_aside=moving,
                    user="", time="")


def _move_version(src: str, dst: str) -> None:
    """Moves one version folder. Locally one rename (TF Serving sees it gone at once);
    on an object store a copy, then saved_model.pb deleted first (the version stops
    counting as complete), then the rest."""
    fileio = _files(src)
    if _is_local(src):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        os.rename(src, dst)
        return
    src = src.rstrip("/")
    for folder, _, files in fileio.walk(src):
        target = dst + folder.rstrip("/")[len(src):]
        fileio.makedirs(target)
        for name in files:
            fileio.copy(os.path.join(folder, name), os.path.join(target, name),
                        overwrite=True)
    for name in SAVED_MODEL_FILES:
        if fileio.exists(os.path.join(src, name)):
            fileio.remove(os.path.join(src, name))
    fileio.rmtree(src)


def rollback(serving_root: str, model: str, to: Optional[int] = None,
             user: Optional[str] = None,
             now: Optional[datetime.datetime] = None) -> Rollback:
    """Makes TF Serving serve version `to` of `model` (see the module docstring) and
    records who did it and when. Refusals (RollbackError) change nothing."""
    planned = plan(serving_root, model, to)
    history = read_record(serving_root, model)  # a damaged record refuses here too
    when = (now or datetime.datetime.now(datetime.timezone.utc)).astimezone(
        datetime.timezone.utc)
    done = dataclasses.replace(planned, user=user or current_user(),
                               time=when.isoformat(timespec="seconds"))
    # The record first: it only describes what is served while its target is served,
    # so a move that fails half-way leaves no false claim behind.
    _write_record(serving_root, model, history + [done])
    folder = model_dir(serving_root, model)
    names = {int(e.rstrip("/")): e.rstrip("/") for e in _files(folder).listdir(folder)
             if e.rstrip("/").isdigit()}
    # Oldest first, the served version last: TF Serving keeps serving it until the end
    # instead of stepping through the versions in between.
    for version in done.set_aside:
        _move_version(os.path.join(folder, names[version]),
                      os.path.join(set_aside_dir(serving_root, model), names[version]))
    return done


def describe(entry: Rollback) -> str:
    return (f"rolled back from version {entry.from_version} by {entry.user} at "
            f"{entry.time}")


__all__ = ("RECORD_FILE", "Rollback", "RollbackError", "SET_ASIDE_FOLDER",
           "active_rollback", "complete_versions", "current_user", "describe",
           "model_dir", "plan", "read_record", "rollback", "served_version",
           "set_aside_dir", "set_aside_versions", "version_folders")
