"""The Trainer's code path as a standalone program, for many workers and for tests.

The Kubeflow TFJob (k8s/training/tfjob.yaml) runs one copy of this per replica; the
Training Operator sets TF_CONFIG, so `trainer.strategy.make_strategy` picks
MultiWorkerMirroredStrategy and only the chief exports. It calls the very `train()`
that TFX's Trainer calls, on the outputs of the pipeline's Transform component:

    python -m trainer.distributed_main --corpus=cifar10 --model=resnet20 \\
        --image-shape=32x32x3 --num-classes=10 --workspace=/workspace [--epochs N]

`--transform-output/--train-files/--eval-files` name the inputs explicitly instead
(tests do that); otherwise the newest Transform outputs of the corpus's pipeline under
`<workspace>/pipelines/` are used.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import List, Optional

from trainer import tf_env  # noqa: F401  (before TensorFlow)


def _newest(pattern: str) -> str:
    """The newest TFX artifact folder matching pattern (folders are named by execution id)."""
    found = [p for p in glob.glob(pattern) if os.path.basename(p).isdigit()]
    if not found:
        raise FileNotFoundError(f"no pipeline output matches {pattern}: run the pipeline first")
    return max(found, key=lambda p: int(os.path.basename(p)))


def locate_transform_outputs(workspace: str, pipeline: str):
    root = os.path.join(workspace, "pipelines", pipeline, "Transform")
    graph = _newest(os.path.join(root, "transform_graph", "*"))
    examples = _newest(os.path.join(root, "transformed_examples", "*"))
    return graph, [os.path.join(examples, "Split-train", "*")], \
        [os.path.join(examples, "Split-eval", "*")]


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--corpus", default="mnist")
    ap.add_argument("--image-shape", required=True, help="HxWxC of the corpus, e.g. 28x28x1")
    ap.add_argument("--num-classes", type=int, required=True)
    ap.add_argument("--workspace", default=os.environ.get("CLASSICS_HOME", "workspace"))
    ap.add_argument("--pipeline", help="pipeline name (default classics-<corpus>)")
    ap.add_argument("--transform-output")
    ap.add_argument("--train-files", action="append")
    ap.add_argument("--eval-files", action="append")
    ap.add_argument("--output-dir", help="default <workspace>/tfjob/<corpus>_<model>")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--cpu-replicas", type=int, default=0,
                    help="split the CPU into N logical devices (MirroredStrategy on CPU)")
    ap.add_argument("--mixed-precision", action="store_true")
    args = ap.parse_args(argv)

    from tfx.components.trainer.fn_args_utils import FnArgs  # pylint: disable=import-outside-toplevel

    from trainer import strategy  # pylint: disable=import-outside-toplevel
    from trainer.image import train  # pylint: disable=import-outside-toplevel

    if args.cpu_replicas > 1:
        strategy.split_cpu(args.cpu_replicas)
    image_shape = [int(v) for v in args.image_shape.lower().split("x")]
    if args.transform_output:
        graph, train_files, eval_files = args.transform_output, args.train_files, args.eval_files
    else:
        graph, train_files, eval_files = locate_transform_outputs(
            args.workspace, args.pipeline or f"classics-{args.corpus}")
    out = args.output_dir or os.path.join(args.workspace, "tfjob", f"{args.corpus}_{args.model}")
    custom = {"model": args.model, "image_shape": image_shape,
              "num_classes": args.num_classes, "mixed_precision": args.mixed_precision,
              "backup_dir": os.path.join(out, "backup")}
    if args.epochs:
        custom["epochs"] = args.epochs
    if args.batch_size:
        custom["batch_size"] = args.batch_size
    fn_args = FnArgs(train_files=train_files, eval_files=eval_files,
                     transform_output=graph, transform_graph_path=graph,
                     serving_model_dir=os.path.join(out, "serving_model"),
                     model_run_dir=os.path.join(out, "model_run"), custom_config=custom)
    train.train(fn_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
