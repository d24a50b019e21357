"""`--span` on `classics run` and `classics compile`: refusals as one `error:` line naming
the folder, and the span setting as the compiled IR carries it to the ExampleGen."""
import os

import pytest
from tfx.types import standard_artifacts

from components import spans
from pipelines import cli
from pipelines.runners import kfp_compat
from tests.mnist_fixtures import synthetic_digits, write_mnist


def _spans(root, count=2):
    data = str(root / "data")
    for span in range(1, count + 1):
        x, y = synthetic_digits(4 + span, seed=span)
        write_mnist(os.path.join(data, f"span-{span}"), x, y)
    return data


def _refused(capsys, argv):
    rc = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    return rc, err[-1] if err else ""


_PROBLEMS = {
    "spans": ("3", "{data}/span-3: no such span (spans here: 1, 2)"),
    "loose": ("1", "{data}: --span 1: this data folder has no span folders (span-<N>/)"),
    "mixed": (None, "{data}: span folders (span-1, span-2) next to other data "
                    "(train-images-idx3-ubyte, train-labels-idx1-ubyte): put all the data "
                    "in span folders, or none"),
    "empty": (None, "{data}/span-3: empty span folder"),
    "other": (None, "{data}/span-3/train-*-idx[13]-ubyte*: expected exactly one images "
                    "file and one labels file, found images=[] labels=[]"),
}


# Both commands refuse through the same check (components/spans.py): every case on
# `run`, two on `compile`.
@pytest.mark.parametrize("command,setup", [("run", s) for s in _PROBLEMS] +
                         [("compile", "spans"), ("compile", "mixed")])
def test_bad_spans_are_one_error_line_naming_the_folder(tmp_path, capsys, command, setup):
    span, problem = _PROBLEMS[setup]
    data = _spans(tmp_path)
    if setup == "loose":
        data = write_mnist(str(tmp_path / "loose"), *synthetic_digits(4))
    elif setup == "mixed":
        write_mnist(data, *synthetic_digits(4))
    elif setup in ("empty", "other"):
        os.makedirs(os.path.join(data, "span-3"))
        if setup == "other":
            with open(os.path.join(data, "span-3", "notes.txt"), "w") as f:
                f.write("not MNIST\n")
    argv = ([command, "mnist", "--models", "softmax", "--data", data]
            + (["--span", span] if span else []))
    if command == "run":
        argv += ["--workspace", str(tmp_path / "ws")]
    else:
        argv += ["--local-folders", "--gpus", "0", "--output-dir", str(tmp_path / "out"),
                 "--pipeline-root", str(tmp_path / "root"),
                 "--serving-root", str(tmp_path / "serving")]
    rc, last = _refused(capsys, argv)
    assert (rc, last) == (2, "error: " + problem.format(data=data))
    for folder in (tmp_path / "out", tmp_path / "ws" / "pipelines" / "classics-mnist"):
        assert not folder.exists() or not os.listdir(folder)  # nothing written


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_span_must_be_a_whole_number_from_1(capsys, value):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "mnist", "--span", value])
    assert e.value.code == 2
    assert "argument --span: " in capsys.readouterr().err


def _example_gen_parameters(path):
    spec, _ = kfp_compat.read_ir(path)
    params = spec["root"]["dag"]["tasks"]["MnistExampleGen"]["inputs"]["parameters"]
    return {k: v["runtimeValue"]["constant"] for k, v in params.items()}


@pytest.mark.parametrize("span", [None, 1])
def test_compiled_ir_carries_the_span_setting_to_the_executor(tmp_path, capsys, span):
    """The ExampleGen's parameters in the IR, given to the executor as open-source KFP
    gives them (no driver): the newest span, or the pinned one, is read."""
    data = _spans(tmp_path)
    out = tmp_path / "out"
    rc = cli.main(["compile", "mnist", "--models", "softmax", "--gpus", "0", "--data", data,
                   "--local-folders", "--output-dir", str(out),
                   "--pipeline-root", str(tmp_path / "root"),
                   "--serving-root", str(tmp_path / "serving")]
                  + (["--span", str(span)] if span else []))
    assert rc == 0, capsys.readouterr().err
    params = _example_gen_parameters(str(out / "classics-mnist.yaml"))
    assert params["input_base"] == data and "span-{SPAN}/train-" in params["input_config"]
    assert ("static_range" in params.get("range_config", "")) == (span is not None)
    examples = standard_artifacts.Examples()
    props = spans.resolve_in_executor(params, {"examples": [examples]})
    chosen = span or 2
    assert props["input_base"] == os.path.join(data, f"span-{chosen}")
    assert examples.mlmd_artifact.custom_properties["span"].int_value == chosen
