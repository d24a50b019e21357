"""`classics`: run, fetch data for, and inspect the tfx-classics pipelines."""
from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import re
import shlex
import subprocess
import sys
import traceback
from typing import List, Optional

from trainer import tf_env  # noqa: F401  (before TensorFlow)
from trainer.runtime import object_store  # imports no TensorFlow
from pipelines import console  # imports no TensorFlow
from pipelines import rollback as rollback_command  # imports no TensorFlow


# Kept literal so `classics --help` needs no TensorFlow import; a test keeps them in step
# with the modules that define them. A corpus is checked against the task table when the
# command runs (an unknown one is refused with the table's list).
CORPUS_HELP = "a corpus of the task table (pipelines/tasks.py): mnist, cifar10, folder, text"
DATASET_NAMES = ["mnist", "cifar10", "text8", "ptb"]
BEAM_MODE_NAMES = ["in_memory", "multi_processing", "multi_threading"]
WARM_START_HELP = ("image models: start training from the served version's weights when "
                   "the architecture matches (default: each model's registry entry; "
                   "docs/production-loop.md)")
SPAN_HELP = ("with span folders in --data (span-1/, span-2/, ...): read span N (default: "
             "the newest)")


def _image_size(value: str):
    try:
        h, w, c = (int(v) for v in value.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HxWxC, e.g. 32x32x3, got {value!r}")
    if c not in (1, 3):
        raise argparse.ArgumentTypeError("channels must be 1 or 3")
    return (h, w, c)


def _hw_size(value: str):
    """--size H,W: two whole numbers of at least 1."""
    parts = value.replace("x", ",").split(",")
    try:
        h, w = (int(v) for v in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected H,W (two whole numbers, e.g. 28,28), got {value!r}") from None
    if min(h, w) < 1:
        raise argparse.ArgumentTypeError(f"height and width must be at least 1, got {value!r}")
    return (h, w)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


def _toleration(value: str) -> dict:
    from components import tfjob  # pylint: disable=import-outside-toplevel
    try:
        return tfjob.parse_toleration(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _node_selector(value: str):
    from components import tfjob  # pylint: disable=import-outside-toplevel
    try:
        return tfjob.parse_node_selector(value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _models(value: str) -> List[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


def _run_settings(args) -> dict:
    """The config fields the user set on the command line (unset ones keep defaults)."""
    given = {"data_dir": args.data, "span": args.span, "workspace": args.workspace,
             "epochs": args.epochs,
             "batch_size": args.batch_size, "min_accuracy": args.min_accuracy,
             "max_perplexity": args.max_perplexity,
             "loss": args.loss, "word2vec_kernel": args.word2vec_kernel,
             "image_shape": args.image_size,
             "resize": False if args.no_resize else None, "on_bad_file": args.on_bad_file,
             "enable_cache": False if args.no_cache else None,
             "mixed_precision": True if args.mixed_precision else None,
             "serving_root_override": _location(args.serving_root),
             "warm_start": True if args.warm_start else None,
             "beam_args": _beam_mode_args(args.beam_mode)}
    return {k: v for k, v in given.items() if v is not None}


def _beam_mode_args(mode: Optional[str]) -> Optional[List[str]]:
    if not mode:
        return None
    from pipelines.config import BEAM_MODES  # pylint: disable=import-outside-toplevel
    return list(BEAM_MODES[mode])


def _location(value: Optional[str]) -> Optional[str]:
    """A --pipeline-root/--serving-root value: URIs as given, local paths made absolute."""
    if not value:
        return None
    if "://" in value:
        return value.rstrip("/")
    return os.path.abspath(value)


def _cmd_run(args) -> int:
    from pipelines import tasks  # pylint: disable=import-outside-toplevel
    from pipelines.runners import local as local_runner

    config = tasks.make_config(args.corpus, args.models, **_run_settings(args))
    if args.pipeline_root:
        # One folder per pipeline under the given root, as under <workspace>/pipelines:
        # two pipelines with their own ML Metadata must never share artifact paths.
        root = _location(args.pipeline_root)
        config = dataclasses.replace(config, pipeline_root_override=(
            f"{root}/{config.name}" if "://" in root else os.path.join(root, config.name)))
    try:
        result = local_runner.run_pipeline(config)
    except local_runner.PipelineRunError as e:
        # The error last: it is what a user (or a CI log's tail) reads first. Both go to
        # the terminal the command started with: stderr is the run's log file until the
        # console is left.
        print(f"full log (with tracebacks): {e.log_path}", file=console.terminal())
        if e.refused and e.run_id:  # the report shows what the gate compared
            _write_report(config.workspace, config.name, e.run_id)
        console.error(str(e))
        return 1
    print(local_runner.format_summary(config, result))
    _write_report(config.workspace, config.name, result.run_id)
    return 0


def _write_report(workspace: str, pipeline: str, run_id: str) -> None:
    from pipelines.report import page as report_page  # pylint: disable=import-outside-toplevel
    try:
        path = report_page.write(workspace, pipeline, run_id)
    except Exception as e:  # pylint: disable=broad-except
        # The run itself succeeded and its summary is printed; say why no report came.
        print(f"warning: no run report written: {type(e).__name__}: {e}",
              file=console.terminal())
        return
    print(f"report: {path}")


def _workspace(args) -> str:
    from pipelines.config import default_workspace  # pylint: disable=import-outside-toplevel
    return os.path.abspath(args.workspace) if args.workspace else default_workspace()


def _cmd_report(args) -> int:
    from pipelines.report import page as report_page  # pylint: disable=import-outside-toplevel
    try:
        path = report_page.write(_workspace(args), args.pipeline, args.run, args.output)
    except LookupError as e:
        console.error(str(e.args[0] if e.args else e))
        return 2
    print(f"report: {path}")
    return 0


def _cmd_runs(args) -> int:
    from pipelines.report import runs as report  # pylint: disable=import-outside-toplevel
    from pipelines.report import page as report_page
    workspace = _workspace(args)
    name, metadata_path = report_page.find_pipeline(workspace, args.pipeline)
    try:
        runs, task = report_page.read_all(metadata_path, name)
    except LookupError as e:
        console.error(str(e.args[0] if e.args else e))
        return 2
    root = report.serving_root_of(runs) or os.path.join(workspace, "serving")
    print(f"pipeline {name} ({metadata_path}): {len(runs)} run(s), newest first")
    print(report.format_runs(runs, report.serving_now(root, runs),
                             task.describe_metrics if task else lambda _: "no evaluation"))
    return 0


def _cmd_tensorboard(args) -> int:
    from pipelines.report import page as report_page  # pylint: disable=import-outside-toplevel
    name, metadata_path = report_page.find_pipeline(_workspace(args), args.pipeline)
    try:
        run, _ = report_page.read(metadata_path, name, args.run)
    except LookupError as e:
        console.error(str(e.args[0] if e.args else e))
        return 2
    cmd = report_page.tensorboard_command(report_page.tensorboard_logdirs(run),
                                          port=args.port)
    if args.print:
        print(shlex.join(cmd))
        return 0
    print(f"TensorBoard on the Trainer logs of {name} run {run.run_id}:\n  "
          f"{shlex.join(cmd)}", flush=True)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:  # Ctrl-C stops TensorBoard (same process group) and us
        return 0


def _cmd_fetch(args) -> int:
    from components import datasets  # pylint: disable=import-outside-toplevel
    from pipelines.config import default_workspace  # pylint: disable=import-outside-toplevel
    import os  # pylint: disable=import-outside-toplevel

    dest = args.dest or os.path.join(default_workspace(), "data", args.dataset)
    try:
        datasets.fetch(args.dataset, dest, base_url=args.base_url)
    except datasets.FetchError as e:
        console.error(str(e))
        return 1
    print(f"{args.dataset}: ready in {dest}")
    return 0


def _cmd_compile(args) -> int:
    from pipelines import tasks  # pylint: disable=import-outside-toplevel
    from pipelines.runners import kubeflow as kubeflow_runner

    settings = {"epochs": args.epochs, "batch_size": args.batch_size,
                "min_accuracy": args.min_accuracy, "max_perplexity": args.max_perplexity,
                "mixed_precision": True if args.mixed_precision else None,
                "workers": args.workers, "gpus_per_worker": args.gpus_per_worker,
                "span": args.span, "warm_start": True if args.warm_start else None}
    fields = {f.name for f in dataclasses.fields(
        tasks.select(args.corpus, args.models).config_class)}
    if "text_format" in fields:
        settings["text_format"] = args.text_format
    if "word2vec_kernel" in fields:
        settings["word2vec_kernel"] = args.word2vec_kernel
    config = tasks.make_config(args.corpus, args.models,
                               **{k: v for k, v in settings.items() if v is not None})
    cluster = kubeflow_runner.KubeflowSettings(
        target=args.target, image=args.image, gpu_count=args.gpus, gpu_type=args.gpu_type,
        trainer_cpu=args.trainer_cpu, trainer_memory_gb=args.trainer_memory_gb,
        object_store_endpoint=args.object_store_endpoint,
        object_store_secret=args.object_store_secret,
        object_store_region=args.object_store_region, local_folders=args.local_folders,
        tfjob_namespace=args.tfjob_namespace, tfjob_timeout_hours=args.tfjob_timeout_hours,
        keep_tfjob=args.keep_tfjob, trainer_backend=args.trainer_backend,
        tolerations=list(args.toleration or []),
        node_selector=dict(args.node_selector or []))
    place = _location if args.local_folders else (lambda value: value)
    for name in ("pipeline_root", "serving_root"):
        if getattr(args, name):
            setattr(cluster, name, place(getattr(args, name)))
    if args.beam_arg:
        cluster.beam_args = list(args.beam_arg)
    data_dir = place(args.data) or kubeflow_runner.default_data_uri(cluster.pipeline_root,
                                                                    args.corpus)
    for path in kubeflow_runner.compile_pipelines(config, cluster, data_dir, args.output_dir):
        print(f"compiled {path}")
    return 0


def _cmd_run_ir(args) -> int:
    from pipelines.runners.ir import run as ir_run  # pylint: disable=import-outside-toplevel

    try:
        result = ir_run.run_ir(args.ir_file, pipeline_root=args.pipeline_root,
                               run_id=args.run_id, secrets_file=args.secrets,
                               publish_logs=not args.no_publish_logs,
                               parallelism=args.parallelism, local_mounts=args.local_mounts,
                               kubeconfig=args.kubeconfig)
    except ir_run.IRRunError as e:
        for done in e.results:
            print(f"  {done.name}: exit {done.exit_code} in {done.seconds:.1f} s "
                  f"({done.cpu_seconds:.1f} s of CPU)", file=sys.stderr)
        for other in e.others:
            print(f"also failed: {other}", file=sys.stderr)
        if e.not_run:
            print(f"not run: {', '.join(e.not_run)}", file=sys.stderr)
        if e.log_tail:
            print(f"the log's last lines:\n{e.log_tail.rstrip()}", file=sys.stderr)
        if e.log_path:
            print(f"task log: {e.log_path}", file=sys.stderr)
        # The error last: what a user (or a CI log's tail) reads first.
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(ir_run.format_summary(result))
    return 0


def _cmd_submit(args) -> int:
    import os  # pylint: disable=import-outside-toplevel
    from pipelines.runners import kubeflow as kubeflow_runner  # pylint: disable=import-outside-toplevel

    host = args.host or os.environ.get("KFP_HOST")
    namespace = args.namespace or os.environ.get("KFP_NAMESPACE")
    if not host:
        console.error("no Kubeflow Pipelines endpoint: pass --host or set KFP_HOST")
        return 2
    if not os.path.isfile(args.package):
        console.error(f"{args.package}: no such pipeline file (run `classics compile`)")
        return 2
    import urllib3  # pylint: disable=import-outside-toplevel
    from kfp_server_api.exceptions import ApiException  # pylint: disable=import-outside-toplevel
    scheduled = _schedule_settings(args)
    try:
        if scheduled is not None:
            result = kubeflow_runner.schedule(args.package, host, namespace, args.experiment,
                                              pipeline_root=args.pipeline_root, **scheduled)
        else:
            result = kubeflow_runner.submit(args.package, host, namespace, args.experiment,
                                            args.run_name, pipeline_root=args.pipeline_root)
    except urllib3.exceptions.HTTPError as e:  # no connection (after the client's retries)
        reason = str(getattr(e, "reason", None) or e)
        code = re.search(r"\[Errno -?\d+\] [^'\")]*", reason)
        console.error(f"cannot reach Kubeflow Pipelines at {host}: "
                      f"{code.group(0) if code else reason}")
        return 1
    except ApiException as e:  # reached, but it answered with an HTTP error
        console.error(f"Kubeflow Pipelines at {host} answered HTTP {e.status} {e.reason}")
        return 1
    if scheduled is not None:
        print(f"scheduled {args.package}: recurring run "
              f"{getattr(result, 'recurring_run_id', result)} ({scheduled['cron']})")
        return 0
    print(f"submitted {args.package}: run {getattr(result, 'run_id', result)}")
    return 0


def _schedule_settings(args) -> Optional[dict]:
    """`--schedule` and its companions (None: a single run); refuses companions alone."""
    if args.schedule is None:
        given = [flag for flag, value in (("--max-concurrency", args.max_concurrency),
                                          ("--job-name", args.job_name)) if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: only for a recurring run (--schedule CRON)")
        return None
    if args.run_name:
        raise ValueError("--run-name names a single run; a recurring run is named with "
                         "--job-name")
    return {"cron": args.schedule, "job_name": args.job_name,
            "max_concurrency": 1 if args.max_concurrency is None else args.max_concurrency}


def _cmd_predict(args) -> int:
    import json  # pylint: disable=import-outside-toplevel
    from trainer.contract import (  # pylint: disable=import-outside-toplevel
        NEAREST_SIGNATURE, NEXT_WORDS_SIGNATURE, SERVING_IMAGES)
    from trainer.serving import client as serving_client  # pylint: disable=import-outside-toplevel

    if bool(args.rest) == bool(args.grpc):
        console.error("give exactly one of --rest URL or --grpc HOST:PORT")
        return 2
    endpoint = serving_client.Endpoint(args.model, rest=args.rest, grpc=args.grpc)
    try:
        # The model's own signatures say what it is: a language model answers next_words,
        # word2vec nearest, an image classifier serving_images.
        signatures = endpoint.signatures()
        if NEXT_WORDS_SIGNATURE in signatures:
            found = serving_client.next_words(endpoint, args.inputs, args.top)
            lines = [{"input": text, "next_words": [
                {"word": w, "probability": round(p, 4)} for w, p in candidates]}
                for text, candidates in zip(args.inputs, found)]
        elif NEAREST_SIGNATURE in signatures:
            found = serving_client.nearest(endpoint, args.inputs, args.top)
            lines = [{"input": word, "neighbours": [
                {"word": w, "similarity": round(s, 4)} for w, s in neighbours]}
                for word, neighbours in zip(args.inputs, found)]
        elif SERVING_IMAGES in signatures:
            images = serving_client.load_images(args.inputs, size=args.size,
                                                channels=args.channels)
            if args.rest:
                preds = serving_client.predict_rest(args.rest, args.model, images=images)
            else:
                preds = serving_client.predict_grpc(args.grpc, args.model, images=images)
            lines = []
            for path, pred in zip(args.inputs, preds):
                probs = pred.get("probabilities", [])
                line = {"input": path, "class_id": pred.get("class_ids")}
                if "class_names" in pred:  # folder corpora: the class folder's name
                    line["class_name"] = pred["class_names"]
                line["probability"] = round(max(probs), 4) if probs else float("nan")
                lines.append(line)
        else:
            print(f"error: {args.model} at {endpoint.where} has none of the signatures "
                  f"`classics predict` calls ({NEXT_WORDS_SIGNATURE}, {NEAREST_SIGNATURE}, "
                  f"{SERVING_IMAGES}); it has {', '.join(signatures) or 'none'}",
                  file=sys.stderr)
            return 1
    except serving_client.ServingError as e:
        console.error(str(e))
        return 1
    for line in lines:
        print(json.dumps(line))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="classics", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a pipeline locally (LocalDagRunner)")
    run.add_argument("corpus", help=CORPUS_HELP + " (text: word2vec, or with --models "
                                      "lstm/gru language models)")
    run.add_argument("--models", type=_models, help="comma-separated model names")
    run.add_argument("--data", help="data folder, local or gs:// / s3:// (default: the "
                                    "embedded data)")
    run.add_argument("--span", type=_positive_int, metavar="N", help=SPAN_HELP)
    run.add_argument("--pipeline-root", metavar="URI",
                     help="artifacts go to URI/<pipeline name>/: a folder, gs:// or s3:// "
                          "(default <workspace>/pipelines; ML Metadata stays local)")
    run.add_argument("--serving-root", metavar="URI",
                     help="the TF Serving model repository the Pusher writes "
                          "<model>/<version>/ to: a folder, gs:// or s3:// "
                          "(default <workspace>/serving)")
    run.add_argument("--workspace", help="pipeline root, metadata, serving (default ./workspace"
                                         " or $CLASSICS_HOME)")
    run.add_argument("--epochs", type=_positive_int, help="override every model's epochs")
    run.add_argument("--batch-size", type=_positive_int,
                     help="override every model's batch size")
    run.add_argument("--min-accuracy", type=float, help="override the Evaluator's bar")
    run.add_argument("--max-perplexity", type=float,
                     help="language models: override the Evaluator's perplexity ceiling")
    run.add_argument("--no-cache", action="store_true", help="re-run every component")
    run.add_argument("--beam-mode", choices=BEAM_MODE_NAMES,
                     help="the Beam DirectRunner's mode for every Beam component (default "
                          "in_memory; multi_processing: one worker process per core)")
    run.add_argument("--loss", choices=["neg", "nce", "sampled_softmax"],
                     help="text: word2vec loss (default neg: word2vec's negative sampling; "
                          "nce: tf.nn.nce_loss)")
    run.add_argument("--word2vec-kernel", choices=["tape", "fused"],
                     help="text: how word2vec trains (default tape: TensorFlow ops, any "
                          "strategy; fused: word2vec.c's loop compiled, one machine's cores)")
    run.add_argument("--mixed-precision", action="store_true",
                     help="train in mixed_float16 when a GPU is present (ignored on CPU)")
    run.add_argument("--warm-start", action="store_true", help=WARM_START_HELP)
    run.add_argument("--image-size", type=_image_size,
                     help="folder corpus: HxWxC to convert images to (default 32x32x3)")
    run.add_argument("--no-resize", action="store_true",
                     help="folder corpus: refuse images of another size instead of resizing")
    run.add_argument("--on-bad-file", choices=["skip", "error"],
                     help="folder corpus: skip (count and log) or stop on unreadable files")
    run.add_argument("--verbose", action="store_true",
                     help="also show library logging and TensorFlow's C++ log on the terminal "
                          "(default: only in the run's log file)")
    run.set_defaults(func=_cmd_run, quiet=True)

    def run_selection(cmd) -> None:
        cmd.add_argument("run", nargs="?",
                         help="run id or a unique prefix of one (default: the latest)")
        cmd.add_argument("--pipeline", help="pipeline name or corpus (mnist = classics-mnist; "
                                            "default: the pipeline that ran last)")
        cmd.add_argument("--workspace", help="default ./workspace or $CLASSICS_HOME")
        cmd.add_argument("--verbose", action="store_true",
                         help="also show library logging on the terminal")

    rep = sub.add_parser("report", help="write the HTML report of a run (from ML Metadata)")
    run_selection(rep)
    rep.add_argument("--output", help="HTML file (default <workspace>/reports/"
                                      "<pipeline>-<run>.html)")
    rep.set_defaults(func=_cmd_report, quiet=True)
    runs = sub.add_parser("runs", help="list past runs with lineage and what is served now")
    runs.add_argument("--pipeline", help="pipeline name or corpus (default: the pipeline "
                                         "that ran last)")
    runs.add_argument("--workspace", help="default ./workspace or $CLASSICS_HOME")
    runs.add_argument("--verbose", action="store_true",
                      help="also show library logging on the terminal")
    runs.set_defaults(func=_cmd_runs, quiet=True)
    rollback_command.add_parser(sub)
    board = sub.add_parser("tensorboard", help="TensorBoard on a run's Trainer logs")
    run_selection(board)
    board.add_argument("--port", type=int, help="TensorBoard's port (default 6006)")
    board.add_argument("--print", action="store_true",
                       help="print the TensorBoard command instead of running it")
    board.set_defaults(func=_cmd_tensorboard, quiet=True)

    data = sub.add_parser("data", help="corpus downloads")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="download a corpus with checksum checks")
    fetch.add_argument("dataset", choices=DATASET_NAMES)
    fetch.add_argument("--dest", help="target folder (default <workspace>/data/<dataset>)")
    fetch.add_argument("--base-url", help="mirror to download from")
    fetch.set_defaults(func=_cmd_fetch)
    comp = sub.add_parser("compile", help="compile to Kubeflow Pipelines v2 IR (one pipeline "
                                          "per corpus, all its models)")
    comp.add_argument("corpus", help=CORPUS_HELP)
    comp.add_argument("--target", choices=["kfp", "vertex"], default="kfp",
                      help="kfp: open-source Kubeflow Pipelines (s3:// or gs://, Kubernetes "
                           "GPU resource names); vertex: Vertex AI Pipelines (gs://)")
    comp.add_argument("--text-format", default="wikipedia",
                      choices=["text8", "ptb", "wikipedia", "plaintext"],
                      help="text: layout of the corpus folder on the cluster volume")
    comp.add_argument("--models", type=_models, help="comma-separated model names")
    comp.add_argument("--image", default="tfx-classics:latest", help="pipeline image")
    comp.add_argument("--output-dir", default="build/kfp", help="where the YAML files go")
    comp.add_argument("--pipeline-root",
                      help="object-store URI the run's artifacts go under (default "
                           "s3://mlpipeline/v2/artifacts: k8s/kfp's bundled store)")
    comp.add_argument("--serving-root",
                      help="object-store URI of the TF Serving model repository the "
                           "Pusher writes to (default s3://mlpipeline/serving)")
    comp.add_argument("--data", help="input folder URI (default <bucket of the pipeline "
                                     "root>/data/<corpus>); a folder corpus must be "
                                     "readable from here too: its classes are counted")
    comp.add_argument("--span", type=_positive_int, metavar="N", help=SPAN_HELP)
    comp.add_argument("--warm-start", action="store_true", help=WARM_START_HELP)
    comp.add_argument("--object-store-endpoint",
                      help="S3 endpoint for s3:// URIs other than AWS, e.g. "
                           "http://seaweedfs.kubeflow:9000; every task gets it")
    comp.add_argument("--object-store-secret",
                      help="Kubernetes Secret with the S3 keys (accesskey/secretkey, like "
                           "KFP's mlpipeline-minio-artifact); every task gets them as "
                           "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY")
    comp.add_argument("--object-store-region", default="us-east-1")
    comp.add_argument("--gpus", type=int, default=1, help="GPUs per Trainer (0: CPU only)")
    comp.add_argument("--gpu-type",
                      help="accelerator: a Kubernetes resource name for kfp (default "
                           "nvidia.com/gpu), a Vertex name for vertex (default "
                           "NVIDIA_TESLA_T4)")
    comp.add_argument("--trainer-cpu", type=float, default=4.0,
                      help="CPUs per Trainer pod or TFJob worker")
    comp.add_argument("--trainer-memory-gb", type=float, default=16.0)
    comp.add_argument("--workers", type=_positive_int,
                      help="train every model on N TFJob workers (Kubeflow Training Operator, "
                           "MultiWorkerMirroredStrategy); default: each model's registry "
                           "entry (1 = the Trainer's own pod)")
    comp.add_argument("--trainer-backend", choices=("tfjob", "trainjob"),
                      default="tfjob",
                      help="what runs the workers: tfjob (a TFJob, Kubeflow Training Operator "
                           "1.9) or trainjob (a TrainJob of Kubeflow Trainer v2 on the "
                           "TrainingRuntime in k8s/training)")
    comp.add_argument("--gpus-per-worker", type=int,
                      help="GPUs per TFJob worker (default: the model's entry, else --gpus)")
    comp.add_argument("--tfjob-timeout-hours", type=float, default=24.0,
                      help="fail a Trainer whose TFJob has not finished by then")
    comp.add_argument("--tfjob-namespace",
                      help="namespace for the TFJobs (default: the pipeline step's own)")
    comp.add_argument("--keep-tfjob", action="store_true",
                      help="keep finished TFJobs and their pods (for their logs)")
    comp.add_argument("--toleration", action="append", type=_toleration,
                      metavar="KEY[=VALUE]:EFFECT",
                      help="a taint the GPU Trainers' pods (own pod or TFJob workers) "
                           "tolerate, besides nvidia.com/gpu:NoSchedule (repeatable; KEY:EFFECT "
                           "tolerates any value); EFFECT: NoSchedule, PreferNoSchedule, NoExecute")
    comp.add_argument("--node-selector", action="append", type=_node_selector,
                      metavar="KEY=VALUE",
                      help="a node label the GPU Trainers' pods require (repeatable), e.g. "
                           "cloud.google.com/gke-accelerator=nvidia-l4")
    comp.add_argument("--beam-arg", action="append",
                      help="Beam pipeline arg for the Beam components (repeatable), e.g. "
                           "--beam-arg=--runner=FlinkRunner")
    comp.add_argument("--mixed-precision", action="store_true",
                      help="Trainers use mixed_float16 on their GPUs")
    comp.add_argument("--epochs", type=_positive_int)
    comp.add_argument("--batch-size", type=_positive_int)
    comp.add_argument("--min-accuracy", type=float, help="override the Evaluator's bar")
    comp.add_argument("--max-perplexity", type=float,
                      help="override the language models' perplexity ceiling")
    comp.add_argument("--word2vec-kernel", choices=["tape", "fused"],
                      help="word2vec's Trainers: tape (default, any number of workers) or "
                           "fused (one pod; refused with --workers above 1)")
    comp.add_argument("--local-folders", action="store_true",
                      help="allow folders for --pipeline-root, --serving-root and --data: "
                           "an IR for `classics run-ir` on this machine, which no cluster "
                           "can run")
    comp.set_defaults(func=_cmd_compile)

    run_ir = sub.add_parser(
        "run-ir", help="run a compiled IR file here: each task's own command and arguments, "
                       "with inputs, outputs and environment as KFP 2.17's driver and "
                       "launcher give them (a local driver, not Kubeflow)")
    run_ir.add_argument("ir_file", help="a YAML file written by `classics compile`")
    run_ir.add_argument("--pipeline-root", metavar="ROOT",
                        help="local folder or s3:// URI the run's outputs go under, as "
                             "ROOT/<pipeline>/<run id>/<task>/<uuid>/<output> (default: "
                             "the IR's own root); s3:// takes this shell's S3 variables")
    run_ir.add_argument("--run-id", help="the run's id (default: a new UUID)")
    run_ir.add_argument("--secrets", metavar="FILE",
                        help="YAML/JSON {secret name: {key: value}} standing in for the "
                             "Kubernetes Secrets the IR's platform spec names (a key not "
                             "in it comes from this shell's variable of the same name)")
    run_ir.add_argument("--no-publish-logs", action="store_true",
                        help="as a KFP install with PUBLISH_LOGS=false: no executor-logs "
                             "output artifact in each task's ExecutorInput")
    run_ir.add_argument("--parallelism", type=_positive_int,
                        help="tasks running at once, as the DAG allows (default: the "
                             "usable CPU cores)")
    run_ir.add_argument("--local-mounts", metavar="DIR",
                        help="s3:// roots: the folder standing in for each pod's /s3 "
                             "(default: a temporary folder, removed after a run that "
                             "succeeded)")
    run_ir.add_argument("--kubeconfig", metavar="FILE",
                        help="the credentials standing in for the pods' service account "
                             "(every task gets KUBECONFIG=FILE; its current context's "
                             "namespace is the pods'): what a Trainer that submits a "
                             "TFJob or TrainJob (--workers) talks to")
    run_ir.set_defaults(func=_cmd_run_ir)

    subm = sub.add_parser("submit", help="upload and start a compiled pipeline on KFP")
    subm.add_argument("package", help="a YAML file written by `classics compile`")
    subm.add_argument("--host", help="KFP endpoint (or $KFP_HOST)")
    subm.add_argument("--namespace", help="Kubeflow namespace (or $KFP_NAMESPACE)")
    subm.add_argument("--experiment", default="classics")
    subm.add_argument("--run-name")
    subm.add_argument("--pipeline-root",
                      help="the run's pipeline root (default: the one compiled in)")
    subm.add_argument("--schedule", metavar="CRON",
                      help="create a recurring run instead: KFP's 6-field cron, seconds "
                           "first, e.g. '0 0 3 * * *' (03:00 daily), or @daily, @every 6h")
    subm.add_argument("--max-concurrency", type=int,
                      help="with --schedule: runs of it at once, 1-10 (default 1)")
    subm.add_argument("--job-name", help="with --schedule: the recurring run's name "
                                         "(default '<package name> (<cron>)')")
    subm.set_defaults(func=_cmd_submit)
    pred = sub.add_parser("predict", help="ask a model TF Serving serves: classes of image "
                                          "files, next words, nearest words")
    pred.add_argument("inputs", nargs="+",
                      help="image models: PNG/JPEG files; language models: text prefixes "
                           "(next-word candidates); word2vec: words (nearest neighbours)")
    pred.add_argument("--model", required=True,
                      help="served model name, e.g. mnist_cnn, text_lstm, text_skipgram")
    pred.add_argument("--rest", help="REST endpoint, e.g. http://localhost:8501")
    pred.add_argument("--grpc", help="gRPC endpoint, e.g. localhost:8500")
    pred.add_argument("--top", type=_positive_int, default=5,
                      help="text models: how many next words or neighbours (default 5)")
    pred.add_argument("--size", type=_hw_size, help="images: resize to H,W before sending "
                                                    "(e.g. 28,28)")
    pred.add_argument("--channels", type=int, default=1, choices=[1, 3],
                      help="images: 1 (grey) or 3 (RGB)")
    pred.set_defaults(func=_cmd_predict)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    """Runs a command; a process that used s3:// ends here (trainer.runtime.object_store)."""
    try:
        code = _main(argv)
    except BaseException as e:  # pylint: disable=broad-except
        if not object_store.s3_enabled():
            raise
        if isinstance(e, SystemExit):
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
        else:
            traceback.print_exc()
            code = 130 if isinstance(e, KeyboardInterrupt) else 1
    return object_store.exit_process(code)


def _main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    console.prepare(verbose)  # before any command imports TensorFlow
    try:
        if getattr(args, "quiet", False):
            # Library chatter to the run's log file; ERROR records and error lines
            # still on the terminal.
            with console.Quiet(verbose):
                return args.func(args)
        return args.func(args)
    except (KeyError, FileNotFoundError, ValueError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        console.error(str(msg))
        return 2
    except OSError as e:  # e.g. --workspace/--dest/--output-dir not a writable folder
        where = e.filename or "a file or folder the command needs"
        if e.errno == errno.ENOSPC:  # a run's own folders: before any component ran
            console.error(f"no space left on device under {where}" +
                          ("; nothing was pushed" if args.command == "run" else ""))
            return 1
        console.error(f"cannot use {where}: {e.strerror or e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
