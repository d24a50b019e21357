"""Benchmark: CIFAR-10 ingestion rate, CifarExampleGen (Beam) vs a single-process reader.

Writes synthetic CIFAR-10 binary batches in the real format (default 5 x 10,000 train
records + a 10,000-record test batch, random pixels), then times

1. the CifarExampleGen executor exactly as the pipeline runs it (validation at graph
   construction, record ranges, DirectRunner in_memory with the pipeline's default Beam
   args, gzip TFRecords per split), and
2. a minimal single-process loop: validate the same files, read them in record ranges,
   build the same tf.Example bytes (cifar_example_gen.serialize) and write them with
   tf.io.TFRecordWriter (GZIP), one file per split.

and prints records/s for both and their ratio. The outputs are then read back and
compared as multisets of record digests per split, so both sides provably wrote the
same examples. Figures, not pass/fail.

    .venv/bin/python bench/ingest_bench.py [--batches 5] [--records 10000] [--test-records 10000]
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import os
import platform
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainer import tf_env  # noqa: E402,F401  (before TensorFlow)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tfx.dsl.components.base import base_beam_executor  # noqa: E402
from tfx.proto import example_gen_pb2  # noqa: E402
from tfx.types import standard_artifacts, standard_component_specs as K  # noqa: E402

from components import cifar_example_gen, cifar_format  # noqa: E402
from pipelines.config import DEFAULT_BEAM_ARGS  # noqa: E402

_CHUNK = 2500  # records per read in the single-process loop (the Beam shard size too)


def write_synthetic(folder: str, batches: int, records: int, test_records: int,
                    seed: int = 0) -> int:
    rng = np.random.RandomState(seed)
    names = [f"data_batch_{i}.bin" for i in range(1, batches + 1)]
    sizes = [records] * batches
    if test_records:
        names.append(cifar_format.TEST_PATTERN)
        sizes.append(test_records)
    for name, n in zip(names, sizes):
        images = rng.randint(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
        labels = rng.randint(0, 10, size=n).astype(np.uint8)
        cifar_format.write_batch(os.path.join(folder, name), images, labels)
    return sum(sizes)


def run_beam(data: str, out: str, beam_args) -> float:
    component = cifar_example_gen.create(data)
    props = component.exec_properties
    examples = standard_artifacts.Examples()
    examples.uri = out
    exec_properties = {
        K.INPUT_BASE_KEY: data,
        K.INPUT_CONFIG_KEY: props[K.INPUT_CONFIG_KEY],
        K.OUTPUT_CONFIG_KEY: props[K.OUTPUT_CONFIG_KEY],
        K.OUTPUT_DATA_FORMAT_KEY: example_gen_pb2.FORMAT_TF_EXAMPLE,
        K.OUTPUT_FILE_FORMAT_KEY: example_gen_pb2.FORMAT_TFRECORDS_GZIP,
    }
    executor = cifar_example_gen.Executor(
        base_beam_executor.BaseBeamExecutor.Context(beam_pipeline_args=list(beam_args)))
    t0 = time.perf_counter()
    executor.Do({}, {K.EXAMPLES_KEY: [examples]}, exec_properties)
    return time.perf_counter() - t0


def run_plain(data: str, out: str) -> float:
    """The same work in one process, no Beam: validate, read ranges, serialize, write."""
    t0 = time.perf_counter()
    patterns = cifar_example_gen.split_patterns(data)
    if "single" in patterns:
        raise SystemExit("the plain reader only handles the train/eval layout")
    for split, pattern in patterns.items():
        batches = [cifar_format.validate(p) for p in cifar_format.find_batches(data, pattern)]
        os.makedirs(os.path.join(out, f"Split-{split}"), exist_ok=True)
        path = os.path.join(out, f"Split-{split}", "data_tfrecord-00000-of-00001.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for batch in batches:
                for start in range(0, batch.count, _CHUNK):
                    images, labels = cifar_format.read_records(batch, start, start + _CHUNK)
                    for image, label in zip(images, labels):
                        writer.write(cifar_example_gen.serialize(image, int(label)))
    return time.perf_counter() - t0


def digests(out: str, split: str):
    files = sorted(glob.glob(os.path.join(out, f"Split-{split}", "*.gz")))
    return sorted(hashlib.sha1(r.numpy()).digest()
                  for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", type=int, default=5, help="data_batch_N.bin files")
    p.add_argument("--records", type=int, default=10000, help="records per train batch")
    p.add_argument("--test-records", type=int, default=10000, help="records in test_batch.bin")
    p.add_argument("--beam-arg", action="append", default=None,
                   help=f"Beam pipeline arg (repeatable; default {' '.join(DEFAULT_BEAM_ARGS)})")
    p.add_argument("--keep", help="keep the data and outputs in this folder")
    args = p.parse_args(argv)
    if args.test_records < 1:
        p.error("--test-records must be >= 1 (the comparison uses the train/eval layout)")
    beam_args = args.beam_arg or list(DEFAULT_BEAM_ARGS)

    work = args.keep or tempfile.mkdtemp(prefix="ingest-bench.")
    os.makedirs(work, exist_ok=True)
    try:
        data = os.path.join(work, "cifar-10-batches-bin")
        os.makedirs(data, exist_ok=True)
        n = write_synthetic(data, args.batches, args.records, args.test_records)
        mb = n * cifar_format.RECORD_BYTES / 1e6
        print(f"data: {args.batches} x {args.records} train + {args.test_records} test records "
              f"({mb:.0f} MB) of synthetic CIFAR-10 binary batches in {data}")
        print(f"host: {platform.node()} {os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(f"beam args: {' '.join(beam_args)}")

        beam_out, plain_out = os.path.join(work, "beam"), os.path.join(work, "plain")
        for d in (beam_out, plain_out):
            shutil.rmtree(d, ignore_errors=True)
        plain_s = run_plain(data, plain_out)
        beam_s = run_beam(data, beam_out, beam_args)

        same = all(digests(beam_out, s) == digests(plain_out, s) for s in ("train", "eval"))
        beam_rate, plain_rate = n / beam_s, n / plain_s
        print(f"\n{'':28}{'seconds':>10}{'records/s':>12}")
        print(f"{'CifarExampleGen (Beam)':28}{beam_s:>10.1f}{beam_rate:>12,.0f}")
        print(f"{'single-process reader':28}{plain_s:>10.1f}{plain_rate:>12,.0f}")
        print(f"ratio Beam / single-process: {beam_rate / plain_rate:.2f}")
        print(f"identical records per split (multiset of sha1): {'yes' if same else 'NO'}")
        return 0 if same else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
