"""A word2vec run's settings: the text corpus, the vocabulary, the models' shared
hyper-parameters and the evaluator's bars."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence

from components import datasets
from pipelines.config import PipelineConfig
from trainer.word2vec import specs as word2vec_specs
from trainer.word2vec.config import Word2VecConfig


@dataclasses.dataclass
class Word2VecPipelineConfig(PipelineConfig):
    """A word2vec run: the corpus folder (default: the embedded Wikipedia excerpt), the
    vocabulary, the models and their shared hyper-parameters, and the evaluator's bars.
    Pushes to `<serving_root>/text_<model>/<version>/`."""
    task: ClassVar[str] = word2vec_specs.TASK
    specs: ClassVar[Mapping[str, word2vec_specs.Word2VecSpec]] = word2vec_specs.MODELS
    corpus: str = "text"
    models: Sequence[str] = ("skipgram", "cbow")
    text_format: str = "auto"  # auto | text8 | ptb | wikipedia | plaintext
    max_tokens_per_example: int = 1000
    min_count: int = 5
    vocab_size: Optional[int] = None  # None: every word seen min_count times
    embedding_dim: int = 100
    window: int = 5
    num_sampled: Optional[int] = None  # None: trainer.word2vec.config's default
    # neg: word2vec's negative sampling; nce | sampled_softmax: tf.nn's batch-shared
    # samplers (CBOW through "nce" scored WS353 0.01-0.13 between identical runs).
    loss: str = "neg"
    learning_rate: Optional[float] = None  # None: per-model default
    # "tape" (default): TensorFlow ops under any distribution strategy, reproducible for a
    # seed. "fused": word2vec.c's loop compiled, one thread per core on one machine (about
    # 0.7x gensim's time against the tape's 1.5x, bench/word2vec_bench.py); loss "neg" only.
    word2vec_kernel: str = "tape"
    # Evaluator bars; None: the registry entry's.
    min_ws353_spearman: Optional[float] = None
    min_analogy_accuracy: Optional[float] = None
    max_heldout_loss: Optional[float] = None
    max_ws353_drop: float = 0.05
    max_analogy_drop: float = 0.02
    # Largest held-out loss increase over the served model's, as a fraction. Measured on
    # the embedded text (default "neg" loss): 2.513-2.517 skip-gram, 2.498-2.503 CBOW over
    # seeds 1-3 (0.2% apart); an untrained model 4.159 (6 ln 2).
    max_heldout_loss_increase: float = 0.05
    max_eval_tokens: Optional[int] = 200_000

    def resolve_data_dir(self) -> str:
        return self.given_data_dir() or datasets.embedded_wiki(self.cache_dir)

    def check(self) -> None:
        super().check()
        for model in self.models:
            self.trainer_config(model)  # builds a Word2VecConfig: the Trainer's own refusals
            workers, _ = self.distribution(model)
            if self.word2vec_kernel == "fused" and workers > 1:
                raise ValueError(
                    f"model {model}: word2vec kernel 'fused' trains on one machine, but the "
                    f"model is set to train on {workers} TFJob workers; use kernel 'tape' "
                    "or one worker")

    def evaluator_thresholds(self, model: str) -> Dict[str, Optional[float]]:
        spec = self.spec(model)
        pick = lambda given, default: given if given is not None else default  # noqa: E731
        return {"min_ws353_spearman": pick(self.min_ws353_spearman, spec.min_ws353_spearman),
                "min_analogy_accuracy": pick(self.min_analogy_accuracy,
                                             spec.min_analogy_accuracy),
                "max_heldout_loss": self.max_heldout_loss,
                "max_ws353_drop": self.max_ws353_drop,
                "max_analogy_drop": self.max_analogy_drop,
                "max_heldout_loss_increase": self.max_heldout_loss_increase}

    def trainer_config(self, model: str) -> Dict[str, Any]:
        """The Trainer's custom_config (trainer.word2vec.config.Word2VecConfig)."""
        overrides = {k: v for k, v in (("epochs", self.epochs), ("batch_size", self.batch_size),
                                       ("num_sampled", self.num_sampled),
                                       ("learning_rate", self.learning_rate)) if v is not None}
        return dataclasses.asdict(Word2VecConfig(
            **{**self.spec(model).settings, "embedding_dim": self.embedding_dim,
               "window": self.window, "loss": self.loss, "kernel": self.word2vec_kernel,
               **overrides}))

    def transform_config(self) -> Dict[str, Any]:
        """Transform's custom_config (trainer/word2vec/preprocessing.py)."""
        return {"min_count": self.min_count, "max_size": self.vocab_size}
