"""Some tasks of a compiled IR run by run-ir's own driver and launcher on the outputs an
earlier run produced. For an IR that differs from the earlier run's only in those tasks'
settings (the caller checks), a whole second run would repeat the same upstream tasks,
each a process importing TensorFlow and TFX."""
from typing import Callable, Dict, List, Optional, Tuple

from pipelines.runners.ir import dag as ir_dag
from pipelines.runners.ir import driver, objectstore
from pipelines.runners.ir import run as ir_run


def run_on_outputs(path: str, earlier: ir_run.RunResult, tasks: List[str], run_id: str,
                   secrets_file: str, mounts: str, kubeconfig: Optional[str] = None,
                   echo: Callable[[str], None] = lambda _: None
                   ) -> Tuple[List[ir_run.TaskResult], Dict[str, driver.Produced]]:
    """Runs `tasks`, in this order, as run `run_id` of the IR at `path` (its own
    object-store pipeline root), their inputs read from `earlier`'s outputs and from each
    other's. Returns their results and every output known at the end."""
    ir = ir_dag.load(path)
    root = ir.default_pipeline_root
    env = ir_run.image_environment()
    if kubeconfig is not None:
        env["KUBECONFIG"] = ir_run.check_kubeconfig(kubeconfig)
    state = ir_run._Run(  # pylint: disable=protected-access
        ir, ir_run.run_context(ir, root, run_id), mounts,
        ir_run.secret_source(secrets_file), env,
        objectstore.open_bucket(objectstore.parse_bucket_config(root)))
    state.produced = dict(earlier.produced)
    try:
        results = [state.run_task(ir.tasks[name], echo) for name in tasks]
    except ir_run.IRRunError as e:
        raise AssertionError(f"{e}\n{e.log_tail}") from e
    return results, state.produced
