"""MnistExampleGen: a Beam ExampleGen for the MNIST IDX files.

Reads `<prefix>-images-idx3-ubyte[.gz]` + `<prefix>-labels-idx1-ubyte[.gz]` pairs and emits
tf.Examples with two features:

- `image`: int64 list of rows*cols pixel values 0..255 in row-major order (one value per
  pixel; a uint8 image is exactly representable, and the raw-image serving signature can
  build the same feature from a uint8 tensor without any string encoding);
- `label`: int64 class id.

The `t10k` files, when present, are the eval split; otherwise the train files are split
4:1 by a deterministic hash of each example. Every file is validated (magic number,
dimensions, length, matching counts, gzip integrity, labels 0-9) while the Beam graph is
built, i.e. before anything is written, so a bad file fails the component with a message
naming it and leaves no Examples artifact behind. Each record range is written as its
own shard (components/shard_writer.py).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec

from components import filesystem as fs
from components import idx_format, spans
from components.example_gen_base import SINGLE_SPLIT, split_configs
from components.shard_writer import ShardWritingExecutor
from trainer import contract

TRAIN_PREFIX = "train"
TEST_PREFIX = "t10k"
# Records per Beam work item: IDX records are fixed-size, so ranges can be read in parallel.
_SHARD_RECORDS = 5000


def split_pattern(prefix: str) -> str:
    """The glob (relative to input_base) that matches one images/labels pair."""
    return f"{prefix}-*-idx[13]-ubyte*"


def find_pair(input_base: str, pattern: str) -> Tuple[str, str]:
    """Returns (images_path, labels_path) matched by `pattern` under `input_base`."""
    matches = fs.glob_files(input_base, pattern)
    images = [m for m in matches if "-images-idx3-ubyte" in fs.basename(m)]
    labels = [m for m in matches if "-labels-idx1-ubyte" in fs.basename(m)]
    where = fs.join(input_base, pattern)
    if len(images) != 1 or len(labels) != 1:
        raise idx_format.IdxFormatError(
            where, f"expected exactly one images file and one labels file, found "
                   f"images={[fs.basename(p) for p in images]} "
                   f"labels={[fs.basename(p) for p in labels]}")
    return images[0], labels[0]


def has_test_split(input_base: str) -> bool:
    return bool(fs.glob_files(input_base, split_pattern(TEST_PREFIX)))


def _read_range(item: Tuple[Tuple[int, int], idx_format.MnistPair]) -> List[bytes]:
    (start, stop), pair = item
    return contract.image_examples(idx_format.read_records(pair.images, start, stop),
                                   idx_format.read_records(pair.labels, start, stop))


class Executor(ShardWritingExecutor):
    """ExampleGen executor reading MNIST IDX pairs: the files hold the digits in no
    class order, so each record range is written as its own shard (shard_writer)."""

    def plan(self, exec_properties: Dict[str, Any], split_pattern: str  # pylint: disable=redefined-outer-name
             ) -> List[Tuple[Tuple[int, int], idx_format.MnistPair]]:
        images_path, labels_path = find_pair(exec_properties["input_base"], split_pattern)
        # Validation happens here, at graph construction, so bad input never reaches a write.
        pair = idx_format.validate_mnist_pair(images_path, labels_path)
        return [((s, min(s + _SHARD_RECORDS, pair.count)), pair)
                for s in range(0, pair.count, _SHARD_RECORDS)]

    def records_fn(self):
        return _read_range


class MnistExampleGen(FileBasedExampleGen):
    """FileBasedExampleGen over MNIST IDX files (the driver fingerprints them for caching)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)


def create(input_base: str, eval_hash_buckets: int = 1, train_hash_buckets: int = 4,
           test_split: Optional[bool] = None, span: Optional[int] = None) -> MnistExampleGen:
    """Builds the component for `input_base`, choosing t10k-as-eval or a hash split.

    `test_split=None` looks at the folder; a folder that is not visible here (a cluster
    volume when compiling for Kubeflow) is assumed to hold the official four files.
    With span folders (components/spans.py) the newest span is read, or `span`.
    """
    choice = spans.choose(input_base, span)
    folder = choice.folder
    visible = fs.isdir(folder)
    if test_split is None:
        test_split = has_test_split(folder) if visible else True
    patterns = ({"train": split_pattern(TRAIN_PREFIX), "eval": split_pattern(TEST_PREFIX)}
                if test_split else {SINGLE_SPLIT: split_pattern(TRAIN_PREFIX)})
    if visible and choice.span is not None:  # a span folder of another corpus kind
        for pattern in patterns.values():
            find_pair(folder, pattern)
    input_config, output_config = split_configs(choice.patterns(patterns),
                                                train_hash_buckets, eval_hash_buckets)
    return MnistExampleGen(input_base=input_base, input_config=input_config,
                           output_config=output_config, range_config=choice.range_config)
