"""The word2vec models' registry entries: their Word2VecConfig settings and gates."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, Tuple

from trainer.registry import TEXT_DRIFT_CHECKS, DriftCheck, ModelSpec

TASK = "word2vec"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Word2VecSpec(ModelSpec):
    """A word2vec model: trainer.word2vec.config.Word2VecConfig settings and its gate."""
    task: ClassVar[str] = TASK
    drift_checks: Tuple[DriftCheck, ...] = TEXT_DRIFT_CHECKS
    # Word2VecConfig fields this model sets beyond the config's defaults.
    settings: Dict[str, Any]
    # Evaluator bars. Measured on the embedded excerpt with loss "neg": skip-gram WS353
    # 0.24 (analogy 0.016-0.020), CBOW 0.20 at word2vec.c's CBOW learning rate 0.05
    # (gensim at 0.05: 0.20-0.24). A random model's rho over the ~230 in-vocabulary pairs
    # spreads about +-0.07, so the bars sit well above that and below a healthy run.
    min_ws353_spearman: float
    min_analogy_accuracy: float


MODELS: Dict[str, Word2VecSpec] = {spec.name: spec for spec in (
    Word2VecSpec(
        name="skipgram", settings={"model": "skipgram"},
        description="word2vec skip-gram: each word predicts its window's words "
                    "(Mikolov et al. 2013), negative sampling",
        min_ws353_spearman=0.15, min_analogy_accuracy=0.005),
    Word2VecSpec(
        name="cbow", settings={"model": "cbow"},
        description="word2vec CBOW: the window's mean vector predicts the middle word "
                    "(Mikolov et al. 2013), negative sampling",
        min_ws353_spearman=0.12, min_analogy_accuracy=0.005),
)}
