"""Span folders: several snapshots ("spans") of one corpus under one `--data` folder.

Layout: `<data>/span-<N>/...`, each span folder holding what the corpus kind holds in a
plain data folder (MNIST IDX files, CIFAR-10 batches, an image folder, a text corpus),
N a whole number from 1 (TFX records span 0 for data without spans), written without
leading zeros. A data folder with no `span-*` entries is read as it always was.

Which span is read is decided by TFX itself, as for any FileBasedExampleGen: every input
split pattern is `span-{SPAN}/<the corpus's pattern>` relative to `input_base` (the data
folder), and TFX's ExampleGen driver (tfx/components/example_gen/driver.py, via
input_processor.FileBasedInputProcessor and utils.calculate_splits_fingerprint_span_and_version)
takes the newest span, or the one a `range_config` static range pins. The driver
fingerprints that span's files and records the span on the Examples artifact
(driver.update_output_artifact: custom property `span`), which ML Metadata keeps.

Open-source KFP never runs that driver (pipelines/runners/kfp_compat.py), nor does
`classics run-ir`, so `resolve_in_executor` runs the same TFX code inside the executor
when the patterns still hold `{SPAN}`, as TFX's Kubeflow V2 driver would
(tfx/orchestration/kubeflow/v2/file_based_example_gen/driver.py `_run_driver`). Either
way the executor then reads the span folder exactly as it reads a plain data folder
(`input_base` = `<data>/span-<N>`, patterns without the span prefix), so no reader knows
about spans.

`choose` is the construction-time half: it refuses a layout TFX would misread (span
folders next to loose data, a badly named or empty span folder, a `--span` that does
not exist) and says which span folder the corpus's layout detection should look at.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Dict, List, Optional

from tfx import types
from tfx.components.example_gen import driver as example_gen_driver
from tfx.components.example_gen import input_processor
from tfx.components.example_gen import utils as example_gen_utils
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components import filesystem as fs
from components.input_errors import InputFileError

PREFIX = "span-"
SPAN_FOLDER = PREFIX + example_gen_utils.SPAN_SPEC  # "span-{SPAN}"
_NAME = re.compile(r"^span-(?P<span>[1-9][0-9]*)$")
_RESOLVED = re.compile(r"^span-(?P<span>[1-9][0-9]*)/")


class SpanError(InputFileError):
    """The span folders of a data folder cannot be used; `path` names the folder."""


def static_range(span: int) -> range_config_pb2.RangeConfig:
    """The RangeConfig that pins one span (TFX's ExampleGen takes start == end only)."""
    return range_config_pb2.RangeConfig(static_range=range_config_pb2.StaticRange(
        start_span_number=span, end_span_number=span))


@dataclasses.dataclass(frozen=True)
class SpanChoice:
    """What `choose` found: `span` None for a plain data folder."""
    input_base: str
    span: Optional[int] = None
    pinned: bool = False  # --span given: TFX reads this span, not the newest

    @property
    def folder(self) -> str:
        """Where this span's data is (the data folder itself without spans)."""
        return self.input_base if self.span is None else fs.join(
            self.input_base, f"{PREFIX}{self.span}")

    @property
    def range_config(self) -> Optional[range_config_pb2.RangeConfig]:
        return static_range(self.span) if self.pinned else None

    def patterns(self, patterns: Dict[str, str]) -> Dict[str, str]:
        """The corpus's split patterns (relative to `folder`) as ExampleGen patterns
        relative to `input_base`: with spans, under `span-{SPAN}/`."""
        if self.span is None:
            return dict(patterns)
        return {name: f"{SPAN_FOLDER}/{pattern}" for name, pattern in patterns.items()}


def _visible(folder: str) -> List[str]:
    try:
        return sorted(n for n in fs.listdir(folder) if not n.startswith("."))
    except fs.ERRORS as e:
        raise SpanError(folder, f"cannot list folder: {e}") from e


def _newest(input_base: str) -> int:
    """The newest span, as TFX's driver resolves `span-{SPAN}/*` (rolling range of 1)."""
    split = example_gen_pb2.Input.Split(name="span", pattern=f"{SPAN_FOLDER}/*")
    span, _ = input_processor.FileBasedInputProcessor(
        input_base, [split]).resolve_span_and_version()
    return span


def choose(input_base: str, span: Optional[int] = None) -> SpanChoice:
    """The span of `input_base` an ExampleGen will read: `span` if given, else the newest;
    a SpanChoice without span for a folder that has no span folders.

    A folder not visible here (a cluster volume when compiling for Kubeflow) is taken
    as plain data unless `span` pins one."""
    if not fs.isdir(input_base):
        return SpanChoice(input_base, span, pinned=span is not None)
    entries = _visible(input_base)
    named = [n for n in entries if n.startswith(PREFIX)]
    for name in named:
        if not _NAME.match(name):
            raise SpanError(fs.join(input_base, name),
                            "a span folder is named span-<N>, N a whole number from 1 "
                            "without leading zeros")
        if not fs.isdir(fs.join(input_base, name)):
            raise SpanError(fs.join(input_base, name), "a span must be a folder")
    if not named:
        if span is not None:
            raise SpanError(input_base, f"--span {span}: this data folder has no span "
                                        f"folders ({PREFIX}<N>/)")
        return SpanChoice(input_base)
    loose = [n for n in entries if n not in named]
    if loose:
        shown = ", ".join(loose[:3]) + (", ..." if len(loose) > 3 else "")
        raise SpanError(input_base, f"span folders ({', '.join(named)}) next to other data "
                                    f"({shown}): put all the data in span folders, or none")
    for name in named:
        if not _visible(fs.join(input_base, name)):
            raise SpanError(fs.join(input_base, name), "empty span folder")
    numbers = sorted(int(_NAME.match(n).group("span")) for n in named)
    if span is not None and span not in numbers:
        raise SpanError(fs.join(input_base, f"{PREFIX}{span}"),
                        f"no such span (spans here: {', '.join(map(str, numbers))})")
    if span is not None:
        return SpanChoice(input_base, span, pinned=True)
    return SpanChoice(input_base, _newest(input_base))


def resolve_in_executor(exec_properties: Dict[str, Any],
                        output_dict: Dict[str, List[types.Artifact]]) -> Dict[str, Any]:
    """The exec properties an executor reads its span with (a new dict).

    When no driver ran (patterns still hold `{SPAN}`), TFX's FileBasedDriver resolves
    the span here and the Examples artifact records it as the driver would have. Then a
    resolved `span-<N>/` prefix moves from the patterns into `input_base`."""
    props = dict(exec_properties)
    config = proto_utils.json_to_proto(props[standard_component_specs.INPUT_CONFIG_KEY],
                                       example_gen_pb2.Input())
    if any(re.search(example_gen_utils.SPAN_FULL_REGEX, s.pattern) for s in config.splits):
        props = example_gen_driver.FileBasedDriver(None).resolve_exec_properties(
            props, None, None)
        examples = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.EXAMPLES_KEY])
        example_gen_driver.update_output_artifact(props, examples.mlmd_artifact)
        config = proto_utils.json_to_proto(props[standard_component_specs.INPUT_CONFIG_KEY],
                                           example_gen_pb2.Input())
    found = {m.group(0) if m else None
             for m in (_RESOLVED.match(s.pattern) for s in config.splits)}
    if len(found) != 1 or None in found:
        return props
    prefix = found.pop()
    for split in config.splits:
        split.pattern = split.pattern[len(prefix):]
    props[standard_component_specs.INPUT_BASE_KEY] = fs.join(
        props[standard_component_specs.INPUT_BASE_KEY], prefix.rstrip("/"))
    props[standard_component_specs.INPUT_CONFIG_KEY] = proto_utils.proto_to_json(config)
    return props


__all__ = ["PREFIX", "SPAN_FOLDER", "SpanChoice", "SpanError", "choose",
           "resolve_in_executor", "static_range"]
