"""The pipeline image's container entrypoint on Kubeflow Pipelines v2.

Every TFX component runs in its own container there, started as

    python -m trainer.runtime.kfp_entrypoint --executor_class_path ... --json_serialized_invocation_args ...

(the command list the compiled IR gives every container; the arguments are TFX's). This
module runs TFX's own `tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor`
with three things around it:

1. the TensorFlow environment (trainer.tf_env: Keras 2) before TensorFlow loads;
2. s3:// for TensorFlow: when any argument names an s3:// URI (the executor input JSON
   holds the pipeline root and every artifact URI; exec properties hold the data and
   serving roots), tensorflow-io is imported first (trainer.runtime.object_store.enable_s3).
   TFX only imports it where the pipeline was defined, not in the executor's process
   (tensorflow/tfx #4444);
3. the exit: tensorflow-io 0.37.1 aborts at interpreter exit once its S3 client was used
   (exit 134 after a step that succeeded). The step's own result decides the code: 0
   when the executor returned, its SystemExit code, or 1 after an uncaught exception
   (traceback on stderr), then trainer.runtime.object_store.exit_process ends the process.

The runtime fixes TFX's entrypoint needs on open-source KFP (trainer/runtime/kfp_tfx_patches.py)
are installed before it runs. With `--driver` first (DRIVER_COMMAND, the compiled IR's
`lifecycle.preCacheCheck` command) the same wrapping runs TFX's FileBasedExampleGen
driver (`tfx.orchestration.kubeflow.v2.file_based_example_gen.driver`, which lists and
fingerprints the input files) instead; the open-source backend does not run that hook,
Vertex AI does.
"""
from __future__ import annotations

import sys
import traceback
from typing import List, Optional, Sequence

from trainer import tf_env  # noqa: F401  (Keras 2 before TensorFlow loads)
from trainer.runtime import object_store

EXECUTOR_MODULE = "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"
DRIVER_MODULE = "tfx.orchestration.kubeflow.v2.file_based_example_gen.driver"
DRIVER_FLAG = "--driver"
# What the compiled IR's containers run (KubeflowV2DagRunnerConfig.default_commands), and
# its ExampleGen driver hooks.
COMMAND = ["python", "-m", "trainer.runtime.kfp_entrypoint"]
DRIVER_COMMAND = COMMAND + [DRIVER_FLAG]


def names_s3(args: Sequence[str]) -> bool:
    """True when any argument mentions an s3:// URI (JSON included)."""
    return any(object_store.S3_SCHEME in arg for arg in args)


def exit_code(code: object) -> int:
    """A SystemExit's code as the process exit code (None: 0; a message: 1, printed)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run(argv: Sequence[str]) -> int:
    """Runs TFX's executor entrypoint (with --driver first: the ExampleGen driver) on
    `argv[1:]` and returns its exit code; never raises."""
    args: List[str] = list(argv[1:])
    driver = bool(args) and args[0] == DRIVER_FLAG
    if driver:
        args = args[1:]
    try:
        if names_s3(args):
            object_store.enable_s3()
        # pylint: disable=import-outside-toplevel,protected-access
        from absl import app

        if driver:
            from tfx.orchestration.kubeflow.v2.file_based_example_gen import driver as module
        else:
            from tfx.orchestration.kubeflow.v2.container import kubeflow_v2_run_executor \
                as module

            from trainer.runtime import kfp_tfx_patches

            kfp_tfx_patches.install()
        # absl's app.run parses the flags, runs main and always ends in sys.exit.
        app.run(module.main, argv=[DRIVER_MODULE if driver else EXECUTOR_MODULE] + args,
                flags_parser=module._parse_flags)
    except SystemExit as e:
        return exit_code(e.code)
    except BaseException:  # pylint: disable=broad-except
        traceback.print_exc()
        return 1
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return object_store.exit_process(run(sys.argv if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
