"""Language-model benchmark: LSTM vs GRU (this project's trainer) vs NLTK Kneser-Ney.

All models see the same data: the embedded Wikipedia excerpt (gensim's test dump) as one
cleaned token stream (components/text_corpora.py's Wikipedia path), split by position:
the last `--valid-fraction` of the stream is the validation text, the train text is
what comes before it (at most `--max-tokens` tokens of it). One vocabulary for all,
built from the train text the way trainer/lm/preprocessing.py builds it: `<unk>` (id 0)
and `<eos>` (id 1) reserved, then the most frequent words, `--vocab-size` in all; every
other word is `<unk>`, in both texts, for every model.

- LSTM and GRU: trainer.lm.train.train with the same config (the `--preset`, tiny by
  default, with any overrides) and the same budget (`--epochs` over the same windows);
  validation perplexity with the state carried across windows, as in PTB evaluation.
- NLTK's interpolated Kneser-Ney (nltk.lm.KneserNeyInterpolated) fitted on the same
  train stream, for each `--kn` order:discount (default orders 3 and 4 at the usual
  discount 0.75, and order 3 at NLTK's default 0.1). NLTK's estimator recounts n-gram
  continuations by scanning every context of the next order for every probability it
  returns (the notes show its seconds per token: far too slow for the validation
  text), so the bench gives it the same counts through an index built once
  (`IndexedKneserNey`, same formulas), and checks on the first `--kn-check` tokens that
  both give the same probabilities.
- Perplexity everywhere = exp(mean of -ln p) over the validation tokens. A token NLTK's
  model gives probability 0 (a vocabulary word never seen as a continuation) would make
  it infinite: the table shows how many there were, and the perplexity with such
  probabilities floored by mixing in the uniform distribution with weight 1e-6.
- Throughput: the trainer's tokens/s against a plain Keras `model.fit` of the same
  (stateful) model on the same windows, batch, optimizer and clipping: alternating runs
  of 3 epochs each, the best steady (not first) epoch of each side, so that bursts of
  load on a shared machine do not decide the ratio. The main table's tokens/s is each
  model's steady-state training speed over its whole run; "CPU s" is this process's CPU
  time and "load" the 1-minute load average when the row started.

    .venv/bin/python bench/lm_bench.py [--epochs 2] [--max-tokens 100000] [--preset tiny]
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import math
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainer import tf_env  # noqa: F401,E402  (before TensorFlow)

import numpy as np  # noqa: E402

from trainer.lm.preprocessing import RESERVED_TOKENS, UNK, UNK_ID  # noqa: E402

UNIFORM_FLOOR = 1e-6  # weight of the uniform distribution mixed into a zero probability


def cpu_seconds() -> float:
    """CPU seconds of this process so far, every thread included."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load_tokens(cache_dir: str):
    from components import datasets, text_corpora  # pylint: disable=import-outside-toplevel
    folder = datasets.embedded_wiki(cache_dir)
    return list(text_corpora.token_stream(folder, "wikipedia"))


def split_tokens(tokens, valid_fraction: float, max_tokens: int, max_valid: int):
    n_valid = max(1, int(len(tokens) * valid_fraction))
    train, valid = tokens[:-n_valid], tokens[-n_valid:]
    if max_tokens:
        train = train[-max_tokens:]  # the text right before the validation part
    if max_valid:
        valid = valid[:max_valid]
    return train, valid


def build_vocabulary(train_tokens, size: int):
    counts = collections.Counter(t for t in train_tokens if t not in RESERVED_TOKENS)
    ranked = sorted(counts.items(), key=lambda wc: (-wc[1], wc[0]))
    return list(RESERVED_TOKENS) + [w for w, _ in ranked[:size - len(RESERVED_TOKENS)]]


def to_ids(tokens, words):
    index = {w: i for i, w in enumerate(words)}
    return np.array([index.get(t, UNK_ID) for t in tokens], dtype=np.int32)


# ------------------------------------------------------------------------- neural models

def lm_config(args, cell: str, epochs: int):
    from trainer.lm import config as lm_config_lib  # pylint: disable=import-outside-toplevel
    overrides = {"cell": cell, "epochs": epochs, **json.loads(args.overrides)}
    for name in ("hidden_size", "num_layers", "batch_size", "num_steps", "learning_rate"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    return lm_config_lib.from_custom_config({"preset": args.preset, **overrides})


def run_trainer(train_ids, valid_ids, vocab_size, cfg, verbose: bool):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer.lm import train  # pylint: disable=import-outside-toplevel
    c0, load = cpu_seconds(), os.getloadavg()[0]
    result = train.train(train_ids, valid_ids, vocab_size, cfg,
                         strategy=tf.distribute.get_strategy(),
                         log=print if verbose else (lambda _: None))
    return result, cpu_seconds() - c0, load


def keras_fit_epoch_seconds(ids, vocab_size, cfg, windows: int, epochs: int):
    """Seconds per epoch of a plain `model.fit` of the same model on the first `windows`
    windows (same batch, optimizer and global-norm clipping), and the window count."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from trainer.lm import data, model as model_lib  # pylint: disable=import-outside-toplevel

    tf.keras.utils.set_random_seed(cfg.seed)
    n = min(windows, data.window_count(len(ids), cfg.batch_size, cfg.num_steps))
    ds = data.batch_windows(ids, cfg.batch_size, cfg.num_steps).take(n)
    model = model_lib.build(vocab_size, cfg)  # stateful when cfg.stateful
    optimizer = {"adam": tf.keras.optimizers.Adam, "sgd": tf.keras.optimizers.SGD}[
        cfg.optimizer](cfg.learning_rate, global_clipnorm=cfg.max_grad_norm)
    model.compile(optimizer=optimizer,
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    seconds = []

    class Timer(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if cfg.stateful:
                model.reset_states()
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.t0)

    model.fit(ds, epochs=epochs, shuffle=False, verbose=0, callbacks=[Timer()])
    return seconds, n


def compare_with_fit(train_ids, valid_ids, vocab_size, cfg, windows: int, rounds: int):
    """Steady-state tokens/s of the trainer and of model.fit on the same windows, run
    alternately `rounds` times for 3 epochs each; each side's best steady epoch (the
    first epoch of every run, with its tracing, is left out), so a burst of load on a
    shared machine hits both sides alike rather than one."""
    from trainer.lm import data  # pylint: disable=import-outside-toplevel
    cfg = dataclasses.replace(cfg, epochs=3)
    n = min(windows, data.window_count(len(train_ids), cfg.batch_size, cfg.num_steps))
    slice_ids = train_ids[:cfg.batch_size * (n * cfg.num_steps + 1)]
    ours, fit = [], []
    for _ in range(rounds):
        result, _, _ = run_trainer(slice_ids, valid_ids[:cfg.eval_rows * (cfg.num_steps + 1)],
                                   vocab_size, cfg, False)
        ours.extend(result.epoch_seconds[1:])
        seconds, _ = keras_fit_epoch_seconds(slice_ids, vocab_size, cfg, n, 3)
        fit.extend(seconds[1:])
    tokens = n * cfg.batch_size * cfg.num_steps
    return tokens / min(ours), tokens / min(fit), n


# ---------------------------------------------------------------------- Kneser-Ney (NLTK)

def indexed_kneser_ney_class():
    from nltk.lm.smoothing import KneserNey  # pylint: disable=import-outside-toplevel

    class IndexedKneserNey(KneserNey):
        """nltk.lm.smoothing.KneserNey with its continuation counts and follower counts
        read from indexes built in one pass over the n-gram counts, instead of a scan
        of every higher-order context per probability. Same quantities:
        continuation(word, context) = (#distinct v with count(v + context + word) > 0,
        #distinct (v, w) with count(v + context + w) > 0), followers(context) = #distinct
        w with count(context + w) > 0."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._cont = {}
            self._cont_total = collections.Counter()
            self._followers = {}

        def _index(self, context_len: int) -> None:
            if context_len in self._cont:
                return
            cont = collections.defaultdict(collections.Counter)
            for prefix, counts in self.counts[context_len + 2].items():
                ctx = prefix[1:]
                for word, c in counts.items():
                    if c > 0:
                        cont[ctx][word] += 1
                        self._cont_total[ctx] += 1
            self._cont[context_len] = cont

        def _continuation_counts(self, word, context=tuple()):
            self._index(len(context))
            return (self._cont[len(context)].get(context, {}).get(word, 0),
                    self._cont_total[context])

        def alpha_gamma(self, word, context):
            prefix_counts = self.counts[context]
            if len(context) + 1 == self._order:
                word_count, total = prefix_counts[word], prefix_counts.N()
            else:
                word_count, total = self._continuation_counts(word, context)
            if context not in self._followers:
                self._followers[context] = sum(1 for c in prefix_counts.values() if c > 0)
            alpha = max(word_count - self.discount, 0.0) / total
            gamma = self.discount * self._followers[context] / total
            return alpha, gamma

    return IndexedKneserNey


def fit_kneser_ney(train_tokens, words, order: int, discount: float):
    from nltk.lm import KneserNeyInterpolated  # pylint: disable=import-outside-toplevel
    from nltk.util import everygrams  # pylint: disable=import-outside-toplevel
    model = KneserNeyInterpolated(order, discount=discount)
    # One unbroken stream, as the recurrent models see it (no sentence padding).
    model.fit([everygrams(train_tokens, max_len=order)], vocabulary_text=words)
    stock = model.estimator
    model.estimator = indexed_kneser_ney_class()(model.vocab, model.counts, order,
                                                 discount=discount)
    return model, stock


def kneser_ney_probabilities(model, valid_tokens, order: int, limit=None):
    out = []
    for i, word in enumerate(valid_tokens[:limit] if limit else valid_tokens):
        context = tuple(valid_tokens[max(0, i - order + 1):i])
        out.append(model.score(word, context))
    return np.array(out, dtype=np.float64)


def check_against_stock(model, stock, valid_tokens, order: int, n: int):
    """(largest |p_indexed - p_nltk|, NLTK's own seconds per token) over the first n
    validation tokens."""
    if n <= 0:
        return 0.0, 0.0
    fast = kneser_ney_probabilities(model, valid_tokens, order, limit=n)
    indexed = model.estimator
    model.estimator = stock
    t0 = time.perf_counter()
    try:
        slow = kneser_ney_probabilities(model, valid_tokens, order, limit=n)
    finally:
        model.estimator = indexed
    return float(np.max(np.abs(fast - slow))), (time.perf_counter() - t0) / n


def perplexity_from_probabilities(p: np.ndarray, vocab_size: int):
    """(strict perplexity, zero count, perplexity with zeros floored) in nats."""
    zeros = int(np.sum(p <= 0))
    strict = math.inf if zeros else math.exp(-np.mean(np.log(p)))
    mixed = (1 - UNIFORM_FLOOR) * p + UNIFORM_FLOOR / vocab_size
    return strict, zeros, math.exp(-np.mean(np.log(mixed)))


def unigram_perplexity(train_ids, valid_ids, vocab_size: int) -> float:
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    p = counts / counts.sum()
    return math.exp(-np.mean(np.log(p[valid_ids])))


# ------------------------------------------------------------------------------- report

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(),
                                                       "classics-bench"))
    p.add_argument("--max-tokens", type=int, default=100_000,
                   help="train tokens (0: all of the text before the validation part)")
    p.add_argument("--valid-fraction", type=float, default=0.1)
    p.add_argument("--max-valid-tokens", type=int, default=20_000, help="0: all")
    p.add_argument("--vocab-size", type=int, default=10_000)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--hidden-size", type=int)
    p.add_argument("--num-layers", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--num-steps", type=int)
    p.add_argument("--learning-rate", type=float)
    p.add_argument("--overrides", default="{}", help="more LMConfig fields, as JSON")
    p.add_argument("--cells", default="lstm,gru")
    p.add_argument("--kn", default="3:0.75,4:0.75,3:0.1",
                   help="Kneser-Ney models as order:discount, comma-separated ('' skips); "
                        "0.1 is NLTK's default discount, 0.75 the usual one")
    p.add_argument("--kn-check", type=int, default=20,
                   help="validation tokens scored by NLTK's own estimator as a check")
    p.add_argument("--fit-windows", type=int, default=30,
                   help="windows per epoch of the trainer-vs-model.fit comparison; 0 skips")
    p.add_argument("--fit-rounds", type=int, default=2)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)

    t0 = time.perf_counter()
    tokens = load_tokens(args.cache_dir)
    train_tokens, valid_tokens = split_tokens(tokens, args.valid_fraction, args.max_tokens,
                                              args.max_valid_tokens)
    words = build_vocabulary(train_tokens, args.vocab_size)
    train_ids, valid_ids = to_ids(train_tokens, words), to_ids(valid_tokens, words)
    unk = lambda ids: float(np.mean(ids == UNK_ID))  # noqa: E731
    print(f"corpus: {len(tokens):,} tokens (embedded Wikipedia excerpt), read in "
          f"{time.perf_counter() - t0:.1f}s; train {len(train_ids):,} tokens "
          f"(<unk> {unk(train_ids):.1%}), validation {len(valid_ids):,} tokens "
          f"(<unk> {unk(valid_ids):.1%}); vocabulary {len(words):,} incl. <unk>, <eos>")
    vocab_size = len(words)
    rows = []  # (model, params, valid ppl, note, tokens/s, wall s, cpu s, load)

    for cell in [c for c in args.cells.split(",") if c]:
        cfg = lm_config(args, cell, args.epochs)
        result, cpu, load = run_trainer(train_ids, valid_ids, vocab_size, cfg, args.verbose)
        name = f"{cell.upper()} {cfg.num_layers}x{cfg.hidden_size}"
        note = (f"{cfg.optimizer} lr {cfg.learning_rate:g}, {len(result.eval_perplexity)} "
                f"epochs of {result.steps // max(len(result.eval_perplexity), 1)} windows "
                f"{cfg.batch_size}x{cfg.num_steps}; per epoch "
                + " ".join(f"{x:.0f}" for x in result.eval_perplexity))
        rows.append((name, f"{result.params:,}", result.eval_perplexity[-1], note,
                     f"{result.tokens_per_sec:,.0f}", result.seconds, cpu, load))

    valid_words = in_vocabulary(valid_tokens, words)
    for spec in [k for k in args.kn.split(",") if k]:
        order, discount = int(spec.split(":")[0]), float(spec.split(":")[1])
        c0, w0, load = cpu_seconds(), time.perf_counter(), os.getloadavg()[0]
        model, stock = fit_kneser_ney(in_vocabulary(train_tokens, words), words, order,
                                      discount)
        probs = kneser_ney_probabilities(model, valid_words, order)
        strict, zeros, floored = perplexity_from_probabilities(probs, vocab_size)
        wall, cpu = time.perf_counter() - w0, cpu_seconds() - c0
        diff, slow = check_against_stock(model, stock, valid_words, order, args.kn_check)
        note = (f"NLTK KneserNeyInterpolated, discount {discount:g}; {zeros} "
                f"zero-probability tokens (strict ppl {strict:.1f}); |p - NLTK's own "
                f"estimator| <= {diff:.1e} on the first {args.kn_check} tokens "
                f"({slow:.2f} s/token there)")
        rows.append((f"Kneser-Ney {order}-gram", "-", floored, note, "-", wall, cpu, load))

    rows.append(("unigram (add-one)", f"{vocab_size:,}",
                 unigram_perplexity(train_ids, valid_ids, vocab_size), "sanity baseline",
                 "-", 0.0, 0.0, os.getloadavg()[0]))

    print("\nvalidation perplexity (exp of mean -ln p per token):")
    print(f"{'model':<20}{'params':>12}{'valid ppl':>11}{'tokens/s':>10}{'wall s':>9}"
          f"{'CPU s':>8}{'load':>6}  notes")
    for name, params, ppl, note, speed, wall, cpu, load in rows:
        print(f"{name:<20}{params:>12}{ppl:>11.1f}{speed:>10}{wall:>9.1f}{cpu:>8.1f}"
              f"{load:>6.1f}  {note}")

    if args.fit_windows > 0:
        cfg = lm_config(args, args.cells.split(",")[0], 3)
        load = os.getloadavg()[0]
        ours, fit, n = compare_with_fit(train_ids, valid_ids, vocab_size, cfg,
                                        args.fit_windows, args.fit_rounds)
        print(f"\nthroughput, {cfg.cell.upper()} {cfg.num_layers}x{cfg.hidden_size}, "
              f"{n} windows of {cfg.batch_size}x{cfg.num_steps}, best steady epoch of "
              f"{args.fit_rounds} alternating rounds (load {load:.1f}):")
        print(f"  trainer (trainer.lm.train)  {ours:>10,.0f} tokens/s")
        print(f"  plain Keras model.fit       {fit:>10,.0f} tokens/s")
        print(f"  ratio trainer / fit         {ours / fit:>10.2f}")
    print(f"\ntotal {time.perf_counter() - t0:.0f}s")
    return 0


def in_vocabulary(tokens, words):
    """Tokens with every out-of-vocabulary word replaced by `<unk>` (what the recurrent
    models see as id 0)."""
    known = set(words)
    return [t if t in known else UNK for t in tokens]


if __name__ == "__main__":
    sys.exit(main())
