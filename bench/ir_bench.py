"""Benchmark: the MNIST pipeline run from its compiled KFP IR (`classics run-ir`) vs the
same pipeline run by `classics run` (LocalDagRunner), on the same data.

Both sides get the embedded MNIST digits (4,000 train + 1,000 eval, components/datasets),
the same models and epochs, Beam in one process, and a fresh workspace / pipeline root
and serving root of their own, so neither reads the other's cache or baseline. The IR is
compiled with `--local-folders` (data, pipeline root and serving root as folders) and run
task by task: each task is a new Python process that imports TensorFlow and TFX, as each
pod would, where `classics run` runs every component in one process. Prints each side's
wall time (compile included on the IR side, and shown apart) and the ratio; each side
must push its models, else exit 1. Then what every task pays before its executor runs:
the container entrypoint started with `--help` (TensorFlow, TFX and the executor
entrypoint imported, flags parsed), CPU seconds, the mean of three starts, and the CPU
of run-ir's tasks (its summary) with the share those starts make of it.

    .venv/bin/python bench/ir_bench.py [--models softmax] [--epochs 2] [--keep DIR]
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Tuple

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

PIPELINE = "classics-mnist"


def classics(*args: str) -> Tuple[float, str]:
    """Runs `classics ARGS` in a new process; its wall time in seconds and its output
    (exits on failure)."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipelines.cli", *args], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          check=False)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"classics {' '.join(args[:2])} failed (exit {proc.returncode}):\n"
                 f"{proc.stdout[-3000:]}")
    return took, proc.stdout


def task_cpu(run_ir_output: str) -> Tuple[int, float]:
    """The number of tasks and their CPU seconds, from run-ir's summary."""
    tasks = re.search(r": (\d+) task\(s\), every one exited 0", run_ir_output)
    cpu = re.search(r"^  (\d+\.\d) s of CPU in the tasks' processes", run_ir_output, re.M)
    if not (tasks and cpu):
        sys.exit(f"no task count or CPU total in run-ir's summary:\n{run_ir_output[-3000:]}")
    return int(tasks.group(1)), float(cpu.group(1))


def task_start_cpu(starts: int = 3) -> float:
    """Mean CPU seconds (user + system) of the container entrypoint's start."""
    def children_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    before = children_cpu()
    for _ in range(starts):
        subprocess.run([sys.executable, "-m", "trainer.runtime.kfp_entrypoint", "--help"],
                       cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
    return (children_cpu() - before) / starts


def pushed(serving_root: str, models) -> bool:
    return all(glob.glob(os.path.join(serving_root, f"mnist_{m}", "*", "saved_model.pb"))
               for m in models)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="softmax")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--keep", help="work in this folder and keep it (default: a "
                                       "temporary folder, removed)")
    args = parser.parse_args(argv)
    models = args.models.split(",")
    base = os.path.abspath(args.keep) if args.keep else tempfile.mkdtemp(prefix="ir-bench-")
    os.makedirs(base, exist_ok=True)
    try:
        # pylint: disable=import-outside-toplevel
        from components import datasets
        from pipelines.config import IN_MEMORY_BEAM_ARGS
        data = datasets.embedded_mnist(os.path.join(base, "data"))
        common = ["--models", ",".join(models), "--epochs", str(args.epochs)]

        local_ws = os.path.join(base, "local")
        local_s, _ = classics("run", "mnist", *common, "--data", data, "--workspace", local_ws,
                           "--beam-mode", "in_memory")
        local_ok = pushed(os.path.join(local_ws, "serving"), models)

        ir_base = os.path.join(base, "ir")
        compile_s, _ = classics("compile", "mnist", *common, "--gpus", "0", "--local-folders",
                             "--data", data, "--output-dir", os.path.join(ir_base, "kfp"),
                             "--pipeline-root", os.path.join(ir_base, "root"),
                             "--serving-root", os.path.join(ir_base, "serving"),
                             *[f"--beam-arg={a}" for a in IN_MEMORY_BEAM_ARGS])
        run_ir_s, run_ir_out = classics("run-ir", os.path.join(ir_base, "kfp", f"{PIPELINE}.yaml"),
                            "--pipeline-root", os.path.join(ir_base, "root"))
        ir_ok = pushed(os.path.join(ir_base, "serving"), models)

        cores = os.cpu_count()
        load = os.getloadavg()[0]
        print(f"MNIST {','.join(models)}, {args.epochs} epoch(s), embedded digits "
              f"(4,000 + 1,000), Beam in_memory; {cores} cores, load {load:.1f} at the end")
        print(f"  classics run                 {local_s:7.1f} s   pushed: {local_ok}")
        print(f"  classics compile + run-ir    {compile_s + run_ir_s:7.1f} s   pushed: {ir_ok}"
              f"   (compile {compile_s:.1f} s, run-ir {run_ir_s:.1f} s)")
        print(f"  run-ir / run                 {run_ir_s / local_s:7.2f}x")
        start_cpu = task_start_cpu()
        tasks, cpu = task_cpu(run_ir_out)
        print(f"  a task's start (entrypoint --help) {start_cpu:5.1f} s of CPU")
        print(f"  run-ir's {tasks} tasks            {cpu:7.1f} s of CPU, of which their starts "
              f"~{tasks * start_cpu:.0f} s ({tasks * start_cpu / cpu:.0%})")
        return 0 if local_ok and ir_ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
