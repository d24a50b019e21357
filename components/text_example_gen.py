"""TextExampleGen: a Beam ExampleGen for text corpora (text8, PTB, Wikipedia XML, plain text).

Each tf.Example is one bounded chunk of a document (see components/text_corpora.py):

- `tokens`: bytes list, at most `max_tokens` tokens (a PTB sentence, or a run of text);
- `doc`: the document it came from (file name, or Wikipedia page title);
- `chunk`: int64 position of the chunk within that document;
- `source`: the corpus file name (for PTB this names the original train/valid/test split).

Splits: PTB keeps its own files as `train` / `eval` (ptb.valid.txt) / `test`; the other
layouts are hash-split per chunk (deterministic: the hash of the serialized Example) into
`train` / `eval`. Files are checked while the Beam graph is built (pattern matches, not
empty, compression magic); reading errors name the file and line, and a corpus that
yields no token fails the component. Either way the AtomicExampleGenExecutor removes
partial output.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import apache_beam as beam
import tensorflow as tf
from google.protobuf import any_pb2, json_format, struct_pb2
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2

from components import filesystem as fs
from components import spans, text_corpora
from trainer.contract import text_example
from components.example_gen_base import AtomicExampleGenExecutor, split_configs

_METRICS_NAMESPACE = "TextExampleGen"


def to_example(chunk: text_corpora.Chunk, source: str) -> tf.train.Example:
    return text_example(chunk.tokens, chunk.doc, chunk.index, source)


def make_custom_config(fmt: str, max_tokens: int, max_line_bytes: int
                       ) -> example_gen_pb2.CustomConfig:
    settings = struct_pb2.Struct()
    settings.update({"format": fmt, "max_tokens": max_tokens,
                     "max_line_bytes": max_line_bytes})
    packed = any_pb2.Any()
    packed.Pack(settings)
    return example_gen_pb2.CustomConfig(custom_config=packed)


def read_custom_config(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
    raw = exec_properties.get("custom_config")
    if not raw:
        raise ValueError("TextExampleGen: custom_config (format, max_tokens) is required")
    config = example_gen_pb2.CustomConfig()
    if isinstance(raw, str):
        json_format.Parse(raw, config)
    else:
        config.CopyFrom(raw)
    settings = struct_pb2.Struct()
    if not config.custom_config.Unpack(settings):
        raise ValueError("TextExampleGen: custom_config does not hold a Struct")
    out = json_format.MessageToDict(settings)
    return {"format": out["format"], "max_tokens": int(out["max_tokens"]),
            "max_line_bytes": int(out["max_line_bytes"])}


def _read_file(path: str, fmt: str, max_tokens: int, max_line_bytes: int):
    stats = text_corpora.new_stats()
    source = fs.basename(path)
    for chunk in text_corpora.read_file(fmt, path, max_tokens, max_line_bytes, stats):
        yield to_example(chunk, source)
    for key, value in stats.items():
        beam.metrics.Metrics.counter(_METRICS_NAMESPACE, key).inc(value)


def _require_examples(count: int, where: str) -> int:
    if count == 0:
        raise text_corpora.TextCorpusError(where, "empty corpus: no tokens in any file")
    return count


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _TextToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                   split_pattern: str) -> beam.pvalue.PCollection:
    config = read_custom_config(exec_properties)
    input_base = exec_properties["input_base"]
    # Checked here, at graph construction: bad layout never reaches a write.
    files = text_corpora.corpus_files(input_base, split_pattern, config["format"])
    examples = (pipeline
                | "Files" >> beam.Create(files)
                | "Reshuffle" >> beam.Reshuffle()
                | "Read" >> beam.FlatMap(_read_file, fmt=config["format"],
                                         max_tokens=config["max_tokens"],
                                         max_line_bytes=config["max_line_bytes"]))
    _ = (examples
         | "Count" >> beam.combiners.Count.Globally()
         | "RequireTokens" >> beam.Map(_require_examples,
                                       where=fs.join(input_base, split_pattern)))
    return examples


class Executor(AtomicExampleGenExecutor):
    """ExampleGen executor reading a text corpus folder."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _TextToExample


class TextExampleGen(FileBasedExampleGen):
    """FileBasedExampleGen over a text corpus folder (the driver fingerprints the files)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)


def create(input_base: str, fmt: str = "auto",
           max_tokens: int = text_corpora.DEFAULT_MAX_TOKENS,
           max_line_bytes: int = text_corpora.DEFAULT_MAX_LINE_BYTES,
           eval_hash_buckets: int = 1, train_hash_buckets: int = 9,
           span: Optional[int] = None) -> TextExampleGen:
    """Builds the component for `input_base` (layout detected unless `fmt` is given);
    with span folders (components/spans.py) the newest span, or `span`."""
    choice = spans.choose(input_base, span)
    folder = choice.folder
    visible = fs.isdir(folder)  # not when compiling for a cluster volume
    if fmt == "auto":
        if not visible:
            raise ValueError(f"{folder}: folder not visible here, so its layout cannot "
                             "be detected: give the text format (text8|ptb|wikipedia|plaintext)")
        fmt = text_corpora.detect_format(folder)
    patterns = text_corpora.file_patterns(fmt)
    for pattern in patterns.values():  # fail at pipeline construction on a wrong folder
        if visible:
            text_corpora.corpus_files(folder, pattern, fmt)
    input_config, output_config = split_configs(choice.patterns(patterns),
                                                train_hash_buckets, eval_hash_buckets)
    return TextExampleGen(input_base=input_base, input_config=input_config,
                          output_config=output_config,
                          custom_config=make_custom_config(fmt, max_tokens, max_line_bytes),
                          range_config=choice.range_config)


__all__ = ["TextExampleGen", "create", "to_example"]
