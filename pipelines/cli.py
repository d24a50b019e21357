"""`classics`: run, fetch data for, and inspect the tfx-classics pipelines."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import List, Optional

from trainer import tf_env  # noqa: F401  (before TensorFlow)


# Kept literal so `classics --help` needs no TensorFlow import; a test checks it against
# the task table (pipelines/tasks.py).
RUN_CORPUS_NAMES = ["mnist", "cifar10", "folder", "text"]
DATASET_NAMES = ["mnist", "cifar10", "text8", "ptb"]


def _image_size(value: str):
    try:
        h, w, c = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxWxC, e.g. 32x32x3, got {value!r}")
    if c not in (1, 3):
        raise argparse.ArgumentTypeError("channels must be 1 or 3")
    return (h, w, c)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _models(value: str) -> List[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


def _run_settings(args) -> dict:
    """The config fields the user set on the command line (unset ones keep defaults)."""
    given = {"data_dir": args.data, "workspace": args.workspace, "epochs": args.epochs,
             "batch_size": args.batch_size, "min_accuracy": args.min_accuracy,
             "loss": args.loss, "image_shape": args.image_size,
             "resize": False if args.no_resize else None, "on_bad_file": args.on_bad_file,
             "enable_cache": False if args.no_cache else None,
             "mixed_precision": True if args.mixed_precision else None}
    return {k: v for k, v in given.items() if v is not None}


def _cmd_run(args) -> int:
    from pipelines import local_runner, tasks  # pylint: disable=import-outside-toplevel

    config = tasks.make_config(args.corpus, args.models, **_run_settings(args))
    try:
        result = local_runner.run_pipeline(config)
    except local_runner.PipelineRunError as e:
        print(f"error: {e}", file=sys.stderr)
        print(f"       full log: {e.log_path}", file=sys.stderr)
        return 1
    print(local_runner.format_summary(config, result))
    return 0


def _cmd_fetch(args) -> int:
    from components import datasets  # pylint: disable=import-outside-toplevel
    from pipelines.config import default_workspace  # pylint: disable=import-outside-toplevel
    import os  # pylint: disable=import-outside-toplevel

    dest = args.dest or os.path.join(default_workspace(), "data", args.dataset)
    try:
        datasets.fetch(args.dataset, dest, base_url=args.base_url)
    except datasets.FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.dataset}: ready in {dest}")
    return 0


def _cmd_compile(args) -> int:
    from pipelines import kubeflow_runner, tasks  # pylint: disable=import-outside-toplevel

    settings = {"epochs": args.epochs, "batch_size": args.batch_size,
                "mixed_precision": True if args.mixed_precision else None}
    if "text_format" in {f.name for f in dataclasses.fields(
            tasks.select(args.corpus, args.models).config_class)}:
        settings["text_format"] = args.text_format
    config = tasks.make_config(args.corpus, args.models,
                               **{k: v for k, v in settings.items() if v is not None})
    cluster = kubeflow_runner.KubeflowSettings(
        image=args.image, gpu_count=args.gpus, gpu_type=args.gpu_type,
        trainer_cpu=args.trainer_cpu, trainer_memory_gb=args.trainer_memory_gb,
        workspace=args.cluster_workspace, serving_root=args.cluster_models)
    if args.beam_arg:
        cluster.beam_args = list(args.beam_arg)
    data_dir = args.data or f"{args.cluster_workspace}/data/{args.corpus}"
    for path in kubeflow_runner.compile_pipelines(config, cluster, data_dir, args.output_dir):
        print(f"compiled {path}")
    return 0


def _cmd_submit(args) -> int:
    import os  # pylint: disable=import-outside-toplevel
    from pipelines import kubeflow_runner  # pylint: disable=import-outside-toplevel

    host = args.host or os.environ.get("KFP_HOST")
    namespace = args.namespace or os.environ.get("KFP_NAMESPACE")
    if not host:
        print("error: no Kubeflow Pipelines endpoint: pass --host or set KFP_HOST",
              file=sys.stderr)
        return 2
    if not os.path.isfile(args.package):
        print(f"error: {args.package}: no such pipeline file (run `classics compile`)",
              file=sys.stderr)
        return 2
    result = kubeflow_runner.submit(args.package, host, namespace, args.experiment,
                                    args.run_name)
    print(f"submitted {args.package}: run {getattr(result, 'run_id', result)}")
    return 0


def _cmd_predict(args) -> int:
    import json  # pylint: disable=import-outside-toplevel
    from trainer.serving import client as serving_client  # pylint: disable=import-outside-toplevel

    if bool(args.rest) == bool(args.grpc):
        print("error: give exactly one of --rest URL or --grpc HOST:PORT", file=sys.stderr)
        return 2
    size = tuple(int(v) for v in args.size.split(",")) if args.size else None
    try:
        images = serving_client.load_images(args.inputs, size=size, channels=args.channels)
        if args.rest:
            preds = serving_client.predict_rest(args.rest, args.model, images=images)
        else:
            preds = serving_client.predict_grpc(args.grpc, args.model, images=images)
    except serving_client.ServingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for path, pred in zip(args.inputs, preds):
        probs = pred.get("probabilities", [])
        top = max(probs) if probs else float("nan")
        print(json.dumps({"input": path, "class_id": pred.get("class_ids"),
                          "probability": round(top, 4)}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="classics", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a pipeline locally (LocalDagRunner)")
    run.add_argument("corpus", choices=RUN_CORPUS_NAMES,
                     help="which corpus/pipeline (text: word2vec on text corpora)")
    run.add_argument("--models", type=_models, help="comma-separated model names")
    run.add_argument("--data", help="data folder (default: the embedded data)")
    run.add_argument("--workspace", help="pipeline root, metadata, serving (default ./workspace"
                                         " or $CLASSICS_HOME)")
    run.add_argument("--epochs", type=_positive_int, help="override every model's epochs")
    run.add_argument("--batch-size", type=_positive_int,
                     help="override every model's batch size")
    run.add_argument("--min-accuracy", type=float, help="override the Evaluator's bar")
    run.add_argument("--no-cache", action="store_true", help="re-run every component")
    run.add_argument("--loss", choices=["neg", "nce", "sampled_softmax"],
                     help="text: word2vec loss (default neg: word2vec's negative sampling; "
                          "nce: tf.nn.nce_loss)")
    run.add_argument("--mixed-precision", action="store_true",
                     help="train in mixed_float16 when a GPU is present (ignored on CPU)")
    run.add_argument("--image-size", type=_image_size,
                     help="folder corpus: HxWxC to convert images to (default 32x32x3)")
    run.add_argument("--no-resize", action="store_true",
                     help="folder corpus: refuse images of another size instead of resizing")
    run.add_argument("--on-bad-file", choices=["skip", "error"],
                     help="folder corpus: skip (count and log) or stop on unreadable files")
    run.set_defaults(func=_cmd_run)

    data = sub.add_parser("data", help="corpus downloads")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="download a corpus with checksum checks")
    fetch.add_argument("dataset", choices=DATASET_NAMES)
    fetch.add_argument("--dest", help="target folder (default <workspace>/data/<dataset>)")
    fetch.add_argument("--base-url", help="mirror to download from")
    fetch.set_defaults(func=_cmd_fetch)
    comp = sub.add_parser("compile", help="compile to Kubeflow Pipelines v2 IR (one per model)")
    comp.add_argument("corpus", choices=RUN_CORPUS_NAMES)
    comp.add_argument("--text-format", default="wikipedia",
                      choices=["text8", "ptb", "wikipedia", "plaintext"],
                      help="text: layout of the corpus folder on the cluster volume")
    comp.add_argument("--models", type=_models, help="comma-separated model names")
    comp.add_argument("--image", default="tfx-classics:latest", help="pipeline image")
    comp.add_argument("--output-dir", default="build/kfp", help="where the YAML files go")
    comp.add_argument("--data", help="input folder as seen by the pods "
                                     "(default <cluster-workspace>/data/<corpus>)")
    comp.add_argument("--cluster-workspace", default="/workspace",
                      help="pipeline root volume in the pods")
    comp.add_argument("--cluster-models", default="/models",
                      help="TF Serving model repository volume in the pods")
    comp.add_argument("--gpus", type=int, default=1, help="GPUs per Trainer (0: CPU only)")
    comp.add_argument("--gpu-type", default="NVIDIA_TESLA_T4", help="accelerator type")
    comp.add_argument("--trainer-cpu", type=float, default=4.0)
    comp.add_argument("--trainer-memory-gb", type=float, default=16.0)
    comp.add_argument("--beam-arg", action="append",
                      help="Beam pipeline arg for the Beam components (repeatable), e.g. "
                           "--beam-arg=--runner=FlinkRunner")
    comp.add_argument("--mixed-precision", action="store_true",
                      help="Trainers use mixed_float16 on their GPUs")
    comp.add_argument("--epochs", type=_positive_int)
    comp.add_argument("--batch-size", type=_positive_int)
    comp.set_defaults(func=_cmd_compile)

    subm = sub.add_parser("submit", help="upload and start a compiled pipeline on KFP")
    subm.add_argument("package", help="a YAML file written by `classics compile`")
    subm.add_argument("--host", help="KFP endpoint (or $KFP_HOST)")
    subm.add_argument("--namespace", help="Kubeflow namespace (or $KFP_NAMESPACE)")
    subm.add_argument("--experiment", default="classics")
    subm.add_argument("--run-name")
    subm.set_defaults(func=_cmd_submit)
    pred = sub.add_parser("predict", help="ask a TF Serving model about image files")
    pred.add_argument("inputs", nargs="+", help="PNG/JPEG files")
    pred.add_argument("--model", required=True, help="served model name, e.g. mnist_cnn")
    pred.add_argument("--rest", help="REST endpoint, e.g. http://localhost:8501")
    pred.add_argument("--grpc", help="gRPC endpoint, e.g. localhost:8500")
    pred.add_argument("--size", help="resize to H,W before sending (e.g. 28,28)")
    pred.add_argument("--channels", type=int, default=1, choices=[1, 3])
    pred.set_defaults(func=_cmd_predict)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, FileNotFoundError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
