"""Benchmark: CIFAR-10 ingestion rate, CifarExampleGen (Beam) vs a single-process reader.

Writes synthetic CIFAR-10 binary batches in the real format (default 5 x 10,000 train
records + a 10,000-record test batch, random pixels), then times

1. the CifarExampleGen executor exactly as the pipeline runs it (validation at graph
   construction, record ranges, each written as a gzip TFRecord shard), once per Beam
   mode asked for (`--modes`: the DirectRunner in_memory, multi_threading with one thread
   per core, as a local run gives this ExampleGen, multi_processing with one worker
   process per core; pipelines/config.py BEAM_MODES), and
2. a minimal single-process loop: validate the same files, read them in record ranges,
   build the same tf.Example bytes (contract.image_examples) and write them with
   tf.io.TFRecordWriter (GZIP), one file per split.

Rounds are interleaved (reader, then each Beam mode, `--repeats` times) so every side
sees the same machine load; each row carries os.getloadavg() taken before it, and the
ratio printed per mode is the median over rounds of (Beam records/s / reader records/s
of the same round). On a loaded machine a side with more processes gets a larger share
of the cores; CPU seconds of the whole process tree (this process and the Beam workers)
are printed next to the wall time. Every output is read back and compared with the
reader's as a multiset of record digests per split, so each side provably wrote the same
examples. Figures, not pass/fail (exit 1 only if the records differ).

    .venv/bin/python bench/ingest_bench.py [--batches 5] [--records 10000] \
        [--test-records 10000] [--modes in_memory,multi_threading,multi_processing] \
        [--repeats 2]
"""
from __future__ import annotations

import argparse
import glob
import statistics
import threading
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
from trainer import contract  # noqa: E402
from pipelines.config import BEAM_MODES  # noqa: E402

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
                    for record in contract.image_examples(images, labels):
                        writer.write(record)
    return time.perf_counter() - t0


def digests(out: str, split: str):
    files = sorted(glob.glob(os.path.join(out, f"Split-{split}", "*.gz")))
    return sorted(hashlib.sha1(r.numpy()).digest()
                  for r in tf.data.TFRecordDataset(files, compression_type="GZIP"))


class TreeCpu:
    """CPU seconds of this process and of every child it started, sampled every 0.2 s
    (Beam's worker processes exit with the pipeline, so they are read while alive)."""

    def __init__(self):
        import psutil  # pylint: disable=import-outside-toplevel
        self._me = psutil.Process()
        self._children = {}
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self):
        import psutil  # pylint: disable=import-outside-toplevel
        while not self._halt.is_set():
            for child in self._me.children(recursive=True):
                try:
                    t = child.cpu_times()
                    self._children[child.pid] = t.user + t.system
                except psutil.Error:
                    pass
            self._halt.wait(0.2)

    def __enter__(self):
        t = self._me.cpu_times()
        self._start = t.user + t.system
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._halt.set()
        self._thread.join()
        t = self._me.cpu_times()
        self.seconds = t.user + t.system - self._start + sum(self._children.values())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batches", type=int, default=5, help="data_batch_N.bin files")
    p.add_argument("--records", type=int, default=10000, help="records per train batch")
    p.add_argument("--test-records", type=int, default=10000, help="records in test_batch.bin")
    p.add_argument("--modes", default="in_memory,multi_threading,multi_processing",
                   help=f"Beam modes to time, comma-separated (known: {', '.join(BEAM_MODES)})")
    p.add_argument("--repeats", type=int, default=2, help="interleaved rounds")
    p.add_argument("--keep", help="keep the data and outputs in this folder")
    args = p.parse_args(argv)
    if args.test_records < 1:
        p.error("--test-records must be >= 1 (the comparison uses the train/eval layout)")
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in BEAM_MODES]
    if unknown:
        p.error(f"unknown Beam modes {unknown}; known: {', '.join(BEAM_MODES)}")

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
        for m in modes:
            print(f"beam mode {m}: {' '.join(BEAM_MODES[m])}")

        plain_out = os.path.join(work, "plain")
        rows = []  # (round, side, seconds, cpu seconds, load)
        same = True
        reference = None
        for rnd in range(args.repeats):
            for side in ["reader"] + modes:
                out = plain_out if side == "reader" else os.path.join(work, side)
                shutil.rmtree(out, ignore_errors=True)
                load = os.getloadavg()
                with TreeCpu() as cpu:
                    if side == "reader":
                        seconds = run_plain(data, out)
                    else:
                        seconds = run_beam(data, out, BEAM_MODES[side])
                rows.append((rnd, side, seconds, cpu.seconds, load))
                print(f"  round {rnd + 1} {side:18} {seconds:7.1f} s wall {cpu.seconds:7.1f} s "
                      f"CPU {n / seconds:8,.0f} records/s  (load {load[0]:.1f}/{load[1]:.1f})",
                      flush=True)
                got = {s: digests(out, s) for s in ("train", "eval")}
                if reference is None:
                    reference = got
                elif got != reference:
                    same = False
                    print(f"  {side}: records differ from the reader's")

        print(f"\n{'':22}{'median s':>10}{'records/s':>12}{'CPU s':>9}"
              f"{'x reader (per round, median)':>30}")
        for side in ["reader"] + modes:
            mine = [r for r in rows if r[1] == side]
            secs = statistics.median(r[2] for r in mine)
            cpu = statistics.median(r[3] for r in mine)
            ratio = ""
            if side != "reader":
                per_round = [next(p[2] for p in rows if p[0] == r[0] and p[1] == "reader")
                             / r[2] for r in mine]
                ratio = (f"{statistics.median(per_round):.2f} ("
                         + ", ".join(f"{x:.2f}" for x in per_round) + ")")
            print(f"{side:22}{secs:>10.1f}{n / secs:>12,.0f}{cpu:>9.1f}{ratio:>30}")
        loads = [r[4][0] for r in rows]
        print(f"load average (1 min) during the runs: {min(loads):.1f} to {max(loads):.1f} "
              f"on {os.cpu_count()} CPUs")
        print(f"identical records per split (multiset of sha1): {'yes' if same else 'NO'}")
        return 0 if same else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
