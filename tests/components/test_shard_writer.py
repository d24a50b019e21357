"""The shard-writing ExampleGen executor (components/shard_writer.py), through CifarExampleGen
on small CIFAR-10 binary batches: the same records per split as TFX's own WriteSplit path,
one file per work item and split, in every Beam mode; other output formats refused."""
import glob
import os

import pytest
import tensorflow as tf
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.components.base import base_beam_executor
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs as K

from components import cifar_example_gen, shard_writer
from pipelines.config import BEAM_MODES, SHARD_WRITER_BEAM_ARGS, with_local_dependencies
from tests.example_gen_harness import run_executor
from tests.components.test_cifar_example_gen import synthetic_cifar, write_batches


class _TfxWriteSplit(cifar_example_gen.Executor):
    """The same reader through TFX's own GenerateExamplesByBeam, i.e. WriteSplit."""
    GenerateExamplesByBeam = BaseExampleGenExecutor.GenerateExamplesByBeam


def _with_args(executor_cls, beam_args):
    return lambda: executor_cls(base_beam_executor.BaseBeamExecutor.Context(
        beam_pipeline_args=with_local_dependencies(beam_args)))


def _records(uri, split):
    files = sorted(glob.glob(os.path.join(uri, f"Split-{split}", "*")))
    return sorted(r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def _names(uri, split):
    return sorted(os.listdir(os.path.join(uri, f"Split-{split}")))


@pytest.fixture
def small_ranges(monkeypatch):
    monkeypatch.setattr(cifar_example_gen, "_SHARD_RECORDS", 4)  # several items per file


def test_named_splits_hold_what_tfx_write_split_writes_one_file_per_range(tmp_path,
                                                                          small_ranges):
    data = write_batches(str(tmp_path / "data"), [synthetic_cifar(9, 1), synthetic_cifar(6, 2)],
                         synthetic_cifar(5, 3))
    component = cifar_example_gen.create(data)
    ours = run_executor(component, cifar_example_gen.Executor, str(tmp_path / "ours")).uri
    tfx_uri = run_executor(component, _TfxWriteSplit, str(tmp_path / "tfx")).uri
    for split in ("train", "eval"):
        assert _records(ours, split) == _records(tfx_uri, split)
    # Ranges 0-3, 4-7, 8 of the first batch and 0-3, 4-5 of the second; 0-3, 4 of the test.
    assert _names(ours, "train") == [shard_writer.shard_name(i, 5) for i in range(5)]
    assert _names(ours, "eval") == ["data_tfrecord-00000-of-00002.gz",
                                    "data_tfrecord-00001-of-00002.gz"]
    assert len(_records(ours, "train")) == 15 and len(_records(ours, "eval")) == 5


def test_a_hash_split_puts_each_record_where_tfx_puts_it(tmp_path, small_ranges):
    data = write_batches(str(tmp_path / "data"), [synthetic_cifar(25, 4), synthetic_cifar(25, 5)])
    component = cifar_example_gen.create(data)
    ours = run_executor(component, cifar_example_gen.Executor, str(tmp_path / "ours")).uri
    tfx_uri = run_executor(component, _TfxWriteSplit, str(tmp_path / "tfx")).uri
    train, evaluation = _records(ours, "train"), _records(ours, "eval")
    assert train == _records(tfx_uri, "train") and evaluation == _records(tfx_uri, "eval")
    assert evaluation and len(train) + len(evaluation) == 50
    # Every range has its file in both splits (empty where no record hashed there).
    assert _names(ours, "train") == _names(ours, "eval") == [
        shard_writer.shard_name(i, 14) for i in range(14)]


@pytest.mark.parametrize("mode", ["shard_writer_default", "multi_processing"])
def test_other_beam_modes_write_the_same_records(tmp_path, small_ranges, mode):
    data = write_batches(str(tmp_path / "data"), [synthetic_cifar(9, 6)], synthetic_cifar(5, 7))
    component = cifar_example_gen.create(data)
    args = SHARD_WRITER_BEAM_ARGS if mode == "shard_writer_default" else BEAM_MODES[mode]
    threaded = run_executor(component, _with_args(cifar_example_gen.Executor, args),
                            str(tmp_path / mode)).uri
    plain = run_executor(component, cifar_example_gen.Executor, str(tmp_path / "plain")).uri
    for split in ("train", "eval"):
        assert _records(threaded, split) == _records(plain, split)
        assert _names(threaded, split) == _names(plain, split)


@pytest.mark.parametrize("key,value,message", [
    (K.OUTPUT_FILE_FORMAT_KEY, example_gen_pb2.FILE_FORMAT_PARQUET,
     "writes gzipped TFRecords only, not FILE_FORMAT_PARQUET"),
    (K.OUTPUT_DATA_FORMAT_KEY, example_gen_pb2.FORMAT_PARQUET,
     "writes tf.Examples only, not payload format FORMAT_PARQUET"),
])
def test_other_output_formats_are_refused_before_anything_is_written(tmp_path, key, value,
                                                                     message):
    data = write_batches(str(tmp_path / "data"), [synthetic_cifar(3, 1)], synthetic_cifar(2, 2))
    component = cifar_example_gen.create(data)
    component.exec_properties[key] = value
    out = str(tmp_path / "out")
    with pytest.raises(ValueError, match=message):
        run_executor(component, cifar_example_gen.Executor, out)
    assert os.listdir(out) == []


def test_a_retried_item_rewrites_its_file_from_the_start(tmp_path):
    folder = tmp_path / "Split-train"
    folder.mkdir()

    def records(item):
        return [f"{item}-{i}".encode() for i in range(3)]

    write = shard_writer._WriteShard(records)  # pylint: disable=protected-access
    job = ("a", 1, 4, ([str(folder)], None, None))
    assert list(write.process(job)) == ["data_tfrecord-00001-of-00004.gz"]
    list(write.process(job))  # Beam runs a failed bundle's items again
    assert _records(str(tmp_path), "train") == [b"a-0", b"a-1", b"a-2"]
