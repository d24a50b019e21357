"""Prints the installed distributions a lock file does not hold (space-separated).

scripts/setup_env.sh removes them from a reused venv, so the venv is the lock: an orphan
can cost every process (jsonschema, for one, imports the optional packages it finds).

    python scripts/lock_orphans.py requirements.lock
"""
import importlib.metadata
import sys

from packaging.utils import canonicalize_name

# The installer's own tools and the project itself are not in the lock.
ALWAYS = {"pip", "setuptools", "wheel", "tfx-classics"}


def orphans(lock_path: str) -> list:
    with open(lock_path) as f:
        locked = {canonicalize_name(line.split("==")[0].strip())
                  for line in f if "==" in line and not line.lstrip().startswith("#")}
    installed = {canonicalize_name(d.metadata["Name"])
                 for d in importlib.metadata.distributions()}
    return sorted(installed - locked - ALWAYS)


if __name__ == "__main__":
    print(" ".join(orphans(sys.argv[1])))
