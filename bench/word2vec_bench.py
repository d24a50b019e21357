"""word2vec benchmark: this project's TensorFlow trainer vs gensim, same corpus, same machine.

Both read the same cleaned token stream: the embedded Wikipedia excerpt (gensim's test
dump) through components/text_corpora.py's Wikipedia path, cut into the same
1,000-token chunks the TextExampleGen emits. Both use skip-gram, dim 100, window 5,
5 epochs, min count 5, subsampling 1e-3, the same starting learning rate (word2vec.c's
alpha: 0.025 skip-gram, 0.05 CBOW, or --learning-rate for both), decaying linearly;
5 negatives per pair (ours: loss "neg", by default 32 draws shared by each 256 examples,
weighted 5/32: the same expected objective) and 2 gensim workers.

This drives the trainer's core training function (trainer.word2vec.train.train) directly on
in-memory id sequences, not the TFX pipeline (no ExampleGen/Transform/TFRecord I/O); the
vocabulary is built the same way tf.Transform builds it (frequency-ranked, min count 5).
Scores are computed by the same code (trainer/word2vec/evaluation.py) for both models.

    .venv/bin/python bench/word2vec_bench.py [--epochs 5] [--batch-size 1024] ...
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainer import tf_env  # noqa: F401,E402  (before TensorFlow)

import numpy as np  # noqa: E402


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


def run_ours(chunks, words, counts, args):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer import strategy as strategy_lib  # pylint: disable=import-outside-toplevel
    from trainer.word2vec import config as w2v_config, data as w2v_data, train as w2v_train  # noqa: E501  pylint: disable=import-outside-toplevel

    index = {w: i for i, w in enumerate(words)}
    oov = len(words)
    seqs = [np.array([index.get(t, oov) for t in c], dtype=np.int64) for c in chunks]
    cfg = w2v_config.Word2VecConfig(
        model=args.model, embedding_dim=args.dim, window=args.window, epochs=args.epochs,
        num_sampled=args.num_sampled, batch_size=args.batch_size,
        learning_rate=args.learning_rate, optimizer=args.optimizer, subsample=args.sample,
        loss=args.loss, seed=args.seed, **json.loads(args.extra))
    tf.keras.utils.set_random_seed(args.seed)
    strategy = strategy_lib.make_strategy()
    blocks_fn = lambda ctx: w2v_data.ragged_blocks(  # noqa: E731
        seqs, cfg.sequences_per_block, shuffle=True, seed=cfg.seed)
    result = w2v_train.train(blocks_fn, counts, cfg, strategy,
                            log=print if args.verbose else (lambda _: None))
    return result.model.vectors(), result.seconds, result


def run_gensim(chunks, args):
    from gensim.models import Word2Vec  # pylint: disable=import-outside-toplevel
    t0 = time.perf_counter()
    model = Word2Vec(vector_size=args.dim, window=args.window, min_count=args.min_count,
                     sg=1 if args.model == "skipgram" else 0, negative=5, sample=args.sample,
                     alpha=args.learning_rate, workers=2, seed=args.seed)
    model.build_vocab(chunks)
    t1 = time.perf_counter()
    model.train(chunks, total_examples=len(chunks), epochs=args.epochs)
    t2 = time.perf_counter()
    words = list(model.wv.index_to_key)
    return model.wv.vectors, words, t2 - t1, t1 - t0


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
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--extra", default="{}", help="more Word2VecConfig fields, as JSON")
    p.add_argument("--skip-gensim", action="store_true")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--json", help="also write the figures to this JSON file")
    p.add_argument("--cache-dir", default=os.path.join(
        os.environ.get("CLASSICS_HOME", "workspace"), "data"))
    args = p.parse_args(argv)
    from trainer.word2vec import config as w2v_config, evaluation as word_eval  # noqa: E501  pylint: disable=import-outside-toplevel
    defaults = w2v_config.Word2VecConfig(model=args.model, loss=args.loss or "neg")
    for name in ("loss", "num_sampled", "batch_size", "learning_rate", "optimizer"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(defaults, name))

    chunks, stats, read_s = load_corpus(args.cache_dir)
    n_tokens = stats["tokens"]
    words, counts = build_vocab(chunks, args.min_count)
    print(f"corpus: embedded Wikipedia excerpt, {stats['pages']} articles, {n_tokens} tokens "
          f"after text8-style cleaning ({read_s:.1f} s to read+clean), vocab {len(words)} "
          f"(min count {args.min_count})")
    print("ours: trainer.word2vec.train.train driven directly on in-memory id sequences "
          "(no TFX pipeline / TFRecord I/O in the timing)")

    rows = {}
    vecs, secs, res = run_ours(chunks, words, counts, args)
    rows["tfx-classics"] = dict(seconds=secs, words_per_sec=n_tokens * args.epochs / secs,
                                **word_eval.score_all(vecs, words))
    rows["tfx-classics"]["final_loss"] = res.losses[-1]
    if not args.skip_gensim:
        gvecs, gwords, gsecs, _ = run_gensim(chunks, args)
        rows["gensim"] = dict(seconds=gsecs, words_per_sec=n_tokens * args.epochs / gsecs,
                              **word_eval.score_all(gvecs, gwords))

    cols = [("seconds", "train s", "{:.1f}"), ("words_per_sec", "words/s", "{:,.0f}"),
            ("ws353_spearman", "WS353 rho", "{:.3f}"), ("ws353_oov_rate", "WS353 OOV", "{:.0%}"),
            ("analogy_accuracy", "analogy acc", "{:.3f}"),
            ("analogy_coverage", "analogy cov", "{:.0%}")]
    print(f"\n{args.model}, dim {args.dim}, window {args.window}, {args.epochs} epochs; ours: "
          f"{args.optimizer} lr {args.learning_rate}, batch {args.batch_size}, "
          f"{args.num_sampled} negatives/"
          f"{'pair' if args.loss == 'neg' else 'batch, shared'} ({args.loss}); "
          f"gensim: alpha {args.learning_rate}, 5 negatives/pair, 2 workers")
    print(f"{'':14}" + "".join(f"{h:>13}" for _, h, _ in cols))
    for name, r in rows.items():
        print(f"{name:14}" + "".join(f"{f.format(r[k]):>13}" for k, _, f in cols))
    if "gensim" in rows:
        ours, g = rows["tfx-classics"], rows["gensim"]
        ratios = {"time (ours/gensim)": ours["seconds"] / g["seconds"],
                  "WS353 (ours/gensim)": ours["ws353_spearman"] / g["ws353_spearman"],
                  "analogy (ours/gensim)": (ours["analogy_accuracy"] / g["analogy_accuracy"]
                                            if g["analogy_accuracy"] else float("nan"))}
        print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
        rows["ratios"] = ratios
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "tokens": n_tokens, "vocab": len(words), **rows},
                      f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
