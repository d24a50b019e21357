"""What the custom evaluators (word2vec, language models) read and write.

They read raw tokens of the ExampleGen's eval split, and write what the stock TFX
Evaluator writes: a scores file in the ModelEvaluation artifact, and a ModelBlessing with
the BLESSED / NOT_BLESSED marker file and the custom properties the Pusher and the run
report read (`blessed`, `current_model`, `current_model_id`, `baseline_model`,
`baseline_model_id`, `blessing_message`).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import tensorflow as tf
from tfx import types
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils

from trainer.contract import TOKENS_KEY


# What both evaluators' ComponentSpecs share: the thresholds (a JSON dict), the split and
# token budget they score, the candidate and the optional baseline, and the two outputs
# the stock Evaluator has.
PARAMETERS = {
    "thresholds": ExecutionParameter(type=str, optional=True),
    "eval_split": ExecutionParameter(type=str, optional=True),
    "max_eval_tokens": ExecutionParameter(type=int, optional=True),
}
INPUTS = {
    "examples": ChannelParameter(type=standard_artifacts.Examples),
    "model": ChannelParameter(type=standard_artifacts.Model),
    "baseline_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
}
OUTPUTS = {
    "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
    "blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
}


def split_pattern(examples: types.Artifact, split: str) -> str:
    """The file pattern of one split of an Examples artifact."""
    return os.path.join(artifact_utils.get_split_uri([examples], split), "*")


def raw_token_blocks(file_pattern: str, block: int = 256,
                     max_tokens: Optional[int] = None) -> List[tf.RaggedTensor]:
    """The raw `tokens` of an Examples split as ragged string blocks (first `max_tokens`)."""
    files = sorted(tf.io.gfile.glob(file_pattern))
    if not files:
        raise FileNotFoundError(f"no examples match {file_pattern}")
    spec = {TOKENS_KEY: tf.io.RaggedFeature(tf.string)}
    ds = (tf.data.TFRecordDataset(files, compression_type="GZIP").batch(block)
          .map(lambda s: tf.io.parse_example(s, spec)[TOKENS_KEY]))
    out, n = [], 0
    for tokens in ds:
        out.append(tokens)
        n += int(tf.size(tokens.flat_values))
        if max_tokens and n >= max_tokens:
            break
    return out


def write_scores(evaluation: types.Artifact, filename: str, scores: Dict[str, Any]) -> str:
    tf.io.gfile.makedirs(evaluation.uri)
    path = os.path.join(evaluation.uri, filename)
    with tf.io.gfile.GFile(path, "w") as f:
        json.dump(scores, f, indent=2)
    return path


def read_scores(evaluation_uri: str, filename: str) -> Dict[str, Any]:
    with tf.io.gfile.GFile(os.path.join(evaluation_uri, filename)) as f:
        return json.load(f)


def write_blessing(blessing: types.Artifact, model: types.Artifact,
                   baseline: Optional[types.Artifact], blessed: bool, message: str) -> None:
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_int_custom_property("current_model_id", model.id)
    if baseline is not None:
        blessing.set_string_custom_property("baseline_model", baseline.uri)
        blessing.set_int_custom_property("baseline_model_id", baseline.id)
    blessing.set_string_custom_property("blessing_message", message)
    io_utils.write_string_file(
        os.path.join(blessing.uri, "BLESSED" if blessed else "NOT_BLESSED"), "")
    blessing.set_int_custom_property("blessed", 1 if blessed else 0)
