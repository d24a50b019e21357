"""word2vec benchmark: this project's TensorFlow trainer vs gensim, same corpus, same machine.

Both read the same cleaned token stream: the embedded Wikipedia excerpt (gensim's test
dump) through components/text_corpora.py's Wikipedia path, cut into the same
1,000-token chunks the TextExampleGen emits. Both use skip-gram (or CBOW), dim 100,
window 5, 5 epochs, min count 5, subsampling 1e-3, the same starting learning rate
(word2vec.c's alpha: 0.025 skip-gram, 0.05 CBOW, or --learning-rate for both), decaying
linearly, and the same number of threads (gensim `workers`, ours TensorFlow's
inter/intra-op pools; default: every core). Negatives differ in how they are drawn:
gensim draws 5 per pair; ours (loss "neg", Word2VecConfig defaults) draws one pool of 8
negatives per group of 64 skip-gram examples (32 per 256 for CBOW), shared by the group,
each term weighted 5/8 (5/32), which has the same expected objective as 5 draws per pair
(trainer/word2vec/config.py; `--variant perpair='{"shared_negatives": 0}'` draws 5 per
pair as word2vec.c does).
The fused kernel (`kernel: "fused"`, trainer/word2vec/fused.py: word2vec.c's loop as one
compiled TensorFlow op, one thread per core) draws 5 per pair too; both kernels run by
default (`--kernels`).

Runs are interleaved: for each seed, ours and gensim back to back (the order alternating
between seeds), so both see the same machine load; each row carries os.getloadavg() taken
just before it. Wall time is the primary figure; process CPU seconds are printed next to
it (on a loaded machine a side with more runnable threads gets a larger share of the
cores, which moves the wall ratio; CPU seconds show the work done).

`--profile` first splits one epoch of ours into its parts: the tf.data input pipeline
alone (pair generation, shuffle, re-batching), the training step alone (on batches
cached in memory), and both together as training runs them; and for the fused kernel,
the blocks alone, the op on one thread and on one per core.

This drives the trainer's core training function (trainer.word2vec.train.train) directly on
in-memory id sequences, not the TFX pipeline (no ExampleGen/Transform/TFRecord I/O); the
vocabulary is built the same way tf.Transform builds it (frequency-ranked, min count 5).
Scores are computed by the same code (trainer/word2vec/evaluation.py) for both models.

    .venv/bin/python bench/word2vec_bench.py [--seeds 1,2,3] [--profile] [--threads 2]
    .venv/bin/python bench/word2vec_bench.py --variant pool32='{"shared_negatives": 32,
        "negatives_group": 256}'     # compare Word2VecConfig settings in the same run
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import platform
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainer import tf_env  # noqa: F401,E402  (before TensorFlow)

import numpy as np  # noqa: E402

OURS = "tfx-classics"  # kernel "tape"
FUSED = "fused"  # kernel "fused"
GENSIM = "gensim"


def load_corpus(cache_dir: str):
    from components import datasets, text_corpora  # pylint: disable=import-outside-toplevel
    folder = datasets.embedded_wiki(cache_dir)
    stats = text_corpora.new_stats()
    t0 = time.perf_counter()
    chunks = [c.tokens for c in text_corpora.read_corpus(folder, "wikipedia", stats=stats)]
    return chunks, stats, time.perf_counter() - t0


def build_vocab(chunks, min_count: int):
    counter = collections.Counter(t for c in chunks for t in c)
    items = sorted(((w, c) for w, c in counter.items() if c >= min_count),
                   key=lambda wc: (-wc[1], wc[0]))
    words = [w for w, _ in items]
    counts = np.array([c for _, c in items], dtype=np.int64)
    return words, counts


def cpu_seconds() -> float:
    """CPU seconds of this process so far, every thread included."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def id_sequences(chunks, words):
    index = {w: i for i, w in enumerate(words)}
    oov = len(words)
    return [np.array([index.get(t, oov) for t in c], dtype=np.int64) for c in chunks]


def our_config(args, seed: int, extra: dict):
    from trainer.word2vec import config as w2v_config  # pylint: disable=import-outside-toplevel
    fields = dict(model=args.model, embedding_dim=args.dim, window=args.window,
                  epochs=args.epochs, num_sampled=args.num_sampled, batch_size=args.batch_size,
                  learning_rate=args.learning_rate, optimizer=args.optimizer,
                  subsample=args.sample, loss=args.loss, seed=seed)
    return w2v_config.Word2VecConfig(**{**fields, **json.loads(args.extra), **extra})


def run_ours(seqs, counts, cfg, verbose: bool = False):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer import strategy as strategy_lib  # pylint: disable=import-outside-toplevel
    from trainer.word2vec import data as w2v_data, train as w2v_train  # noqa: E501  pylint: disable=import-outside-toplevel

    tf.keras.utils.set_random_seed(cfg.seed)
    strategy = strategy_lib.make_strategy()
    blocks_fn = lambda ctx: w2v_data.ragged_blocks(  # noqa: E731
        seqs, cfg.sequences_per_block, shuffle=True, seed=cfg.seed)
    c0 = cpu_seconds()
    result = w2v_train.train(blocks_fn, counts, cfg, strategy,
                            log=print if verbose else (lambda _: None))
    return result.model.vectors(), result.seconds, cpu_seconds() - c0, result


def run_gensim(chunks, args, seed: int):
    from gensim.models import Word2Vec  # pylint: disable=import-outside-toplevel
    model = Word2Vec(vector_size=args.dim, window=args.window, min_count=args.min_count,
                     sg=1 if args.model == "skipgram" else 0, negative=5, sample=args.sample,
                     alpha=args.learning_rate, workers=args.threads, seed=seed)
    model.build_vocab(chunks)
    t0, c0 = time.perf_counter(), cpu_seconds()
    model.train(chunks, total_examples=len(chunks), epochs=args.epochs)
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    return model.wv.vectors, list(model.wv.index_to_key), seconds, cpu


def profile(seqs, counts, cfg) -> None:
    """Where one epoch of our training goes: input pipeline alone, step alone, both."""
    from trainer.word2vec import data as w2v_data, train as w2v_train  # noqa: E501  pylint: disable=import-outside-toplevel

    cfg1 = dataclasses.replace(cfg, epochs=1)
    blocks = lambda ctx=None: w2v_data.ragged_blocks(  # noqa: E731
        seqs, cfg.sequences_per_block, shuffle=True, seed=cfg.seed)
    steps = w2v_data.count_examples(blocks(), counts, cfg) // cfg.batch_size
    rows = []

    load = os.getloadavg()[0]
    ds = w2v_data.training_dataset(blocks().repeat(), counts, cfg, cfg.batch_size,
                                   seed=cfg.seed).take(steps)
    t0, c0 = time.perf_counter(), cpu_seconds()
    for _ in ds:
        pass
    rows.append(("input pipeline alone (tf.data)", time.perf_counter() - t0,
                 cpu_seconds() - c0, load))

    # The step alone: the same training loop fed from 64 batches cached in memory.
    original = w2v_train.training_dataset
    w2v_train.training_dataset = lambda *a, **k: original(*a, **k).take(64).cache().repeat()
    try:
        load = os.getloadavg()[0]
        _, _, cpu, result = run_ours(seqs, counts, cfg1)
        rows.append(("training step alone (cached)", result.seconds, cpu, load))
    finally:
        w2v_train.training_dataset = original
    load = os.getloadavg()[0]
    _, _, cpu, result = run_ours(seqs, counts, cfg1)
    rows.append(("both (as training runs)", result.seconds, cpu, load))
    print(f"\nprofile, one epoch ({steps} steps of {cfg.batch_size}; CPU = process CPU s, "
          "all threads; the step-alone and both rows include tracing and the epoch's "
          "example count):")
    print(f"{'':34}{'wall s':>9}{'CPU s':>9}{'load':>7}")
    for name, wall, cpu, ld in rows:
        print(f"{name:34}{wall:>9.2f}{cpu:>9.2f}{ld:>7.1f}")


def profile_fused(seqs, counts, cfg, threads: int) -> None:
    """One epoch of the fused kernel: reading and cutting the blocks alone, then training
    on one thread and on `threads` (what the op costs per pair, and what threads add)."""
    from trainer.word2vec import data as w2v_data, fused  # noqa: E501  pylint: disable=import-outside-toplevel

    cfg1 = dataclasses.replace(cfg, epochs=1, kernel="fused")
    blocks = lambda ctx=None: w2v_data.ragged_blocks(  # noqa: E731
        seqs, cfg.sequences_per_block, shuffle=True, seed=cfg.seed)
    rows = []
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), cpu_seconds()
    pieces = sum(1 for b in blocks() for _ in fused.split_block(
        b.flat_values.numpy(), b.row_splits.numpy(), cfg.fused_tokens_per_call))
    rows.append((f"blocks alone ({pieces} pieces)", time.perf_counter() - t0,
                 cpu_seconds() - c0, load, None))
    for n in sorted({1, threads}):
        load = os.getloadavg()[0]
        _, _, cpu, result = run_ours(seqs, counts, dataclasses.replace(cfg1, loop_threads=n))
        rows.append((f"train, {n} thread(s)", result.seconds, cpu, load,
                     1e6 * cpu / result.examples))
    print(f"\nprofile of the fused kernel, one epoch (CPU = process CPU s; us = CPU "
          "microseconds per pair):")
    print(f"{'':34}{'wall s':>9}{'CPU s':>9}{'load':>7}{'us/pair':>9}")
    for name, wall, cpu, ld, per in rows:
        print(f"{name:34}{wall:>9.2f}{cpu:>9.2f}{ld:>7.1f}"
              + (f"{per:>9.3f}" if per is not None else ""))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="skipgram", choices=["skipgram", "cbow"])
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--sample", type=float, default=1e-3)
    p.add_argument("--num-sampled", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--learning-rate", type=float, default=None)
    p.add_argument("--optimizer", default=None)
    p.add_argument("--loss", default=None, choices=["neg", "nce", "sampled_softmax"])
    p.add_argument("--seeds", default="1,2,3", help="comma-separated; one round each")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="gensim workers and TensorFlow inter/intra-op threads")
    p.add_argument("--intra-op-threads", type=int, default=None,
                   help="TensorFlow's intra-op threads only (default: --threads)")
    p.add_argument("--extra", default="{}", help="more Word2VecConfig fields, as JSON")
    p.add_argument("--kernels", default="tape,fused",
                   help=f"our kernels to run: tape (side {OURS}) and/or fused (side {FUSED})")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=JSON",
                   help="also run ours with these Word2VecConfig fields (repeatable)")
    p.add_argument("--profile", action="store_true", help="split one epoch of ours first")
    p.add_argument("--skip-gensim", action="store_true")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--cache-dir", default=os.path.join(
        os.environ.get("CLASSICS_HOME", "workspace"), "data"))
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    kernels = [k for k in args.kernels.split(",") if k]
    variants = {}
    if "tape" in kernels:
        variants[OURS] = {"kernel": "tape"}
    if "fused" in kernels:  # its threads: as many as gensim's workers
        variants[FUSED] = {"kernel": "fused", "loop_threads": args.threads}
    for spec in args.variant:
        name, _, fields = spec.partition("=")
        variants[name] = json.loads(fields)

    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    # Before TensorFlow runs anything: both sides get the same number of threads.
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.config.threading.set_intra_op_parallelism_threads(args.intra_op_threads or args.threads)
    from trainer.word2vec import config as w2v_config, evaluation as word_eval  # noqa: E501  pylint: disable=import-outside-toplevel
    defaults = w2v_config.Word2VecConfig(model=args.model, loss=args.loss or "neg")
    for name in ("loss", "num_sampled", "batch_size", "learning_rate", "optimizer"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(defaults, name))

    chunks, stats, read_s = load_corpus(args.cache_dir)
    n_tokens = stats["tokens"]
    words, counts = build_vocab(chunks, args.min_count)
    seqs = id_sequences(chunks, words)
    print(f"host: {platform.node()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, TensorFlow {tf.__version__}; threads per side: "
          f"{args.threads}")
    print(f"corpus: embedded Wikipedia excerpt, {stats['pages']} articles, {n_tokens} tokens "
          f"after text8-style cleaning ({read_s:.1f} s to read+clean), vocab {len(words)} "
          f"(min count {args.min_count})")
    print("ours: trainer.word2vec.train.train driven directly on in-memory id sequences "
          "(no TFX pipeline / TFRecord I/O in the timing)")
    base = our_config(args, seeds[0], {})
    print(f"{args.model}, dim {args.dim}, window {args.window}, {args.epochs} epochs; ours: "
          f"{base.optimizer} lr {base.learning_rate}, batch {base.batch_size}, "
          + (f"{base.loss}: one pool of {base.shared_negatives} negatives per "
             f"{base.negatives_group} examples, weighted {base.num_sampled}/"
             f"{base.shared_negatives}" if base.loss == "neg" and base.shared_negatives
             else f"{base.loss}: {base.num_sampled} negatives/pair")
          + (f"; fused: {base.num_sampled} negatives/pair, one thread per core"
             if FUSED in variants else "")
          + f"; gensim: alpha "
          f"{args.learning_rate}, 5 negatives/pair, {args.threads} workers")
    if args.profile:
        # The fused kernel first: the tape's training leaves tf.data iterators that are
        # still prefetching for a moment, which took CPU from a timing right after it.
        if FUSED in variants:
            profile_fused(seqs, counts, base, args.threads)
        if OURS in variants:
            profile(seqs, counts, base)

    runs = []  # dicts: side, seed, seconds, cpu, load, scores
    for i, seed in enumerate(seeds):
        sides = list(variants) + ([] if args.skip_gensim else [GENSIM])
        if i % 2:
            sides.reverse()  # alternate who goes first
        for side in sides:
            load = os.getloadavg()
            if side == GENSIM:
                vecs, vwords, secs, cpu = run_gensim(chunks, args, seed)
            else:
                vecs, secs, cpu, _ = run_ours(seqs, counts,
                                              our_config(args, seed, variants[side]),
                                              args.verbose)
                vwords = words
            row = dict(side=side, seed=seed, seconds=secs, cpu_seconds=cpu,
                       load1=load[0], load5=load[1],
                       words_per_sec=n_tokens * args.epochs / secs,
                       **word_eval.score_all(vecs, vwords))
            runs.append(row)
            print(f"  seed {seed} {side:14} {secs:6.1f} s wall {cpu:6.1f} s CPU  WS353 "
                  f"{row['ws353_spearman']:.3f}  analogy {row['analogy_accuracy']:.3f}  "
                  f"(load {load[0]:.1f}/{load[1]:.1f})", flush=True)

    cols = [("seconds", "wall s", "{:.1f}"), ("cpu_seconds", "CPU s", "{:.1f}"),
            ("words_per_sec", "words/s", "{:,.0f}"),
            ("ws353_spearman", "WS353 rho", "{:.3f}"),
            ("analogy_accuracy", "analogy acc", "{:.3f}"), ("load1", "load", "{:.1f}")]
    print(f"\nmedians over seeds {args.seeds} (WS353 OOV "
          f"{runs[0]['ws353_oov_rate']:.0%}, analogy coverage "
          f"{runs[0]['analogy_coverage']:.0%})")
    print(f"{'':16}" + "".join(f"{h:>13}" for _, h, _ in cols))
    summary = {}
    for side in dict.fromkeys(r["side"] for r in runs):
        mine = [r for r in runs if r["side"] == side]
        summary[side] = {k: statistics.median(r[k] for r in mine) for k, _, _ in cols}
        print(f"{side:16}" + "".join(f"{f.format(summary[side][k]):>13}"
                                     for k, _, f in cols))
    ratios = {}
    if not args.skip_gensim:
        for side in variants:
            per_seed = []
            for seed in seeds:
                ours = next(r for r in runs if r["side"] == side and r["seed"] == seed)
                g = next(r for r in runs if r["side"] == GENSIM and r["seed"] == seed)
                per_seed.append({
                    "time": ours["seconds"] / g["seconds"],
                    "cpu": ours["cpu_seconds"] / g["cpu_seconds"],
                    "ws353": ours["ws353_spearman"] / g["ws353_spearman"],
                    "analogy": (ours["analogy_accuracy"] / g["analogy_accuracy"]
                                if g["analogy_accuracy"] else float("nan"))})
            ratios[side] = per_seed
            print(f"{side} / gensim, per seed: " + "; ".join(
                f"time {r['time']:.2f} CPU {r['cpu']:.2f} WS353 {r['ws353']:.2f} analogy "
                f"{r['analogy']:.2f}" for r in per_seed))
            med = {k: statistics.median(r[k] for r in per_seed) for k in per_seed[0]}
            print(f"{side} / gensim, median: time {med['time']:.2f}, CPU {med['cpu']:.2f}, "
                  f"WS353 {med['ws353']:.2f}, analogy {med['analogy']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "tokens": n_tokens, "vocab": len(words),
                       "runs": runs, "summary": summary, "ratios": ratios}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
