"""A language-model run's settings: the text corpus, the capped vocabulary, the models
and the perplexity gate."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence

from components import datasets
from pipelines.config import PipelineConfig
from trainer.lm import config as lm_config
from trainer.lm import specs as lm_specs


@dataclasses.dataclass
class LanguageModelPipelineConfig(PipelineConfig):
    """A recurrent language-model run on a text corpus (default: the embedded Wikipedia
    excerpt): the capped vocabulary, the models, and the perplexity gate. Pushes to
    `<serving_root>/text_<model>/<version>/`."""
    task: ClassVar[str] = lm_specs.TASK
    specs: ClassVar[Mapping[str, lm_specs.LanguageModelSpec]] = lm_specs.MODELS
    corpus: str = "text"
    models: Sequence[str] = ("lstm", "gru")
    text_format: str = "auto"  # auto | text8 | ptb | wikipedia | plaintext
    max_tokens_per_example: int = 1000
    vocab_size: int = 10_000  # including <unk> and <eos> (PTB's 10,000)
    min_count: int = 1
    # Evaluator: a perplexity ceiling (None: the registry entry's) and the largest
    # relative increase over the served model's perplexity that still passes.
    max_perplexity: Optional[float] = None
    max_perplexity_increase: float = 0.02
    max_eval_tokens: Optional[int] = 100_000

    def resolve_data_dir(self) -> str:
        return self.given_data_dir() or datasets.embedded_wiki(self.cache_dir)

    def evaluator_thresholds(self, model: str) -> Dict[str, Optional[float]]:
        ceiling = self.max_perplexity if self.max_perplexity is not None \
            else self.spec(model).max_perplexity
        return {"max_perplexity": ceiling, "max_increase": self.max_perplexity_increase}

    def transform_config(self) -> Dict[str, Any]:
        """Transform's custom_config (trainer/lm/preprocessing.py)."""
        return {"max_size": self.vocab_size, "min_count": self.min_count}

    def trainer_config(self, model: str) -> Dict[str, Any]:
        """The Trainer's custom_config (trainer.lm.config.LMConfig)."""
        spec = self.spec(model)
        overrides = {k: v for k, v in (("epochs", self.epochs),
                                       ("batch_size", self.batch_size)) if v is not None}
        return dataclasses.replace(lm_config.preset(spec.preset), **spec.settings,
                                   **overrides).to_dict()
