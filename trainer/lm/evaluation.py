"""Perplexity over a whole split, model evaluation on windows, and the blessing decision.

Perplexity of a split = exp(total cross-entropy / total tokens): the per-token negative
log-likelihoods (natural log) are summed over every window of the split and divided by
the number of scored tokens once, at the end. A mean of per-batch perplexities is a
different number (exp is convex, and batches may hold different token counts), so it is
never computed here.

`evaluate` scores a dataset of (inputs, targets) windows with:
- a Keras model from trainer.lm.model.build (stateful: its layers carry the state from
  window to window; state-input form: the state is passed along explicitly; stateless:
  every window starts from zero);
- the exported SavedModel (trainer/lm/export.py), through its `score_windows` function,
  with the state passed along explicitly.
With `carry_state=False` every window starts from a zero state instead.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, List, Optional, Tuple

import numpy as np
import tensorflow as tf


def perplexity(total_nll: float, tokens: int) -> float:
    """exp(total natural-log loss / tokens); inf when the mean loss overflows."""
    if tokens <= 0:
        raise ValueError("perplexity of zero tokens is undefined")
    mean = float(total_nll) / int(tokens)
    return math.exp(mean) if mean < 700 else math.inf


def token_nll(logits, targets) -> tf.Tensor:
    """Per-token negative log-likelihood [..., T] (natural log) of targets under logits."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(targets, tf.int32), logits=tf.cast(logits, tf.float32))


class PerplexityMeter:
    """Sums of per-token loss and token counts over a split, in float64."""

    def __init__(self):
        self.total_nll = 0.0
        self.tokens = 0

    def add(self, nll_sum: float, tokens: int) -> None:
        self.total_nll += float(nll_sum)
        self.tokens += int(tokens)

    def add_logits(self, logits, targets, weights=None) -> None:
        """Adds one batch; `weights` (0/1, same shape as targets) masks padding."""
        nll = tf.cast(token_nll(logits, targets), tf.float64)
        if weights is None:
            self.add(tf.reduce_sum(nll).numpy(), int(np.prod(nll.shape)))
        else:
            w = tf.cast(weights, tf.float64)
            self.add(tf.reduce_sum(nll * w).numpy(), int(round(float(tf.reduce_sum(w)))))

    def result(self) -> float:
        return perplexity(self.total_nll, self.tokens)


@dataclasses.dataclass
class EvalResult:
    perplexity: float
    total_nll: float
    tokens: int
    windows: int

    @property
    def cross_entropy(self) -> float:
        """Mean loss per token in nats."""
        return self.total_nll / self.tokens


def _stateful_layers(model: tf.keras.Model) -> bool:
    return any(getattr(l, "stateful", False) for l in model.layers)


def _scorer(model: Any):
    """(fn(inputs, targets, state) -> (nll [B, T], state), zero_state(batch) or None,
    kind) for the kinds of model `evaluate` accepts."""
    if isinstance(model, tf.keras.Model):
        if len(model.inputs) == 2:  # explicit state: [ids, state] -> [logits, state]
            slots, hidden = model.inputs[1].shape[1], model.inputs[1].shape[2]

            @tf.function(autograph=False)
            def fn(x, y, state):
                logits, new_state = model([x, state], training=False)
                return token_nll(logits, y), new_state
            return fn, lambda b: tf.zeros([b, slots, hidden]), "state_input"

        @tf.function(autograph=False)
        def plain(x, y, state):
            return token_nll(model(x, training=False), y), state
        return plain, None, "stateful" if _stateful_layers(model) else "stateless"
    if hasattr(model, "score_windows") and hasattr(model, "initial_state"):
        def exported(x, y, state):
            out = model.score_windows(tf.cast(x, tf.int64), tf.cast(y, tf.int64), state)
            return -out["log_probs"], out["state"]
        return exported, lambda b: model.initial_state(tf.constant(b, tf.int32)), "exported"
    raise TypeError(f"cannot evaluate a {type(model).__name__}: expected a Keras model "
                    f"from trainer.lm.model.build or a loaded LM SavedModel")


def evaluate(model: Any, windows: tf.data.Dataset, carry_state: Optional[bool] = None,
             max_windows: Optional[int] = None) -> EvalResult:
    """Perplexity of `model` over a dataset of (inputs, targets) windows in stream order.

    carry_state: True carries the state from each window into the next (the state is
    reset once, before the first window); False starts every window from zero; None
    carries whenever the model can (everything but a stateless Keras model)."""
    fn, zero_state, kind = _scorer(model)
    can_carry = kind != "stateless"
    if carry_state is None:
        carry_state = can_carry
    if carry_state and not can_carry:
        raise ValueError("this model cannot carry a state: build it stateful or with "
                         "with_state=True")
    if kind == "stateful":
        model.reset_states()
    meter = PerplexityMeter()
    state, no_state = None, tf.zeros([0])
    count = 0
    for x, y in windows:
        if max_windows is not None and count >= max_windows:
            break
        if kind == "stateful":
            if count and not carry_state:
                model.reset_states()
            nll, _ = fn(x, y, no_state)
        elif zero_state is not None:
            batch = int(x.shape[0])
            if state is None or not carry_state or int(state.shape[0]) != batch:
                state = zero_state(batch)
            nll, state = fn(x, y, state)
        else:
            nll, _ = fn(x, y, no_state)
        nll = tf.cast(nll, tf.float64)
        meter.add(tf.reduce_sum(nll).numpy(), int(np.prod(nll.shape)))
        count += 1
    if meter.tokens == 0:
        raise ValueError("evaluate: the dataset holds no window")
    return EvalResult(meter.result(), meter.total_nll, meter.tokens, count)


def decide(candidate_ppl: float, baseline_ppl: Optional[float],
           max_perplexity: Optional[float], max_increase: Optional[float]
           ) -> Tuple[bool, List[str]]:
    """Whether a candidate model is blessed, and one reason per check made.

    - The candidate's perplexity must be a finite number (NaN/inf: a diverged model).
    - Absolute ceiling: candidate <= max_perplexity (None: no ceiling).
    - Baseline: candidate <= baseline * (1 + max_increase). `max_increase` is relative
      (0.02 allows 2% higher perplexity), because perplexity is multiplicative: the same
      bound is an absolute allowance of log(1 + max_increase) nats of cross-entropy per
      token. 0 means "no worse than the baseline". Skipped when there is no baseline
      (None), when max_increase is None, or when the baseline's own perplexity is not a
      finite number (said in the reasons).
    """
    reasons: List[str] = []
    blessed = True
    try:
        cand = float(candidate_ppl)
    except (TypeError, ValueError):
        return False, [f"refused: candidate perplexity {candidate_ppl!r} is not a number"]
    if not math.isfinite(cand) or cand < 1.0:
        return False, [f"refused: candidate perplexity {cand} is not a finite number >= 1"]
    if max_perplexity is not None:
        if cand > max_perplexity:
            blessed = False
            reasons.append(f"refused: perplexity {cand:.4g} is above the ceiling "
                           f"{max_perplexity:.4g}")
        else:
            reasons.append(f"ok: perplexity {cand:.4g} is within the ceiling "
                           f"{max_perplexity:.4g}")
    if max_increase is not None and max_increase < 0:
        raise ValueError(f"max_increase must be >= 0, got {max_increase}")
    if baseline_ppl is None:
        reasons.append("ok: no baseline to compare with")
    elif max_increase is None:
        reasons.append("ok: no baseline comparison configured (max_increase is None)")
    elif not math.isfinite(float(baseline_ppl)):
        reasons.append(f"ok: baseline perplexity {baseline_ppl} is not finite; "
                       f"comparison skipped")
    else:
        bound = float(baseline_ppl) * (1.0 + max_increase)
        if cand > bound:
            blessed = False
            reasons.append(f"refused: perplexity {cand:.4g} is worse than the baseline "
                           f"{float(baseline_ppl):.4g} by more than {max_increase:.2%} "
                           f"(bound {bound:.4g})")
        else:
            reasons.append(f"ok: perplexity {cand:.4g} is within {max_increase:.2%} of "
                           f"the baseline {float(baseline_ppl):.4g}")
    return blessed, reasons


__all__ = ["perplexity", "token_nll", "PerplexityMeter", "EvalResult", "evaluate",
           "decide"]
