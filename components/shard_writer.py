"""ExampleGen output for sources whose records are already in random order (MNIST IDX,
CIFAR-10 binary): each work item (a record range) goes straight into its own gzipped
TFRecord file per output split.

TFX's WriteSplit sends every record through a Reshuffle (a GroupByKey) and then Beam's
file sink. For files already in random order the shuffle buys nothing and costs a lot:
every record is encoded, grouped and decoded again, and in multi_processing mode crosses
between processes twice (TFX's own source marks the shuffle "make shuffle optional").
Here the DoFn that reads a range builds its tf.Examples and writes them with TensorFlow's
record writer, whose gzip compression and write release the GIL (as does building a
range's records with contract.image_examples), so the DirectRunner's multi_threading mode
runs two ranges at once on two cores in one process
(pipelines/config.py SHARD_WRITER_BEAM_ARGS; README "Corpora and ingestion").

What is written is what WriteSplit leaves: `Split-<name>/data_tfrecord-<i>-of-<n>.gz`,
serialized tf.Examples in gzipped TFRecords, the same records per split; a hash split uses
TFX's own partition function on the same bytes. A retried work item rewrites its files
from the start, and a failed job leaves nothing (AtomicExampleGenExecutor).
"""
from __future__ import annotations

import abc
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import apache_beam as beam
from tfx.components.example_gen import base_example_gen_executor, utils, write_split
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs as K
from tfx.utils import proto_utils

from components import filesystem as fs
from components.example_gen_base import AtomicExampleGenExecutor

SUFFIX = ".gz"
# Where one input split's records go: (split folders, cumulative hash buckets per output
# split or None, the split config) - one folder and None when the input split is kept.
Targets = Tuple[List[str], Optional[List[int]], Optional[example_gen_pb2.SplitConfig]]


def shard_name(index: int, count: int) -> str:
    """The file name Beam's sink gives shard `index` of `count` under WriteSplit."""
    return f"{write_split.DEFAULT_FILE_NAME}-{index:05d}-of-{count:05d}{SUFFIX}"


class _WriteShard(beam.DoFn):
    """Writes one work item's records: one file per target split folder."""

    def __init__(self, records: Callable[[Any], Iterable[bytes]]):
        super().__init__()
        self._records = records

    def process(self, job: Tuple[Any, int, int, Targets]) -> Iterator[str]:
        item, index, count, (folders, buckets, split_config) = job
        name = shard_name(index, count)
        writers = [fs.gzip_record_writer(fs.join(f, name)) for f in folders]
        try:
            for record in self._records(item):
                # The hash split TFX's GenerateExamplesByBeam applies (sha256 of the bytes).
                k = 0 if buckets is None else base_example_gen_executor._PartitionFn(  # pylint: disable=protected-access
                    record, len(buckets), buckets, split_config)
                writers[k].write(record)
        finally:
            for w in writers:
                w.close()
        yield name


class ShardWritingExecutor(AtomicExampleGenExecutor):
    """An ExampleGen executor that writes its splits shard by shard (module docstring).

    Subclasses give `plan` (the work items of one input split, checking the files while
    the graph is built) and `records_fn` (a module-level function: item -> serialized
    tf.Examples, run by the Beam workers)."""

    @abc.abstractmethod
    def plan(self, exec_properties: Dict[str, Any], split_pattern: str) -> List[Any]:
        """The work items of the input split matched by `split_pattern`, in file order."""

    @abc.abstractmethod
    def records_fn(self) -> Callable[[Any], Iterable[bytes]]:
        """The function that turns one work item into serialized tf.Examples."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        """The records of one input split as a PCollection: TFX's interface, for TFX's
        own GenerateExamplesByBeam and WriteSplit (this executor writes without them)."""
        plan, records = self.plan, self.records_fn()

        @beam.ptransform_fn
        def _ToExample(pipeline, exec_properties, split_pattern):
            return (pipeline
                    | "Items" >> beam.Create(plan(exec_properties, split_pattern))
                    | "Reshuffle" >> beam.Reshuffle()
                    | "Records" >> beam.FlatMap(records))
        return _ToExample

    def Do(self, input_dict, output_dict, exec_properties) -> None:
        self._examples = output_dict[K.EXAMPLES_KEY]
        super().Do(input_dict, output_dict, exec_properties)

    def GenerateExamplesByBeam(self, pipeline: beam.Pipeline, exec_properties: Dict[str, Any]
                               ) -> Dict[str, beam.pvalue.PCollection]:
        """Adds the reading and writing of every split to `pipeline`; returns no
        PCollections, so TFX's Do has nothing left for WriteSplit."""
        _check_formats(exec_properties)
        input_config = proto_utils.json_to_proto(
            exec_properties[K.INPUT_CONFIG_KEY], example_gen_pb2.Input())
        output_config = proto_utils.json_to_proto(
            exec_properties[K.OUTPUT_CONFIG_KEY], example_gen_pb2.Output())
        names = utils.generate_output_split_names(input_config, output_config)
        folders = [artifact_utils.get_split_uri(self._examples, n) for n in names]
        for folder in folders:  # before the job, so no two writers race to create one
            fs.makedirs(folder)
        split_config = output_config.split_config
        targets: List[Tuple[str, Targets]]
        if split_config.splits:  # one input split, hashed into the output splits
            buckets, total = [], 0
            for split in split_config.splits:
                total += split.hash_buckets
                buckets.append(total)
            targets = [(input_config.splits[0].pattern, (folders, buckets, split_config))]
        else:
            targets = [(s.pattern, ([f], None, None))
                       for s, f in zip(input_config.splits, folders)]
        jobs = []
        for pattern, target in targets:
            items = self.plan(exec_properties, pattern)
            jobs += [(item, i, len(items), target) for i, item in enumerate(items)]
        _ = (pipeline
             | "Items" >> beam.Create(jobs)
             | "Reshuffle" >> beam.Reshuffle()  # spreads the items over the workers
             | "WriteShards" >> beam.ParDo(_WriteShard(self.records_fn())))
        return {}


def _check_formats(exec_properties: Dict[str, Any]) -> None:
    payload = exec_properties.get(K.OUTPUT_DATA_FORMAT_KEY, example_gen_pb2.FORMAT_TF_EXAMPLE)
    files = exec_properties.get(K.OUTPUT_FILE_FORMAT_KEY, example_gen_pb2.FORMAT_TFRECORDS_GZIP)
    if payload not in (example_gen_pb2.FORMAT_UNSPECIFIED, example_gen_pb2.FORMAT_TF_EXAMPLE):
        raise ValueError(f"this ExampleGen writes tf.Examples only, not payload format "
                         f"{example_gen_pb2.PayloadFormat.Name(payload)}")
    if files not in (example_gen_pb2.FILE_FORMAT_UNSPECIFIED,
                     example_gen_pb2.FORMAT_TFRECORDS_GZIP):
        raise ValueError(f"this ExampleGen writes gzipped TFRecords only, not "
                         f"{example_gen_pb2.FileFormat.Name(files)}")
