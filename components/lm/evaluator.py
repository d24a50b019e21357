"""LanguageModelEvaluator: perplexity on the held-out text, and a blessing for the Pusher.

Inputs: `examples` (the TextExampleGen output; its `eval` split is the held-out text),
`model` (a Trainer's language-model SavedModel, trainer/lm/export.py) and optionally
`baseline_model` (ServingBaseline's copy of the served version; an empty one counts as
none, components/serving_baseline.py).

Each model maps the raw eval tokens through its own vocabulary (unknown words -> `<unk>`,
`<eos>` after every chunk) into one token stream, cut into the same [rows, num_steps]
windows for both, and is scored with its state carried from window to window (the PTB
evaluation). Perplexity = exp(total cross-entropy / total tokens) over the whole stream
(trainer/lm/evaluation.py). Blessing (trainer.lm.evaluation.decide): the perplexity must
be finite, at most `max_perplexity` when set, and at most (1 + `max_increase`) times the
baseline's when there is one.

Outputs: `evaluation` (ModelEvaluation; `lm_scores.json`) and `blessing` (ModelBlessing).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import executor_spec
from tfx.types.component_spec import ExecutionParameter

from components import evaluator_io
from trainer.lm import data as lm_data
from trainer.lm import evaluation as lm_eval
from trainer.lm.export import load_vocabulary
from trainer.lm.preprocessing import EOS_ID, UNK_ID

SCORES_FILE = "lm_scores.json"
DEFAULT_THRESHOLDS: Dict[str, Optional[float]] = {"max_perplexity": None,
                                                   "max_increase": 0.02}


def thresholds_with_defaults(thresholds: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    return evaluator_io.thresholds_with_defaults(DEFAULT_THRESHOLDS, thresholds,
                                                 "LanguageModelEvaluator")


def token_stream(token_blocks: List[tf.RaggedTensor], words: List[str]) -> np.ndarray:
    """Raw token chunks -> one id stream under `words`, `<eos>` after every chunk."""
    index = {w: i for i, w in enumerate(words)}
    ids: List[int] = []
    for block in token_blocks:
        for chunk in block.to_list():
            ids.extend(index.get(t.decode("utf-8"), UNK_ID) for t in chunk)
            ids.append(EOS_ID)
    return np.asarray(ids, np.int32)


def score_model(export_dir: str, token_blocks: List[tf.RaggedTensor], rows: int,
                num_steps: int) -> Dict[str, float]:
    loaded = tf.saved_model.load(export_dir)
    words = load_vocabulary(loaded)
    stream = token_stream(token_blocks, words)
    if lm_data.window_count(len(stream), rows, num_steps) < 1:
        raise ValueError(f"LanguageModelEvaluator: the eval split has {len(stream)} tokens, "
                         f"fewer than one window of {rows} x {num_steps}")
    result = lm_eval.evaluate(loaded, lm_data.batch_windows(stream, rows, num_steps),
                              carry_state=True)
    unknown = float(np.mean(stream == UNK_ID))
    return {"perplexity": result.perplexity, "cross_entropy": result.cross_entropy,
            "eval_tokens": result.tokens, "eval_unk_rate": unknown,
            "vocab_size": len(words)}


class Executor(evaluator_io.ScoringExecutor):
    """Perplexity of the candidate (and the baseline) on the eval split; the blessing."""
    NAME = "LanguageModelEvaluator"
    SCORES_FILE = SCORES_FILE
    DEFAULT_THRESHOLDS = DEFAULT_THRESHOLDS

    def settings(self, exec_properties: Dict[str, Any]) -> Tuple[int, int]:
        return (int(exec_properties.get("eval_rows") or 10),
                int(exec_properties.get("eval_num_steps") or 35))

    def score(self, export_dir: str, blocks: List[tf.RaggedTensor],
              settings: Tuple[int, int]) -> Dict[str, Any]:
        return score_model(export_dir, blocks, *settings)

    def decide(self, candidate, baseline, thresholds) -> Tuple[bool, str]:
        blessed, reasons = lm_eval.decide(
            candidate["perplexity"], baseline["perplexity"] if baseline else None,
            thresholds["max_perplexity"], thresholds["max_increase"])
        return blessed, ("blessed: " if blessed else "not blessed: ") + "; ".join(reasons)


def read_scores(evaluation_uri: str) -> Dict[str, Any]:
    return evaluator_io.read_scores(evaluation_uri, SCORES_FILE)


class LanguageModelEvaluatorSpec(types.ComponentSpec):
    PARAMETERS = {
        **evaluator_io.PARAMETERS,
        "eval_rows": ExecutionParameter(type=int, optional=True),
        "eval_num_steps": ExecutionParameter(type=int, optional=True),
    }
    INPUTS = evaluator_io.INPUTS
    OUTPUTS = evaluator_io.OUTPUTS


class LanguageModelEvaluator(evaluator_io.TaskEvaluator):
    """Perplexity gate for language models (see the module docstring)."""

    SPEC_CLASS = LanguageModelEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
                 baseline_model: Optional[types.BaseChannel] = None,
                 thresholds: Optional[Dict[str, Any]] = None, eval_split: str = "eval",
                 max_eval_tokens: Optional[int] = None, eval_rows: int = 10,
                 eval_num_steps: int = 35):
        super().__init__(examples, model, baseline_model, thresholds, eval_split,
                         max_eval_tokens, eval_rows=eval_rows, eval_num_steps=eval_num_steps)
