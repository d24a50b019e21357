"""Span folders (components/spans.py) for every corpus kind: two spans of tiny data in the
real file formats; the newest is read by default, `span=1` pins the first, and the
Examples artifact records the span as TFX's ExampleGen driver records it. Both ways the
span can be resolved are run: by TFX's FileBasedDriver before the executor (LocalDagRunner)
and by the executor itself (open-source Kubeflow Pipelines, `classics run-ir`)."""
import bz2
import glob
import os

import pytest
from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.utils import proto_utils

from components import (cifar_example_gen, cifar_format, image_folder_example_gen,
                        mnist_example_gen, spans, text_example_gen)
from components.idx_format import IdxFormatError
from tests.example_gen_harness import read_examples, run_executor
from tests.image_fixtures import write_cifar, write_png_folder
from tests.mnist_fixtures import synthetic_digits, write_mnist


# Each writer fills one span folder with `n` units of data (examples, or tokens for text)
# and returns that n, which `_measure` reads back from the written Examples.
def _mnist(folder, n):
    x, y = synthetic_digits(n, seed=n)
    write_mnist(folder, x, y, "train", gz=True)
    return n


def _cifar(folder, n):
    # The second span in the nested layout `classics data fetch cifar10` leaves.
    nested = os.path.join(folder, cifar_format.BATCHES_DIR) if n > 6 else folder
    write_cifar(nested, n - 2, 2)
    return n


def _image_folder(folder, n):
    write_png_folder(folder, ["cat", "dog"], per_class=n // 2, size=(9, 7), seed=n)
    return n


def _text8(folder, n):
    os.makedirs(folder)
    with open(os.path.join(folder, "text8"), "w") as f:
        f.write(" ".join(["word"] * n))
    return n


def _ptb(folder, n):
    os.makedirs(folder)
    for name in ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"):
        with open(os.path.join(folder, name), "w") as f:
            f.write("a b\n" * (n // 6))
    return 3 * 2 * (n // 6)


def _wikipedia(folder, n):
    os.makedirs(folder)
    page = ("<page><title>P</title><ns>0</ns><revision><text>"
            f"{' '.join(['word'] * n)}</text></revision></page>")
    with open(os.path.join(folder, "dump.xml.bz2"), "wb") as f:
        f.write(bz2.compress(f"<mediawiki>{page}</mediawiki>".encode()))
    return n


def _plaintext(folder, n):
    os.makedirs(folder)
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("word " * n + "\n")
    return n


KINDS = {
    "mnist": (_mnist, mnist_example_gen.create, mnist_example_gen.Executor),
    "cifar10": (_cifar, cifar_example_gen.create, cifar_example_gen.Executor),
    "image_folder": (_image_folder, image_folder_example_gen.create,
                     image_folder_example_gen.Executor),
    "text8": (_text8, text_example_gen.create, text_example_gen.Executor),
    "ptb": (_ptb, text_example_gen.create, text_example_gen.Executor),
    "wikipedia": (_wikipedia, text_example_gen.create, text_example_gen.Executor),
    "plaintext": (_plaintext, text_example_gen.create, text_example_gen.Executor),
}


def _measure(uri):
    """Examples in every split (tokens, for text examples)."""
    total = 0
    for split in glob.glob(os.path.join(uri, "Split-*")):
        for ex in read_examples(uri, os.path.basename(split)[len("Split-"):]):
            tokens = ex.features.feature.get("tokens")
            total += len(tokens.bytes_list.value) if tokens is not None else 1
    return total


def _patterns(component):
    config = component.exec_properties["input_config"]
    if isinstance(config, str):
        config = proto_utils.json_to_proto(config, example_gen_pb2.Input())
    return [s.pattern for s in config.splits]


def _range_config(component):
    config = component.exec_properties["range_config"]
    if isinstance(config, str):
        config = proto_utils.json_to_proto(config, range_config_pb2.RangeConfig())
    return config


def _recorded_span(examples):
    return examples.mlmd_artifact.custom_properties[
        example_gen_utils.SPAN_PROPERTY_NAME].int_value


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_newest_span_by_default_and_span_1_when_pinned(tmp_path, kind):
    write, create, executor = KINDS[kind]
    data = str(tmp_path / "data")
    sizes = {span: write(os.path.join(data, f"span-{span}"), n)
             for span, n in ((1, 6), (2, 12))}
    assert sizes[1] != sizes[2]

    newest = create(data)
    assert all(p.startswith("span-{SPAN}/") for p in _patterns(newest))
    assert _range_config(newest) is None  # TFX's default: the newest
    out = str(tmp_path / "newest")
    examples = run_executor(newest, executor, out, with_driver=True)
    assert (_recorded_span(examples), _measure(out)) == (2, sizes[2])

    pinned = create(data, span=1)
    assert _range_config(pinned) == spans.static_range(1)
    out = str(tmp_path / "pinned")
    examples = run_executor(pinned, executor, out)  # the executor resolves it
    assert (_recorded_span(examples), _measure(out)) == (1, sizes[1])


def test_a_folder_without_spans_reads_as_before(tmp_path):
    data = str(tmp_path / "data")
    n = _mnist(data, 8)
    gen = mnist_example_gen.create(data)
    assert _patterns(gen) == [
        mnist_example_gen.split_pattern("train")]
    out = str(tmp_path / "out")
    examples = run_executor(gen, mnist_example_gen.Executor, out, with_driver=True)
    assert (_recorded_span(examples), _measure(out)) == (0, n)


def test_image_folder_corpus_takes_its_classes_from_the_chosen_span(tmp_path):
    from pipelines.image.corpora import folder_corpus
    data = str(tmp_path / "data")
    write_png_folder(os.path.join(data, "span-1"), ["ant", "bee"], 1, size=(4, 4))
    write_png_folder(os.path.join(data, "span-2"), ["ant", "bee", "cow"], 1, size=(4, 4))
    assert folder_corpus().for_data(data).class_names == ("ant", "bee", "cow")
    assert folder_corpus().for_data(data, 1).class_names == ("ant", "bee")


# ----------------------------------------------------------------------------- refusals
def _two_mnist_spans(tmp_path):
    data = str(tmp_path / "data")
    for span in (1, 2):
        _mnist(os.path.join(data, f"span-{span}"), 4)
    return data


def test_a_span_that_does_not_exist_is_refused(tmp_path):
    data = _two_mnist_spans(tmp_path)
    with pytest.raises(spans.SpanError) as e:
        mnist_example_gen.create(data, span=3)
    assert str(e.value) == f"{data}/span-3: no such span (spans here: 1, 2)"


def test_span_on_a_folder_without_spans_is_refused(tmp_path):
    data = str(tmp_path / "data")
    _mnist(data, 4)
    with pytest.raises(spans.SpanError, match=rf"^{data}: --span 1: this data folder has "
                                              rf"no span folders"):
        mnist_example_gen.create(data, span=1)


def test_span_folders_next_to_loose_data_are_refused(tmp_path):
    data = _two_mnist_spans(tmp_path)
    _mnist(data, 4)
    with pytest.raises(spans.SpanError) as e:
        mnist_example_gen.create(data)
    assert str(e.value).startswith(f"{data}: span folders (span-1, span-2) next to other "
                                   f"data (train-images-idx3-ubyte.gz, ")


@pytest.mark.parametrize("name,problem", [
    ("span-x", "a span folder is named span-<N>"), ("span-02", "a span folder is named"),
    ("span-0", "a span folder is named"), ("span-3", "empty span folder")])
def test_badly_named_and_empty_span_folders_are_refused(tmp_path, name, problem):
    data = _two_mnist_spans(tmp_path)
    os.makedirs(os.path.join(data, name))
    with pytest.raises(spans.SpanError) as e:
        mnist_example_gen.create(data, span=1)
    assert str(e.value).startswith(f"{data}/{name}: {problem}")


@pytest.mark.parametrize("kind,error", [
    ("mnist", r"span-2/train-\*-idx\[13\]-ubyte\*: expected exactly one images file"),
    ("cifar10", r"span-2: no CIFAR-10 binary batches"),
    ("image_folder", r"span-2: no class folders"),
    ("ptb", r"span-2: no corpus found")])
def test_a_span_folder_of_another_corpus_kind_is_refused(tmp_path, kind, error):
    write, create, _ = KINDS[kind]
    data = str(tmp_path / "data")
    write(os.path.join(data, "span-1"), 6)
    other = os.path.join(data, "span-2")
    os.makedirs(other)
    with open(os.path.join(other, "README"), "w") as f:
        f.write("not this corpus\n")
    with pytest.raises(ValueError, match=error) as e:
        create(data)
    assert str(e.value).startswith(data)
    create(data, span=1)  # the good span is still there to pin


def test_a_span_of_a_folder_not_visible_here_is_taken_as_given(tmp_path):
    # e.g. a cluster volume when compiling for Kubeflow: nothing to list, so no refusal
    elsewhere = str(tmp_path / "on-the-cluster")
    choice = spans.choose(elsewhere, 4)
    assert (choice.span, choice.folder) == (4, os.path.join(elsewhere, "span-4"))
    gen = mnist_example_gen.create(elsewhere, span=4)
    assert _range_config(gen) == spans.static_range(4)
    assert _patterns(gen) == [
        "span-{SPAN}/train-*-idx[13]-ubyte*", "span-{SPAN}/t10k-*-idx[13]-ubyte*"]
    assert spans.choose(elsewhere).span is None
