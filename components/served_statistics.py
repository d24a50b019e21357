"""The statistics of the data a served version was trained on, kept inside that version.

The Pusher (components/pusher.py) copies StatisticsGen's output for the run's data into
`<serving_root>/<model>/<version>/training_statistics/Split-<split>/FeatureStats.pb`
before it copies the SavedModel, whose `saved_model.pb` goes last. So every complete
version carries its statistics, and whatever moves a version moves them with it:
ServingBaseline's copy of the served version (components/serving_baseline.py), the
model-sync sidecar (trainer/serving/model_sync.py mirrors every file of a version), a
rollback that deletes a version. TF Serving ignores the folder: it loads `saved_model.pb`,
`variables/`, `assets/` and `assets.extra/` (warm-up records) only. Not `assets.extra/`:
TF Serving reads that folder, and its warm-up replay expects only its own records file.

Paths go through `tfx.dsl.io.fileio`, so local, gs:// and s3:// repositories behave alike
(an s3:// path loads TensorFlow's S3 plugin first: components/filesystem.py).
"""
from __future__ import annotations

from typing import List

from tfx.dsl.io import fileio

from components import filesystem

STATISTICS_DIR = "training_statistics"
STATISTICS_FILE = "FeatureStats.pb"  # tfx.components.statistics_gen's file per split
SPLIT_PREFIX = "Split-"


def statistics_dir(version_dir: str) -> str:
    """Where a version folder (or a copy of one) keeps its training statistics."""
    return filesystem.join(version_dir, STATISTICS_DIR)


def write(statistics_uri: str, split_names: List[str], version_dir: str) -> List[str]:
    """Copies StatisticsGen's `Split-<name>/FeatureStats.pb` of every split from the
    ExampleStatistics artifact at `statistics_uri` into `version_dir`; the splits
    written. A split without its file is an error: a version must not carry half."""
    target = statistics_dir(version_dir)
    for split in split_names:
        src = filesystem.join(statistics_uri, f"{SPLIT_PREFIX}{split}", STATISTICS_FILE)
        if not filesystem.exists(src):
            raise FileNotFoundError(f"{src}: no statistics for split {split!r}")
    for split in split_names:
        folder = filesystem.join(target, f"{SPLIT_PREFIX}{split}")
        filesystem.makedirs(folder)
        fileio.copy(filesystem.join(statistics_uri, f"{SPLIT_PREFIX}{split}", STATISTICS_FILE),
                    filesystem.join(folder, STATISTICS_FILE), overwrite=True)
    return list(split_names)


def splits(version_dir: str) -> List[str]:
    """The splits whose statistics `version_dir` carries, sorted (none: [])."""
    folder = statistics_dir(version_dir)
    if not filesystem.isdir(folder):
        return []
    found = []
    for entry in filesystem.listdir(folder):
        name = entry.rstrip("/")
        if name.startswith(SPLIT_PREFIX) and filesystem.exists(
                filesystem.join(folder, name, STATISTICS_FILE)):
            found.append(name[len(SPLIT_PREFIX):])
    return sorted(found)


def copy_to_artifact(version_dir: str, split_names: List[str], artifact_uri: str) -> None:
    """Lays the carried statistics out as an ExampleStatistics artifact at
    `artifact_uri` (TFX's `Split-<name>/FeatureStats.pb`)."""
    for split in split_names:
        folder = filesystem.join(artifact_uri, f"{SPLIT_PREFIX}{split}")
        filesystem.makedirs(folder)
        fileio.copy(filesystem.join(statistics_dir(version_dir), f"{SPLIT_PREFIX}{split}",
                                    STATISTICS_FILE),
                    filesystem.join(folder, STATISTICS_FILE), overwrite=True)
