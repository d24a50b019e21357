"""A small KFP v2 pipeline written with kfp's own DSL and compiled by kfp's compiler: the
IR the local driver must read the way the backend does (what TFX writes is one case of
it). Its container tasks run a few lines of Python, so a whole run takes seconds."""
import os

from kfp import compiler, dsl

# Writes its text twice into the `data` artifact's file and its length to `size`.
PRODUCER = ("import os, sys; text, data, size = sys.argv[1:4]; "
            "os.makedirs(os.path.dirname(data), exist_ok=True); "
            "open(data, 'w').write(text * 2); open(size, 'w').write(str(len(text)))")
# Writes what it was given (argv and a few variables) as JSON into the `report` artifact.
CONSUMER = ("import json, os, sys; report = sys.argv[4]; "
            "json.dump({'argv': sys.argv[1:], 'env': dict(os.environ), "
            "'data': open(sys.argv[1]).read()}, open(report, 'w'))")


@dsl.container_component
def produce(text: str, data: dsl.Output[dsl.Dataset], size: dsl.OutputPath(int)):
    return dsl.ContainerSpec(image="python:3.10", command=["python", "-c", PRODUCER],
                             args=[text, data.path, size])


@dsl.container_component
def consume(size: int, data: dsl.Input[dsl.Dataset], report: dsl.Output[dsl.Artifact],
            flag: bool = True):
    return dsl.ContainerSpec(
        image="python:3.10", command=["python", "-c", CONSUMER],
        args=[data.uri, size, flag, report.path])


@dsl.container_component
def consume_path(data: dsl.Input[dsl.Dataset], report: dsl.Output[dsl.Artifact]):
    """Reads its input through the local path (what the launcher downloaded)."""
    return dsl.ContainerSpec(
        image="python:3.10", command=["python", "-c", CONSUMER],
        args=[data.path, data.uri, "-", report.path])


# Sleeps, writes [start, end] (epoch seconds) to `span`, exits with `fail`.
STEP = ("import json, sys, time; seconds, fail, span = sys.argv[1:4]; start = time.time(); "
        "time.sleep(float(seconds)); open(span, 'w').write(json.dumps([start, time.time()]));"
        " sys.exit(int(fail))")


@dsl.container_component
def step(seconds: float, fail: int, span: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="python:3.10", command=["python", "-c", STEP],
                             args=[seconds, fail, span])


@dsl.container_component
def join(left: str, right: str, span: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="python:3.10", command=["python", "-c", STEP],
                             args=["0", "0", span])


# Starts a child process that spins for `seconds` of CPU, then writes "done" to `span`.
BURN = ("import subprocess, sys; seconds, span = sys.argv[1:3]; "
        "spin = 'import time\\nend = time.process_time() + ' + seconds + "
        "'\\nwhile time.process_time() < end: pass'; "
        "subprocess.run([sys.executable, '-c', spin], check=True); open(span, 'w').write('done')")


@dsl.container_component
def burn(seconds: float, span: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="python:3.10", command=["python", "-c", BURN],
                             args=[seconds, span])


@dsl.component(base_image="python:3.10")
def add(a: int, b: int) -> int:
    return a + b


@dsl.pipeline(name="tiny")
def tiny(text: str = "ab"):
    made = produce(text=text)
    consume(size=made.outputs["size"], data=made.outputs["data"], flag=False)


@dsl.pipeline(name="tiny-python")
def tiny_python(text: str = "abc"):
    """With a Python function component (its command pip-installs kfp: never run here;
    kfp's own executor runs the function in-process in the tests)."""
    made = produce(text=text)
    add(a=made.outputs["size"], b=3)


@dsl.pipeline(name="tiny-paths")
def tiny_paths(text: str = "ab"):
    """The consumer reads the producer's file at its local path, not at its URI."""
    made = produce(text=text)
    consume_path(data=made.outputs["data"])


@dsl.pipeline(name="diamond")
def diamond(seconds_a: float = 1.5, seconds_b: float = 1.5, fail_a: int = 0,
            fail_b: int = 0):
    """Two independent tasks, then one waiting for both."""
    a = step(seconds=seconds_a, fail=fail_a)
    b = step(seconds=seconds_b, fail=fail_b)
    join(left=a.outputs["span"], right=b.outputs["span"])


@dsl.pipeline(name="busy-and-idle")
def busy_and_idle(burn_seconds: float = 0.8, sleep_seconds: float = 1.0):
    """One task that spends CPU (in a child process), one that only waits."""
    burn(seconds=burn_seconds)
    step(seconds=sleep_seconds, fail=0)


def compile_to(folder: str, pipeline=tiny) -> str:
    path = os.path.join(folder, f"{pipeline.name}.yaml")
    compiler.Compiler().compile(pipeline, path)
    return path
