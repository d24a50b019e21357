"""Word2VecEvaluator: scores word vectors and blesses them for the stock Pusher.

Inputs: `examples` (the TextExampleGen output; its `eval` split is the held-out text),
`model` (a Trainer's word2vec SavedModel, see trainer/word2vec/export.py) and optionally
`baseline_model` (the model to beat: ServingBaseline's copy of the served version; an
empty one, `has_model` = 0, counts as none, see components/serving_baseline.py). For the candidate and the baseline alike it computes

- WordSim-353 Spearman rho (and the OOV pair rate),
- analogy accuracy on questions-words.txt, over in-vocabulary questions (and coverage),
- the held-out NCE (or sampled-softmax) loss on the eval split, each model mapping the
  raw tokens through its own vocabulary, with the same pairs and negatives for both,
- the eval split's OOV token rate under the model's vocabulary.

Blessing: every absolute threshold that is set (not None) must hold
(`min_ws353_spearman`, `min_analogy_accuracy`, `max_heldout_loss`; a NaN score, e.g. no
WS353 pair in the vocabulary, fails its threshold), and when there is a baseline the
candidate must not fall more than `max_ws353_drop` / `max_analogy_drop` below it nor have
a held-out loss more than `max_heldout_loss_increase` (a fraction) above the baseline's.

Outputs: `evaluation` (ModelEvaluation; `word2vec_scores.json`) and `blessing` (ModelBlessing with
the BLESSED / NOT_BLESSED file and the custom properties TFX's Evaluator sets:
`blessed`, `current_model`, `current_model_id`, `baseline_model`, `baseline_model_id`,
`blessing_message`), which is what the Pusher reads.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
from tfx import types
from tfx.dsl.components.base import executor_spec
from tfx.types.component_spec import ExecutionParameter

from components import evaluator_io
from trainer.contract import EMBED_SIGNATURE
from trainer.word2vec import evaluation as word_eval
from trainer.word2vec.export import LoadedModel

# Not "metrics*": that prefix is what TFMA globs for in an evaluation folder.
METRICS_FILE = "word2vec_scores.json"
DEFAULT_THRESHOLDS: Dict[str, Optional[float]] = {
    "min_ws353_spearman": 0.0,
    "min_analogy_accuracy": 0.0,
    "max_heldout_loss": None,
    "max_ws353_drop": 0.02,
    "max_analogy_drop": 0.02,
    "max_heldout_loss_increase": 0.05,  # relative to the baseline's held-out loss
}


def thresholds_with_defaults(thresholds: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    return evaluator_io.thresholds_with_defaults(DEFAULT_THRESHOLDS, thresholds,
                                                 "Word2VecEvaluator")


def score_model(loaded: LoadedModel, token_blocks: List[tf.RaggedTensor],
                pairs, questions) -> Dict[str, float]:
    vectors, words = loaded.vectors(), loaded.words
    sim = word_eval.word_similarity(vectors, words, pairs)
    ana = word_eval.analogy_accuracy(vectors, words, questions)
    embed = loaded.obj.signatures[EMBED_SIGNATURE]
    id_blocks = [tf.RaggedTensor.from_row_splits(
        embed(words=b.flat_values)["ids"], b.row_splits) for b in token_blocks]
    ids_flat = np.concatenate([b.flat_values.numpy() for b in id_blocks]) if id_blocks \
        else np.zeros([0], np.int64)
    blocks = tf.data.Dataset.from_tensor_slices(
        tf.concat(id_blocks, axis=0)).batch(loaded.cfg.sequences_per_block)
    heldout = word_eval.heldout_loss(loaded.model, blocks, loaded.counts, loaded.cfg)
    return {
        "ws353_spearman": sim.spearman, "ws353_pairs": sim.pairs_used,
        "ws353_oov_rate": sim.oov_rate,
        "analogy_accuracy": ana.accuracy, "analogy_questions": ana.questions_used,
        "analogy_coverage": ana.coverage,
        "heldout_loss": heldout["heldout_loss"],
        "heldout_examples": heldout["heldout_examples"],
        "eval_tokens": int(ids_flat.size),
        "eval_oov_rate": float(np.mean(ids_flat >= loaded.vocab_size)) if ids_flat.size
        else float("nan"),
        "vocab_size": loaded.vocab_size,
    }


def _ge(value: float, bound: float) -> bool:
    return not math.isnan(value) and value >= bound


def decide(candidate: Dict[str, float], baseline: Optional[Dict[str, float]],
           t: Dict[str, Any]) -> List[str]:
    """The failed checks (empty = blessed)."""
    failures = []
    if t["min_ws353_spearman"] is not None and not _ge(candidate["ws353_spearman"],
                                                       t["min_ws353_spearman"]):
        failures.append(f"WS353 Spearman {candidate['ws353_spearman']:.4f} < "
                        f"{t['min_ws353_spearman']}")
    if t["min_analogy_accuracy"] is not None and not _ge(candidate["analogy_accuracy"],
                                                         t["min_analogy_accuracy"]):
        failures.append(f"analogy accuracy {candidate['analogy_accuracy']:.4f} < "
                        f"{t['min_analogy_accuracy']}")
    if t["max_heldout_loss"] is not None and not (
            candidate["heldout_loss"] <= t["max_heldout_loss"]):
        failures.append(f"held-out loss {candidate['heldout_loss']:.4f} > "
                        f"{t['max_heldout_loss']}")
    if baseline is not None:
        for key, drop, label in (("ws353_spearman", "max_ws353_drop", "WS353 Spearman"),
                                 ("analogy_accuracy", "max_analogy_drop", "analogy accuracy")):
            if math.isnan(baseline[key]) or t[drop] is None:
                continue
            if not _ge(candidate[key], baseline[key] - t[drop]):
                failures.append(f"{label} {candidate[key]:.4f} is more than {t[drop]} below "
                                f"the blessed baseline's {baseline[key]:.4f}")
        margin = t["max_heldout_loss_increase"]
        if margin is not None and not math.isnan(baseline["heldout_loss"]) and not (
                candidate["heldout_loss"] <= baseline["heldout_loss"] * (1 + margin)):
            failures.append(f"held-out loss {candidate['heldout_loss']:.4f} is more than "
                            f"{margin:.0%} above the blessed baseline's "
                            f"{baseline['heldout_loss']:.4f}")
    return failures


def read_metrics(evaluation_uri: str) -> Dict[str, Any]:
    return evaluator_io.read_scores(evaluation_uri, METRICS_FILE)


class Executor(evaluator_io.ScoringExecutor):
    """Scores candidate (and baseline) word vectors, writes metrics and the blessing."""
    NAME = "Word2VecEvaluator"
    SCORES_FILE = METRICS_FILE
    DEFAULT_THRESHOLDS = DEFAULT_THRESHOLDS

    def settings(self, exec_properties: Dict[str, Any]):
        return (word_eval.load_word_pairs(exec_properties.get("word_pairs_path")
                                          or word_eval.ws353_path()),
                word_eval.load_analogies(exec_properties.get("analogies_path")
                                         or word_eval.analogies_path()))

    def score(self, export_dir: str, blocks: List[tf.RaggedTensor], settings):
        pairs, questions = settings
        return score_model(LoadedModel(export_dir), blocks, pairs, questions)

    def decide(self, candidate, baseline, thresholds) -> Tuple[bool, str]:
        failures = decide(candidate, baseline, thresholds)
        if failures:
            return False, "not blessed: " + "; ".join(failures)
        return True, ("blessed: all thresholds met" +
                      (" and no regression against the blessed baseline" if baseline
                       else " (no model in service to compare with)"))


class Word2VecEvaluatorSpec(types.ComponentSpec):
    PARAMETERS = {
        **evaluator_io.PARAMETERS,
        "word_pairs_path": ExecutionParameter(type=str, optional=True),
        "analogies_path": ExecutionParameter(type=str, optional=True),
    }
    INPUTS = evaluator_io.INPUTS
    OUTPUTS = evaluator_io.OUTPUTS


class Word2VecEvaluator(evaluator_io.TaskEvaluator):
    """Custom evaluator for word vectors (see the module docstring)."""

    SPEC_CLASS = Word2VecEvaluatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(self, examples: types.BaseChannel, model: types.BaseChannel,
                 baseline_model: Optional[types.BaseChannel] = None,
                 thresholds: Optional[Dict[str, Any]] = None, eval_split: str = "eval",
                 max_eval_tokens: Optional[int] = None,
                 word_pairs_path: Optional[str] = None,
                 analogies_path: Optional[str] = None):
        super().__init__(examples, model, baseline_model, thresholds, eval_split,
                         max_eval_tokens, word_pairs_path=word_pairs_path,
                         analogies_path=analogies_path)
