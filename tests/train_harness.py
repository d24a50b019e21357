"""Runs trainer.image.train.train() in its own process for the distribution tests.

usage: python tests/train_harness.py ARGS_JSON [--kill-after-epoch N]
With --kill-after-epoch the process SIGKILLs itself at the end of that epoch (after
BackupAndRestore has written its checkpoint): a real kill, no clean-up code runs.
"""
import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainer import tf_env  # noqa: E402,F401

import tensorflow as tf  # noqa: E402
from tfx.components.trainer.fn_args_utils import FnArgs  # noqa: E402

from trainer import strategy  # noqa: E402
from trainer.image import train as run  # noqa: E402


class KillAtEpoch(tf.keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


def main():
    args = json.loads(sys.argv[1])
    if args.pop("cpu_replicas", 0) > 1:
        strategy.split_cpu(2)
    extra = []
    if "--kill-after-epoch" in sys.argv:
        extra.append(KillAtEpoch(int(sys.argv[sys.argv.index("--kill-after-epoch") + 1])))
    run.train(FnArgs(**args), extra_callbacks=extra)


if __name__ == "__main__":
    main()
