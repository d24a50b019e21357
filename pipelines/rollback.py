"""`classics rollback MODEL [--to VERSION]`: serve an earlier version of a model
(trainer/serving/rollback.py moves the newer versions aside and records who and when)."""
from __future__ import annotations

import argparse
import os

from pipelines import console
from pipelines.workspace import default_workspace
from trainer.runtime import object_store


def _version(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a version number (the folder's name, "
                                         f"e.g. 1700000000), got {value!r}")
    return int(value)


def add_parser(sub) -> None:
    cmd = sub.add_parser(
        "rollback", help="make TF Serving serve an earlier complete version of a model")
    cmd.add_argument("model", help="served model name, e.g. mnist_cnn (a folder of the "
                                   "serving repository)")
    cmd.add_argument("--to", type=_version, metavar="VERSION",
                     help="the version to serve (default: the newest complete version "
                          "older than the one served now)")
    cmd.add_argument("--serving-root",
                     help="the TF Serving model repository: a folder, gs:// or s3:// "
                          "(default <workspace>/serving)")
    cmd.add_argument("--workspace", help="default ./workspace or $CLASSICS_HOME")
    cmd.set_defaults(func=run)


def serving_root(args) -> str:
    if args.serving_root:
        root = args.serving_root
        return root.rstrip("/") if "://" in root else os.path.abspath(root)
    workspace = os.path.abspath(args.workspace) if args.workspace else default_workspace()
    return os.path.join(workspace, "serving")


def run(args) -> int:
    from trainer.serving import rollback  # pylint: disable=import-outside-toplevel
    root = serving_root(args)
    if object_store.is_s3(root):
        object_store.enable_s3()
    try:
        done = rollback.rollback(root, args.model, args.to)
    except rollback.RollbackError as e:
        console.error(str(e))
        return 1
    print(f"{args.model}: now serving version {done.to_version} (was {done.from_version}); "
          f"set aside in {rollback.set_aside_dir(root, args.model)}: "
          f"{', '.join(map(str, done.set_aside))}")
    print(f"recorded in {rollback.record_path(root, args.model)} ({done.user}, {done.time})")
    return 0
