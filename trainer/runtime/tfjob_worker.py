"""One replica of a distributed Trainer step: the step's own run_fn on the step's own
inputs and outputs, under the TF_CONFIG the Kubeflow Training Operator sets, or, on
Kubeflow Trainer v2 (`--cluster jobset`), the TF_CONFIG trainer/runtime/jobset_cluster.py
derives from what JobSet gives the pod.

components/tfjob_trainer.py submits a TFJob (or a TrainJob) whose every worker runs

    python -m trainer.runtime.tfjob_worker [--cluster jobset] --invocation '<JSON>'

The JSON is the Trainer step's invocation as TFX serialises it for remote executors (as its
Vertex Trainer extension does): input and output artifacts
(`tfx.types.artifact_utils.jsonify_artifact_dict`) and exec properties. Each worker derives
the FnArgs from it with TFX's own Trainer code (`GenericExecutor._GetFnArgs`), so every
replica sees exactly the step's examples, transform graph, schema, custom_config and
output URIs, and loads the step's run_fn by its dotted path (`udf_utils.get_fn`, e.g.
`trainer.image.run.run_fn`). trainer/strategy.py turns TF_CONFIG into a
MultiWorkerMirroredStrategy; the run_fns keep only the chief's export and stats (worker 0
when the cluster has no `chief`), and their BackupAndRestore folder is derived from the
step's output URIs, so a restarted replica resumes from the object store.

Exit codes (what the TFJob's `restartPolicy: ExitCode` acts on, and the TrainJob
runtime's podFailurePolicy: 1-127 fail the Job, the rest count towards its backoffLimit
and get a new pod): 0 once the run_fn returned (and, on the chief, the model exists);
RETRYABLE_EXIT (>= 128: the operator restarts the replica) when training stopped because the cluster lost a peer, so every
replica restarts and resumes from the last backup; 1 for everything else (a bad config or
input fails the job instead of crash-looping). The process ends through
`object_store.exit_process`, so tensorflow-io's abort at interpreter exit (134, itself
"retryable") cannot turn a finished worker into a restarted one.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import Any, Dict, List, Optional, Sequence

from trainer import tf_env  # noqa: F401  (Keras 2 before TensorFlow loads)
from trainer.runtime import object_store

COMMAND = ["python", "-m", "trainer.runtime.tfjob_worker"]
INVOCATION_FLAG = "--invocation"
CLUSTER_FLAG = "--cluster"
# Where the cluster comes from: TF_CONFIG as the Training Operator writes it, or JobSet's
# pod labels and index (trainer/runtime/jobset_cluster.py).
TF_CONFIG_CLUSTER, JOBSET_CLUSTER = "tf_config", "jobset"
RUN_FN_KEY = "run_fn"
# The Training Operator restarts a replica whose exit code is >= 128 (ExitCode policy).
RETRYABLE_EXIT = 138


class InvocationError(ValueError):
    """The --invocation argument is not a Trainer invocation."""


def encode_invocation(input_dict, output_dict, exec_properties: Dict[str, Any]) -> str:
    """The step's invocation as one JSON string (the workers' --invocation)."""
    from tfx.types import artifact_utils  # pylint: disable=import-outside-toplevel

    return json.dumps({
        "inputs": json.loads(artifact_utils.jsonify_artifact_dict(input_dict)),
        "outputs": json.loads(artifact_utils.jsonify_artifact_dict(output_dict)),
        "exec_properties": dict(exec_properties),
    }, sort_keys=True)


def read_invocation(text: str) -> Dict[str, Any]:
    """The invocation's JSON, checked for what a worker needs; plain JSON only, so a bad
    invocation is refused before TensorFlow and TFX load."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InvocationError(f"{INVOCATION_FLAG}: not JSON ({e})") from None
    missing = [k for k in ("inputs", "outputs", "exec_properties")
               if not isinstance(data, dict) or k not in data]
    if missing:
        raise InvocationError(f"{INVOCATION_FLAG}: missing {', '.join(missing)}")
    if not data["exec_properties"].get(RUN_FN_KEY):
        raise InvocationError(f"{INVOCATION_FLAG}: no run_fn in exec_properties")
    return data


def decode_invocation(text: str):
    """(input_dict, output_dict, exec_properties) of an encoded invocation."""
    from tfx.types import artifact_utils  # pylint: disable=import-outside-toplevel

    data = read_invocation(text)
    return (artifact_utils.parse_artifact_dict(json.dumps(data["inputs"])),
            artifact_utils.parse_artifact_dict(json.dumps(data["outputs"])),
            data["exec_properties"])


def command(invocation: str, cluster: str = TF_CONFIG_CLUSTER) -> List[str]:
    """The container command + args of one worker."""
    extra = [CLUSTER_FLAG, cluster] if cluster != TF_CONFIG_CLUSTER else []
    return COMMAND + extra + [INVOCATION_FLAG, invocation]


def _retryable(error: BaseException) -> bool:
    """Errors from losing a peer (preempted node, restarted pod), not from the program:
    collective ops report them as unavailable, aborted, cancelled or timed out."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    return isinstance(error, (tf.errors.UnavailableError, tf.errors.AbortedError,
                              tf.errors.CancelledError, tf.errors.DeadlineExceededError))


def run(argv: Sequence[str]) -> int:
    """Runs the step's run_fn once in this replica; returns the exit code, never raises."""
    parser = argparse.ArgumentParser(prog="python -m trainer.runtime.tfjob_worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(INVOCATION_FLAG, required=True,
                        help="the Trainer step's invocation (JSON)")
    parser.add_argument(CLUSTER_FLAG, choices=(TF_CONFIG_CLUSTER, JOBSET_CLUSTER),
                        default=TF_CONFIG_CLUSTER,
                        help="tf_config: TF_CONFIG is set (TFJob); jobset: derive it from "
                             "the JobSet pod's labels and index (TrainJob)")
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    try:
        if args.cluster == JOBSET_CLUSTER:
            from trainer.runtime import jobset_cluster  # pylint: disable=import-outside-toplevel

            try:
                os.environ["TF_CONFIG"] = json.dumps(jobset_cluster.tf_config(os.environ))
            except (jobset_cluster.ClusterEnvError, json.JSONDecodeError) as e:
                raise InvocationError(f"{CLUSTER_FLAG} {JOBSET_CLUSTER}: {e}") from None
        read_invocation(args.invocation)
        if object_store.S3_SCHEME in args.invocation:
            object_store.enable_s3()
        # pylint: disable=import-outside-toplevel
        import absl.logging
        from tfx.components.trainer import executor as trainer_executor
        from tfx.components.util import udf_utils
        from tfx.dsl.io import fileio

        from trainer import strategy

        absl.logging.set_verbosity(absl.logging.INFO)
        input_dict, output_dict, exec_properties = decode_invocation(args.invocation)
        fn_args = trainer_executor.GenericExecutor()._GetFnArgs(  # pylint: disable=protected-access
            input_dict, output_dict, exec_properties)
        run_fn = udf_utils.get_fn(exec_properties, RUN_FN_KEY)
        absl.logging.info("worker %s of %d: %s -> %s", strategy.task_name(),
                          max(strategy.num_workers(), 1), exec_properties[RUN_FN_KEY],
                          fn_args.serving_model_dir)
        run_fn(fn_args)
        if strategy.is_chief() and not fileio.exists(fn_args.serving_model_dir):
            print(f"error: run_fn returned without writing the model to "
                  f"{fn_args.serving_model_dir}", file=sys.stderr)
            return 1
        absl.logging.info("worker %s done", strategy.task_name())
        return 0
    except InvocationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # pylint: disable=broad-except
        traceback.print_exc()
        if _retryable(e):
            print(f"worker: lost the cluster ({type(e).__name__}); exiting {RETRYABLE_EXIT} "
                  "so the operator restarts this replica, which resumes from its backup",
                  file=sys.stderr)
            return RETRYABLE_EXIT
        return 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    return object_store.exit_process(run(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
