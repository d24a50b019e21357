"""`classics`: run, fetch data for, and inspect the tfx-classics pipelines."""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from trainer import tf_env  # noqa: F401  (before TensorFlow)


def _models(value: str) -> List[str]:
    return [m.strip() for m in value.split(",") if m.strip()]


def _cmd_run(args) -> int:
    from pipelines import local_runner, report  # pylint: disable=import-outside-toplevel
    from pipelines.config import PipelineConfig  # pylint: disable=import-outside-toplevel
    from trainer import registry  # pylint: disable=import-outside-toplevel

    config = PipelineConfig(corpus=args.corpus, data_dir=args.data)
    if args.models:
        config.models = args.models
    registry.resolve(config.models)  # fail on a typo before anything runs
    if args.workspace:
        config.workspace = args.workspace
    config.epochs, config.batch_size = args.epochs, args.batch_size
    config.enable_cache = not args.no_cache
    if args.min_accuracy is not None:
        config.min_accuracy = args.min_accuracy
    try:
        result = local_runner.run_image_pipeline(config)
    except local_runner.PipelineRunError as e:
        print(f"error: {e}", file=sys.stderr)
        print(f"       full log: {e.log_path}", file=sys.stderr)
        return 1
    print(report.format_summary(result))
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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="classics", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a pipeline locally (LocalDagRunner)")
    run.add_argument("corpus", choices=["mnist"], help="which corpus/pipeline")
    run.add_argument("--models", type=_models, help="comma-separated model names")
    run.add_argument("--data", help="data folder (default: the embedded data)")
    run.add_argument("--workspace", help="pipeline root, metadata, serving (default ./workspace"
                                         " or $CLASSICS_HOME)")
    run.add_argument("--epochs", type=int, help="override every model's epochs")
    run.add_argument("--batch-size", type=int, help="override every model's batch size")
    run.add_argument("--min-accuracy", type=float, help="override the Evaluator's bar")
    run.add_argument("--no-cache", action="store_true", help="re-run every component")
    run.set_defaults(func=_cmd_run)

    data = sub.add_parser("data", help="corpus downloads")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="download a corpus with checksum checks")
    fetch.add_argument("dataset", choices=["mnist"])
    fetch.add_argument("--dest", help="target folder (default <workspace>/data/<dataset>)")
    fetch.add_argument("--base-url", help="mirror to download from")
    fetch.set_defaults(func=_cmd_fetch)
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
