"""What the text tasks' evaluators (components/word2vec, components/lm) share.

Both score the candidate and the served baseline on raw tokens of the ExampleGen's eval
split (`ScoringExecutor`: a subclass says how to score one SavedModel and how to decide),
take the same inputs, thresholds and token budget (`TaskEvaluator`), and write what the
stock TFX Evaluator writes: a scores file in the ModelEvaluation artifact, and a
ModelBlessing with the BLESSED / NOT_BLESSED marker file and the custom properties the
Pusher and the run report read (`blessed`, `current_model`, `current_model_id`,
`baseline_model`, `baseline_model_id`, `blessing_message`).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Tuple

import absl.logging
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import base_component, base_executor
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import io_utils, path_utils

from components.serving_baseline import usable_baseline
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


def thresholds_with_defaults(defaults: Dict[str, Any], thresholds: Optional[Dict[str, Any]],
                             evaluator: str) -> Dict[str, Any]:
    """`defaults` updated with `thresholds`, refusing names `defaults` does not have."""
    out = dict(defaults)
    unknown = set(thresholds or {}) - set(out)
    if unknown:
        raise ValueError(f"{evaluator}: unknown thresholds {sorted(unknown)}; known: "
                         f"{sorted(out)}")
    out.update(thresholds or {})
    return out


class ScoringExecutor(base_executor.BaseExecutor):
    """Scores the candidate (and the usable baseline) on the eval split's raw tokens,
    decides, and writes the scores and the blessing. A subclass sets NAME, SCORES_FILE and
    DEFAULT_THRESHOLDS and says how to read its own settings (`settings`), score one
    SavedModel (`score`) and decide (`decide`)."""
    NAME = ""
    SCORES_FILE = ""
    DEFAULT_THRESHOLDS: Dict[str, Any] = {}

    def settings(self, exec_properties: Dict[str, Any]) -> Any:
        return None

    def score(self, export_dir: str, blocks: List[tf.RaggedTensor],
              settings: Any) -> Dict[str, Any]:
        raise NotImplementedError

    def decide(self, candidate: Dict[str, Any], baseline: Optional[Dict[str, Any]],
               thresholds: Dict[str, Any]) -> Tuple[bool, str]:
        """(blessed, the blessing message)."""
        raise NotImplementedError

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        thresholds = thresholds_with_defaults(
            self.DEFAULT_THRESHOLDS, json.loads(exec_properties.get("thresholds") or "{}"),
            self.NAME)
        settings = self.settings(exec_properties)
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        split = exec_properties.get("eval_split") or "eval"
        blocks = raw_token_blocks(split_pattern(examples, split),
                                  max_tokens=exec_properties.get("max_eval_tokens"))
        model = artifact_utils.get_single_instance(input_dict["model"])
        candidate = self.score(path_utils.serving_model_path(model.uri), blocks, settings)
        baseline_art = usable_baseline(input_dict.get("baseline_model"))
        baseline = None
        if baseline_art is not None:
            baseline = self.score(path_utils.serving_model_path(baseline_art.uri), blocks,
                                  settings)
        blessed, message = self.decide(candidate, baseline, thresholds)
        absl.logging.info("%s: %s; candidate %s; baseline %s", self.NAME, message,
                          json.dumps(candidate), json.dumps(baseline))
        write_scores(artifact_utils.get_single_instance(output_dict["evaluation"]),
                     self.SCORES_FILE, {
                         "candidate": candidate, "baseline": baseline,
                         "thresholds": thresholds, "blessed": blessed, "message": message,
                         "eval_split": split, "model_uri": model.uri,
                         "baseline_uri": baseline_art.uri if baseline_art else None})
        write_blessing(artifact_utils.get_single_instance(output_dict["blessing"]), model,
                       baseline_art, blessed, message)


class TaskEvaluator(base_component.BaseComponent):
    """A text task's evaluator component: SPEC_CLASS has PARAMETERS / INPUTS / OUTPUTS
    above plus its own parameters, passed here as `parameters`."""

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
                 baseline_model: Optional[types.BaseChannel] = None,
                 thresholds: Optional[Dict[str, Any]] = None, eval_split: str = "eval",
                 max_eval_tokens: Optional[int] = None, **parameters):
        executor = self.EXECUTOR_SPEC.executor_class
        spec = self.SPEC_CLASS(
            examples=examples, model=model, baseline_model=baseline_model,
            thresholds=json.dumps(thresholds_with_defaults(
                executor.DEFAULT_THRESHOLDS, thresholds, executor.NAME)),
            eval_split=eval_split, max_eval_tokens=max_eval_tokens,
            evaluation=types.Channel(type=standard_artifacts.ModelEvaluation),
            blessing=types.Channel(type=standard_artifacts.ModelBlessing), **parameters)
        super().__init__(spec=spec)
