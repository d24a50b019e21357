"""ImageFolderExampleGen: a Beam ExampleGen for a folder of images, one sub-folder per class.

Layouts, class ids, decoding and the bad-file policy are described in
components/image_folder.py. Each tf.Example has

- `image`: int64 list of height*width*channels pixel values 0..255, row-major HWC order;
- `label`: int64 class id = index of the class folder in sorted(class folder names);
- `label_name`: bytes, the class folder name (UTF-8).

Splits: `train/` + `eval/` (or `test/`) folders become the train/eval splits; otherwise
the images are split 4:1 by a deterministic hash of each serialized example.

Before the Beam job is built, the executor scans every file (see image_folder.scan), so a
layout problem, an empty class, a wrong size with resize=False or (on_bad_file="error")
a bad file fails the component naming the file or folder before anything is written;
the AtomicExampleGenExecutor behaviour removes any output on failure. After the write the
executor records on the output Examples artifact (published to ML Metadata with it):

- custom property `skipped_files` (int): how many files were skipped as bad;
- custom property `class_names` (string): JSON list, element i = name of class id i;
- `<uri>/skipped_files.txt`: one `<path>\\t<reason>` line per skipped file (empty if none);
- `<uri>/class_names.txt`: one class name per line, line i = class id i.

Parameters (size, channels, resize, on_bad_file) travel in FileBasedExampleGen's own
`custom_config` execution parameter: an example_gen_pb2.CustomConfig whose Any holds a
google.protobuf.Struct. That parameter already exists in FileBasedExampleGen's spec, is
passed unchanged to the executor's exec_properties (as JSON) and is part of the cache
key, so no new component spec is needed (TextExampleGen uses the same mechanism).
"""
from __future__ import annotations

import functools
import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import apache_beam as beam
from absl import logging
from google.protobuf import any_pb2, json_format, struct_pb2
from tfx import types
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components import image_folder, spans
from trainer.contract import (CLASS_NAMES_PROPERTY, SKIPPED_FILES_FILE, SKIPPED_FILES_PROPERTY,
                               image_example)
from components.example_gen_base import AtomicExampleGenExecutor, split_configs

CLASS_NAMES_FILE = "class_names.txt"


# ------------------------------------------------------------------------ custom_config
def make_custom_config(options: image_folder.FolderOptions) -> example_gen_pb2.CustomConfig:
    settings = struct_pb2.Struct()
    settings.update({"height": options.height, "width": options.width,
                     "channels": options.channels, "resize": options.resize,
                     "on_bad_file": options.on_bad_file})
    packed = any_pb2.Any()
    packed.Pack(settings)
    return example_gen_pb2.CustomConfig(custom_config=packed)


def read_custom_config(exec_properties: Dict[str, Any]) -> image_folder.FolderOptions:
    """The FolderOptions in exec_properties["custom_config"] (defaults when absent)."""
    raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
    if not raw:
        return image_folder.FolderOptions()
    config = example_gen_pb2.CustomConfig()
    if isinstance(raw, str):
        json_format.Parse(raw, config)
    else:
        config.CopyFrom(raw)
    if not config.HasField("custom_config"):
        return image_folder.FolderOptions()
    settings = struct_pb2.Struct()
    if not config.custom_config.Unpack(settings):
        raise ValueError("ImageFolderExampleGen: custom_config does not hold a Struct")
    values = json_format.MessageToDict(settings)
    known = {"height", "width", "channels", "resize", "on_bad_file"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"ImageFolderExampleGen: unknown custom_config keys {unknown}")
    defaults = image_folder.FolderOptions()
    return image_folder.FolderOptions(
        height=int(values.get("height", defaults.height)),
        width=int(values.get("width", defaults.width)),
        channels=int(values.get("channels", defaults.channels)),
        resize=bool(values.get("resize", defaults.resize)),
        on_bad_file=str(values.get("on_bad_file", defaults.on_bad_file)))


def _input_patterns(exec_properties: Dict[str, Any]) -> List[str]:
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                              input_config)
    return [split.pattern for split in input_config.splits]


# ------------------------------------------------------------------------------- Beam
def _to_record(item: Tuple[str, int], options: image_folder.FolderOptions,
               class_names: Sequence[str]) -> bytes:
    path, label = item
    return image_example(image_folder.decode(path, options), label,
                      class_names[label]).SerializeToString(deterministic=True)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _FolderToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                     split_pattern: str,
                     scan: Optional[image_folder.ScanResult] = None
                     ) -> beam.pvalue.PCollection:
    options = read_custom_config(exec_properties)
    if scan is None or split_pattern not in scan.files:  # not run through Executor.Do
        scan = image_folder.scan(exec_properties["input_base"], [split_pattern], options)
    return (pipeline
            | "Files" >> beam.Create(scan.files[split_pattern])
            | "Reshuffle" >> beam.Reshuffle()
            | "Decode" >> beam.Map(_to_record, options=options,
                                   class_names=list(scan.class_names)))


def record_scan(examples: types.Artifact, scan: image_folder.ScanResult) -> None:
    """Writes class_names.txt / skipped_files.txt and sets the custom properties."""
    with fileio.open(os.path.join(examples.uri, CLASS_NAMES_FILE), "w") as f:
        f.write("".join(f"{name}\n" for name in scan.class_names))
    with fileio.open(os.path.join(examples.uri, SKIPPED_FILES_FILE), "w") as f:
        f.write("".join(f"{s.path}\t{s.reason}\n" for s in scan.skipped))
    examples.set_int_custom_property(SKIPPED_FILES_PROPERTY, len(scan.skipped))
    examples.set_string_custom_property(CLASS_NAMES_PROPERTY, json.dumps(list(scan.class_names)))


class Executor(AtomicExampleGenExecutor):
    """ExampleGen executor reading an image folder, recording skips and class names."""

    _scan: Optional[image_folder.ScanResult] = None

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return functools.partial(_FolderToExample, scan=self._scan)

    def prepare(self, exec_properties: Dict[str, Any]) -> None:
        options = read_custom_config(exec_properties)
        # Every file is checked before the Beam graph exists: nothing is written yet.
        self._scan = image_folder.scan(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                                       _input_patterns(exec_properties), options)
        logging.info("ImageFolderExampleGen: %d images in %d classes, %d files skipped",
                     self._scan.num_images, len(self._scan.class_names),
                     len(self._scan.skipped))

    def finish(self, output_dict: Dict[str, List[types.Artifact]]) -> None:
        record_scan(artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY]), self._scan)


class ImageFolderExampleGen(FileBasedExampleGen):
    """FileBasedExampleGen over an image folder (the driver fingerprints the files)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)


def create(input_base: str, image_shape: Sequence[int] = (32, 32, 3), resize: bool = True,
           on_bad_file: str = image_folder.SKIP, eval_hash_buckets: int = 1,
           train_hash_buckets: int = 4, span: Optional[int] = None) -> ImageFolderExampleGen:
    """Builds the component for `input_base`: train/eval folders or a 4:1 hash split;
    with span folders (components/spans.py) the newest span, or `span`."""
    options = image_folder.FolderOptions.from_shape(image_shape, resize=resize,
                                                    on_bad_file=on_bad_file)
    choice = spans.choose(input_base, span)
    # Fails now on a bad layout.
    patterns = choice.patterns(image_folder.split_patterns(choice.folder))
    input_config, output_config = split_configs(patterns, train_hash_buckets,
                                                eval_hash_buckets)
    return ImageFolderExampleGen(input_base=input_base, input_config=input_config,
                                 output_config=output_config,
                                 custom_config=make_custom_config(options),
                                 range_config=choice.range_config)
