"""The word-id stream and the classic PTB batching layout (ptb_word_lm's `ptb_producer`).

A split is one 1-D stream of ids. `batch_windows` cuts it into `batch_size` contiguous
rows (the tail that does not fill a row is dropped), then walks the rows left to right in
windows of `num_steps`:

    rows = ids[:batch_size * L].reshape(batch_size, L),   L = len(ids) // batch_size
    window j: inputs  = rows[:, j*T     : (j+1)*T]
              targets = rows[:, j*T + 1 : (j+1)*T + 1]     (the next token)

so row r of window j+1 continues row r of window j exactly, and a recurrent state
carried from one window to the next sees the row as one unbroken text (truncated BPTT).
There are (L - 1) // T windows (`window_count`); the last inputs of a row need a target.

Several replicas: the rows are the unit of sharding. With R replicas in sync each
replica owns R-th of the rows as one contiguous block (replica k: rows
[k*B/R, (k+1)*B/R)), and gets that block's part of every window, in window order, so a
replica's state always continues its own rows. Under MultiWorkerMirroredStrategy each
worker (`input_context.input_pipeline_id`) builds only its own workers' rows (every
worker reads the whole stream: the row layout is defined over the whole split) and hands
its local replicas their blocks in turn, which is the order tf.distribute's
multi-device iterator deals elements to local replicas. `batch_size` must be divisible
by the number of replicas.

The stream is held in memory (PTB's train split is 930k ids, 3.7 MB as int32).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from trainer.contract import IDS_KEY
from trainer.example_files import match_files

_PARSE_BATCH = 1024


def _as_stream(ids) -> np.ndarray:
    arr = ids.numpy() if isinstance(ids, tf.Tensor) else np.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"an id stream is 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"an id stream holds integers, got {arr.dtype}")
    return arr.astype(np.int32, copy=False)


def window_count(num_tokens: int, batch_size: int, num_steps: int) -> int:
    """Windows per pass over a stream of `num_tokens` ids (the steps of an epoch)."""
    if batch_size < 1 or num_steps < 1:
        raise ValueError(f"batch_size and num_steps must be >= 1, got {batch_size}, "
                         f"{num_steps}")
    row_len = int(num_tokens) // batch_size
    return max(0, (row_len - 1) // num_steps)


def tokens_per_pass(num_tokens: int, batch_size: int, num_steps: int) -> int:
    """Target tokens one pass scores: windows * batch_size * num_steps."""
    return window_count(num_tokens, batch_size, num_steps) * batch_size * num_steps


def window_arrays(ids, batch_size: int, num_steps: int, rows: Optional[slice] = None):
    """(inputs, targets) as int32 arrays [windows, rows, num_steps]; `rows` selects a
    block of the batch_size rows (the layout is always that of all rows)."""
    stream = _as_stream(ids)
    n = window_count(stream.size, batch_size, num_steps)
    if n == 0:
        raise ValueError(
            f"{stream.size} ids are too few for one window of {batch_size} rows x "
            f"{num_steps} steps (need at least {batch_size * (num_steps + 1)})")
    row_len = stream.size // batch_size
    grid = stream[:batch_size * row_len].reshape(batch_size, row_len)
    if rows is not None:
        grid = grid[rows]
    span = n * num_steps
    inputs = grid[:, :span].reshape(grid.shape[0], n, num_steps).transpose(1, 0, 2)
    targets = grid[:, 1:span + 1].reshape(grid.shape[0], n, num_steps).transpose(1, 0, 2)
    return np.ascontiguousarray(inputs), np.ascontiguousarray(targets)


def batch_windows(ids, batch_size: int, num_steps: int) -> tf.data.Dataset:
    """(inputs, targets) int32 [batch_size, num_steps] windows in stream order."""
    inputs, targets = window_arrays(ids, batch_size, num_steps)
    return tf.data.Dataset.from_tensor_slices((inputs, targets))


def replica_windows(ids, global_batch: int, num_steps: int,
                    input_context: Optional[tf.distribute.InputContext] = None
                    ) -> tf.data.Dataset:
    """The windows one input pipeline feeds its replicas (see the module docstring):
    for every window, one [global_batch / replicas, num_steps] element per local
    replica, replica by replica."""
    if input_context is None or input_context.num_replicas_in_sync == 1:
        return batch_windows(ids, global_batch, num_steps)
    replicas = input_context.num_replicas_in_sync
    workers = input_context.num_input_pipelines
    if global_batch % replicas:
        raise ValueError(f"batch_size {global_batch} is not divisible by the "
                         f"{replicas} replicas in sync")
    per_replica = global_batch // replicas
    local = replicas // workers
    first = input_context.input_pipeline_id * local * per_replica
    inputs, targets = window_arrays(ids, global_batch, num_steps,
                                    rows=slice(first, first + local * per_replica))
    n = inputs.shape[0]
    # [windows, local*per_replica, T] -> [windows*local, per_replica, T]: window j's
    # block for local replica i is element j*local + i.
    inputs = inputs.reshape(n * local, per_replica, num_steps)
    targets = targets.reshape(n * local, per_replica, num_steps)
    return tf.data.Dataset.from_tensor_slices((inputs, targets))


def distributed_windows(strategy: tf.distribute.Strategy, ids, global_batch: int,
                        num_steps: int):
    """A distributed dataset of windows: each replica receives its own rows of every
    window, in window order (iterate it once per epoch)."""
    stream = _as_stream(ids)
    return strategy.distribute_datasets_from_function(
        lambda ctx: replica_windows(stream, global_batch, num_steps, ctx).prefetch(2))


# ------------------------------------------------------------------ transformed examples

def read_id_stream(file_patterns: Sequence[str], eos_id: Optional[int] = None
                   ) -> np.ndarray:
    """One int32 stream from the transformed examples: chunks concatenated in file order,
    with `eos_id` appended after each chunk when given. (trainer/lm/preprocessing.py's
    Transform already ends every chunk with `<eos>`; pass eos_id for streams without.)"""
    ds = tf.data.TFRecordDataset(match_files(file_patterns), compression_type="GZIP")
    spec = {IDS_KEY: tf.io.RaggedFeature(tf.int64)}

    def flat(serialized):
        ids = tf.io.parse_example(serialized, spec)[IDS_KEY]
        if eos_id is not None:
            eos = tf.fill(tf.stack([ids.nrows(), 1]), tf.constant(eos_id, tf.int64))
            ids = tf.concat([ids, tf.RaggedTensor.from_tensor(
                eos, row_splits_dtype=ids.row_splits.dtype)], axis=1)
        return ids.flat_values

    parts = [p for p in ds.batch(_PARSE_BATCH).map(flat).as_numpy_iterator()]
    stream = np.concatenate(parts) if parts else np.zeros([0], np.int64)
    if stream.size and (stream.min() < 0 or stream.max() > np.iinfo(np.int32).max):
        raise ValueError(f"ids out of range in {list(file_patterns)}: "
                         f"[{stream.min()}, {stream.max()}]")
    return stream.astype(np.int32)


__all__ = ["batch_windows", "window_count", "tokens_per_pass", "window_arrays",
           "replica_windows", "distributed_windows", "read_id_stream"]
