"""ImageFolderExampleGen's executor on PNG/JPEG folders written by the test, and its
custom properties as published to ML Metadata by a LocalDagRunner run."""
import json
import os

import numpy as np
import pytest
from google.protobuf import json_format
from tfx import v1 as tfx
from tfx.types import standard_component_specs

from components import image_folder, image_folder_example_gen
from pipelines import config
from pipelines.image import corpora
from tests.example_gen_harness import read_examples, run_executor
from tests.components.test_image_folder import COLOURS, add_bad_files, make_folder, write_image

K = standard_component_specs


def _run_executor(input_base, output_dir, **create_kwargs):
    return run_executor(image_folder_example_gen.create(input_base, **create_kwargs),
                        image_folder_example_gen.Executor, output_dir)


def _read_split(output_dir, split, shape=(32, 32, 3)):
    out = []
    for ex in read_examples(output_dir, split):
        f = ex.features.feature
        assert sorted(f) == ["image", "label", "label_name"]
        image = np.array(f["image"].int64_list.value).reshape(shape)
        out.append((image, f["label"].int64_list.value[0],
                    f["label_name"].bytes_list.value[0].decode()))
    return out


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_examples_labels_skips_and_class_names(tmp_path):
    root = make_folder(tmp_path / "data", classes=("cat", "ant", "Bee"), per_class=4)
    bad = add_bad_files(os.path.join(root, "ant"))
    out = str(tmp_path / "out")
    examples = _run_executor(root, out)
    # (Solid colours: the images of a class are identical, so the hash split keeps them
    # together; only the total matters here.)
    records = _read_split(out, "train") + _read_split(out, "eval")
    assert len(records) == 12
    names = ["Bee", "ant", "cat"]
    for image, label, name in records:
        assert name == names[label]
        # PNGs are lossless, JPEGs of a solid colour are within a few levels of it.
        assert np.abs(image - np.array(COLOURS[name])).max() <= 3
    assert sorted(np.bincount([r[1] for r in records]).tolist()) == [4, 4, 4]
    # The skips: custom property, and the list of paths with reasons.
    assert examples.get_int_custom_property("skipped_files") == len(bad) == 5
    skipped = [line.split("\t") for line in _lines(os.path.join(out, "skipped_files.txt"))]
    assert sorted(p for p, _ in skipped) == sorted(bad)
    assert all(bad[p] in reason for p, reason in skipped)
    # The class-name -> id mapping: line i = id i, and the JSON property.
    assert _lines(os.path.join(out, "class_names.txt")) == names
    assert json.loads(examples.get_string_custom_property("class_names")) == names


def test_error_policy_fails_naming_the_file_and_leaves_no_output(tmp_path):
    root = make_folder(tmp_path / "data")
    bad = os.path.join(root, "cat", "x.png")
    with open(bad, "w") as f:
        f.write("not an image")
    out = str(tmp_path / "out")
    with pytest.raises(image_folder.ImageFolderError) as e:
        _run_executor(root, out, on_bad_file="error")
    assert e.value.path == bad and "bad file: not a PNG or JPEG image" in str(e.value)
    assert os.listdir(out) == []  # the folder the launcher made is left, empty


def test_split_folders_size_and_grayscale_options(tmp_path):
    root = tmp_path / "data"
    make_folder(root / "train", classes=("ant", "cat"), per_class=3, size=(40, 30))
    make_folder(root / "eval", classes=("cat",), per_class=2, size=(64, 64))
    out = str(tmp_path / "out")
    examples = _run_executor(str(root), out, image_shape=(16, 24, 1))
    assert sorted(json.loads(examples.split_names)) == ["eval", "train"]
    shape = (16, 24, 1)
    train, evals = _read_split(out, "train", shape), _read_split(out, "eval", shape)
    assert len(train) == 6 and [(r[1], r[2]) for r in evals] == [(1, "cat")] * 2
    grey_cat = np.dot(COLOURS["cat"], [0.299, 0.587, 0.114])  # ITU-R 601-2 luma
    assert all(np.abs(r[0] - grey_cat).max() <= 3 for r in evals)
    assert examples.get_int_custom_property("skipped_files") == 0
    assert _lines(os.path.join(out, "skipped_files.txt")) == []


def test_resize_false_refuses_mixed_sizes_before_writing(tmp_path):
    root = make_folder(tmp_path / "data", per_class=2)
    odd = os.path.join(root, "Bee", "odd.png")
    write_image(odd, (30, 32), fmt="PNG")
    out = str(tmp_path / "out")
    with pytest.raises(image_folder.ImageFolderError, match="image is 30x32") as e:
        _run_executor(root, out, resize=False)
    assert e.value.path == odd and os.listdir(out) == []


def test_hash_split_is_deterministic(tmp_path):
    root = str(tmp_path / "data")
    for i in range(30):  # distinct images, so the hash split has something to split
        write_image(os.path.join(root, f"c{i % 3}", f"{i}.png"), fmt="PNG", noise_seed=i)
    first = _run_executor(root, str(tmp_path / "a"))
    _run_executor(root, str(tmp_path / "b"))

    def keys(uri, split):
        return sorted(r[0].tobytes() for r in _read_split(uri, split))

    assert len(keys(first.uri, "train")) + len(keys(first.uri, "eval")) == 30
    assert keys(first.uri, "eval") and keys(first.uri, "eval") == keys(str(tmp_path / "b"), "eval")


def test_custom_config_round_trip_and_defaults():
    options = image_folder.FolderOptions(height=20, width=10, channels=1, resize=False,
                                         on_bad_file="error")
    # As the launcher passes it: the CustomConfig proto as a JSON string.
    props = {K.CUSTOM_CONFIG_KEY: json_format.MessageToJson(
        image_folder_example_gen.make_custom_config(options))}
    assert image_folder_example_gen.read_custom_config(props) == options
    assert image_folder_example_gen.read_custom_config({}) == image_folder.FolderOptions()


def test_folder_corpus_counts_classes_at_construction(tmp_path):
    root = make_folder(tmp_path / "data", classes=("ant", "Bee", "cat", "dog", "eel"),
                       per_class=1)
    corpus = corpora.IMAGE_CORPORA["folder"]
    assert corpus.image_shape == (32, 32, 3) and corpus.embedded_data is None
    resolved = corpus.for_data(root)
    assert (resolved.num_classes, resolved.image_shape) == (5, (32, 32, 3))
    small = corpora.folder_corpus((8, 8, 1), on_bad_file="error").for_data(root)
    assert (small.num_classes, small.image_shape) == (5, (8, 8, 1))
    gen = small.make_example_gen(root)
    assert image_folder_example_gen.read_custom_config(gen.exec_properties) == \
        image_folder.FolderOptions(8, 8, 1, True, "error")


def test_custom_properties_are_published_to_mlmd(tmp_path):
    """A real LocalDagRunner run: the executor's properties reach ML Metadata."""
    root = make_folder(tmp_path / "data", per_class=2)
    add_bad_files(os.path.join(root, "cat"))
    metadata_path = str(tmp_path / "metadata.sqlite")
    connection = tfx.orchestration.metadata.sqlite_metadata_connection_config(metadata_path)
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="folder-ingest", pipeline_root=str(tmp_path / "root"),
        components=[image_folder_example_gen.create(root)],
        metadata_connection_config=connection,
        beam_pipeline_args=config.with_local_dependencies(config.DEFAULT_BEAM_ARGS))
    tfx.orchestration.LocalDagRunner().run(pipeline)

    from ml_metadata.metadata_store import metadata_store  # pylint: disable=import-outside-toplevel
    store = metadata_store.MetadataStore(connection)
    [artifact] = store.get_artifacts_by_type("Examples")
    props = artifact.custom_properties
    assert props["skipped_files"].int_value == 5
    assert json.loads(props["class_names"].string_value) == ["Bee", "ant", "cat"]
    assert _lines(os.path.join(artifact.uri, "class_names.txt")) == ["Bee", "ant", "cat"]
    assert len(_lines(os.path.join(artifact.uri, "skipped_files.txt"))) == 5
