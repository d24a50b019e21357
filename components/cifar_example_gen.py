"""CifarExampleGen: a Beam ExampleGen for the CIFAR-10 binary batches.

Reads `data_batch_*.bin` (train) and `test_batch.bin` (eval) from `input_base` or from its
`cifar-10-batches-bin/` sub-folder (the layout `classics data fetch cifar10` leaves), see
components/cifar_format.py, and emits tf.Examples with the features shared with the
Transform and the Trainer:

- `image`: int64 list of 32*32*3 = 3072 pixel values 0..255, row-major HWC order (the
  file's R, G and B planes are interleaved per pixel);
- `label`: int64 class id 0..9 (cifar_format.LABEL_NAMES gives the names).

`test_batch.bin`, when present, is the eval split; otherwise the train batches are split
4:1 by a deterministic hash of each serialized example. Every file is validated (not
empty, whole records, label bytes 0..9) while the Beam graph is built, i.e. before
anything is written, so a bad file fails the component with a message naming it and
the AtomicExampleGenExecutor leaves no Examples artifact behind. Records are fixed-size,
so each file is read as record ranges in parallel, and each range is written as its own
shard (components/shard_writer.py: the batches are in random order already).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec

from components import cifar_format, spans
from components import filesystem as fs
from trainer import contract
from components.example_gen_base import split_configs
from components.shard_writer import ShardWritingExecutor

# Records per Beam work item: records are fixed-size, so ranges can be read in parallel.
_SHARD_RECORDS = 2500


def split_patterns(input_base: str) -> Dict[str, str]:
    """Input split name -> glob relative to input_base: train/eval, or `single` when
    there is no test batch (then hash-split). A folder not visible here (a cluster volume
    when compiling for Kubeflow) is assumed to hold what `classics data fetch cifar10`
    writes: cifar-10-batches-bin/ with the five data batches and the test batch."""
    if not fs.isdir(input_base):
        prefix = cifar_format.BATCHES_DIR + "/"
        return {"train": prefix + cifar_format.TRAIN_PATTERN,
                "eval": prefix + cifar_format.TEST_PATTERN}
    folder = cifar_format.batches_dir(input_base)
    # batches_dir returns input_base itself or input_base joined with BATCHES_DIR.
    prefix = "" if folder == input_base else cifar_format.BATCHES_DIR + "/"
    has_test = fs.isfile(fs.join(folder, cifar_format.TEST_PATTERN))
    cifar_format.find_batches(folder, cifar_format.TRAIN_PATTERN)  # fail at construction
    if has_test:
        return {"train": prefix + cifar_format.TRAIN_PATTERN,
                "eval": prefix + cifar_format.TEST_PATTERN}
    return {"single": prefix + cifar_format.TRAIN_PATTERN}


def _read_range(item: Tuple[cifar_format.CifarBatch, int, int]) -> List[bytes]:
    batch, start, stop = item
    return contract.image_examples(*cifar_format.read_records(batch, start, stop))


def plan_ranges(batches: List[cifar_format.CifarBatch], shard_records: int
                ) -> List[Tuple[cifar_format.CifarBatch, int, int]]:
    return [(b, s, min(s + shard_records, b.count))
            for b in batches for s in range(0, b.count, shard_records)]


class Executor(ShardWritingExecutor):
    """ExampleGen executor reading CIFAR-10 binary batches: the batches are in random
    order already, so each record range is written as its own shard (shard_writer)."""

    def plan(self, exec_properties: Dict[str, Any], split_pattern: str
             ) -> List[Tuple[cifar_format.CifarBatch, int, int]]:
        files = cifar_format.find_batches(exec_properties["input_base"], split_pattern)
        # Validation happens here, at graph construction, so bad input never reaches a write.
        return plan_ranges([cifar_format.validate(path) for path in files], _SHARD_RECORDS)

    def records_fn(self):
        return _read_range


class CifarExampleGen(FileBasedExampleGen):
    """FileBasedExampleGen over CIFAR-10 binary batches (the driver fingerprints them)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)


def create(input_base: str, eval_hash_buckets: int = 1, train_hash_buckets: int = 4,
           span: Optional[int] = None) -> CifarExampleGen:
    """Builds the component for `input_base`, choosing test_batch-as-eval or a hash split;
    with span folders (components/spans.py) the newest span, or `span`."""
    choice = spans.choose(input_base, span)
    patterns = choice.patterns(split_patterns(choice.folder))
    input_config, output_config = split_configs(patterns, train_hash_buckets,
                                                eval_hash_buckets)
    return CifarExampleGen(input_base=input_base, input_config=input_config,
                           output_config=output_config, range_config=choice.range_config)
