"""PTB batching: exact windows, next-token targets, continuity, sharding, the id stream."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from trainer.contract import IDS_KEY
from trainer.lm import data

from tests.paths import REPO


def windows(ds):
    return [(x.numpy().tolist(), y.numpy().tolist()) for x, y in ds]


def test_exact_windows_and_targets():
    # 21 ids, 2 rows of 10 (id 20 does not fill a row: dropped), windows of 3 steps:
    # (10 - 1) // 3 = 3 windows; targets are the inputs shifted by one.
    got = windows(data.batch_windows(np.arange(21), batch_size=2, num_steps=3))
    assert got == [
        ([[0, 1, 2], [10, 11, 12]], [[1, 2, 3], [11, 12, 13]]),
        ([[3, 4, 5], [13, 14, 15]], [[4, 5, 6], [14, 15, 16]]),
        ([[6, 7, 8], [16, 17, 18]], [[7, 8, 9], [17, 18, 19]]),
    ]
    assert data.window_count(21, 2, 3) == 3
    assert data.tokens_per_pass(21, 2, 3) == 18
    x, y = next(iter(data.batch_windows(tf.range(21), 2, 3)))  # a tf stream works too
    assert x.dtype == tf.int32 and y.dtype == tf.int32


def test_rows_continue_across_windows():
    ids = np.arange(1000) * 7 % 997
    ds = list(data.batch_windows(ids, batch_size=4, num_steps=5))
    assert len(ds) == data.window_count(1000, 4, 5) == (250 - 1) // 5
    rows = np.concatenate([x.numpy() for x, _ in ds], axis=1)
    targets = np.concatenate([y.numpy() for _, y in ds], axis=1)
    # Each row read window after window is one unbroken slice of the stream.
    for r in range(4):
        assert rows[r].tolist() == ids[r * 250: r * 250 + rows.shape[1]].tolist()
        assert targets[r].tolist() == ids[r * 250 + 1: r * 250 + 1 + rows.shape[1]].tolist()


def test_too_short_stream_is_an_error():
    assert data.window_count(7, 2, 3) == 0
    with pytest.raises(ValueError, match="too few for one window"):
        data.batch_windows(np.arange(7), 2, 3)
    with pytest.raises(ValueError, match="1-D"):
        data.batch_windows(np.zeros([4, 4], np.int32), 2, 3)


class _Context:
    """The fields of tf.distribute.InputContext that replica_windows reads."""

    def __init__(self, workers, worker, replicas):
        self.num_input_pipelines = workers
        self.input_pipeline_id = worker
        self.num_replicas_in_sync = replicas


def test_rows_are_sharded_in_contiguous_blocks_per_replica():
    ids = np.arange(4 * 10)  # 4 rows of 10, windows of 3: 3 windows
    full = windows(data.batch_windows(ids, 4, 3))
    # Two workers with one replica each: worker w gets rows [2w, 2w+2) of every window.
    for w in (0, 1):
        got = windows(data.replica_windows(ids, 4, 3, _Context(2, w, 2)))
        assert got == [([r for r in x[2 * w:2 * w + 2]], [r for r in y[2 * w:2 * w + 2]])
                       for x, y in full]
    # One worker, two local replicas: elements alternate replica 0, replica 1 per window.
    got = windows(data.replica_windows(ids, 4, 3, _Context(1, 0, 2)))
    assert len(got) == 6
    for j, (x, y) in enumerate(full):
        assert got[2 * j] == (x[:2], y[:2]) and got[2 * j + 1] == (x[2:], y[2:])
    with pytest.raises(ValueError, match="not divisible"):
        data.replica_windows(ids, 3, 3, _Context(1, 0, 2))


_MIRRORED = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import trainer
from trainer import strategy
strategy.split_cpu(2)
import numpy as np, tensorflow as tf
from trainer.lm import data
st = strategy.make_strategy()
out = []
for x, y in data.distributed_windows(st, np.arange(4 * 10), 4, 3):
    out.append([[v.numpy().tolist() for v in st.experimental_local_results(t)]
                for t in (x, y)])
print(json.dumps({"replicas": st.num_replicas_in_sync, "windows": out}))
"""


def test_mirrored_replicas_receive_their_own_rows():
    # tf.distribute deals a worker's elements to its local replicas in turn; check that
    # replica k really gets rows block k of every window, in window order.
    proc = subprocess.run([sys.executable, "-c", _MIRRORED, REPO], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": REPO})
    assert proc.returncode == 0, proc.stderr[-3000:]
    import json
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    full = windows(data.batch_windows(np.arange(40), 4, 3))
    assert len(result["windows"]) == len(full)
    for (xs, ys), (x, y) in zip(result["windows"], full):
        assert xs == [x[:2], x[2:]] and ys == [y[:2], y[2:]]


def _write(path, chunks):
    with tf.io.TFRecordWriter(path, "GZIP") as w:
        for ids in chunks:
            ex = tf.train.Example(features=tf.train.Features(feature={
                IDS_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=ids))}))
            w.write(ex.SerializeToString())


def test_id_stream_from_transformed_files(tmp_path):
    folder = tmp_path / "Split-train"
    folder.mkdir()
    _write(str(folder / "part-00001.gz"), [[7, 8], [9]])
    _write(str(folder / "part-00000.gz"), [[1, 2, 3], [], [4, 5]])
    pattern = str(folder / "*")
    # Files in sorted order, records in file order; an empty chunk adds nothing.
    assert data.read_id_stream([pattern]).tolist() == [1, 2, 3, 4, 5, 7, 8, 9]
    # With an end-of-sentence id: one after every chunk (the empty one too).
    assert data.read_id_stream([pattern], eos_id=1).tolist() == \
        [1, 2, 3, 1, 1, 4, 5, 1, 7, 8, 1, 9, 1]
    assert data.read_id_stream([pattern]).dtype == np.int32
    with pytest.raises(FileNotFoundError):
        data.read_id_stream([str(tmp_path / "nothing" / "*")])
