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


def compile_to(folder: str, pipeline=tiny) -> str:
    path = os.path.join(folder, f"{pipeline.name}.yaml")
    compiler.Compiler().compile(pipeline, path)
    return path
