"""Runs components.tfjob_trainer.Executor once in its own process (the step's container,
as KFP would start it), for tests/components/test_tfjob_trainer.py.

usage: python tests/tfjob_trainer_harness.py ARGS_JSON
ARGS_JSON: {"uris": {examples, transform_graph}, "custom_config": {...}}. The Kubernetes
API comes from $KUBECONFIG, the object store from the S3_* variables. Prints the Model
artifact's URI on success; exits 1 with the error otherwise (through
object_store.exit_process: tensorflow-io aborts at exit)."""
import json
import os
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from trainer import tf_env  # noqa: E402,F401
from trainer.runtime import object_store  # noqa: E402


def main() -> int:
    args = json.loads(sys.argv[1])
    object_store.enable_s3()
    import absl.logging  # pylint: disable=import-outside-toplevel

    from components import tfjob_trainer  # pylint: disable=import-outside-toplevel
    from tests import tfjob_fixtures  # pylint: disable=import-outside-toplevel

    absl.logging.set_verbosity(absl.logging.INFO)
    inputs, outputs, props = tfjob_fixtures.trainer_invocation(args["uris"],
                                                               args["custom_config"])
    try:
        tfjob_trainer.Executor().Do(inputs, outputs, props)
    except Exception:  # pylint: disable=broad-except
        traceback.print_exc()
        return 1
    print(f"MODEL {outputs['model'][0].uri}")
    return 0


if __name__ == "__main__":
    sys.exit(object_store.exit_process(main()))
