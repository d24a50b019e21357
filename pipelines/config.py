"""Pipeline configuration as data: every knob of a run in one typed place.

`PipelineConfig` holds what every task shares (corpus, models, workspace, runner
settings); each task's config adds its own fields and builds its Trainer's custom_config
from the trainer's own config dataclass, so the two sides cannot disagree on a key. The
same config drives the local run (LocalDagRunner) and the Kubeflow compile.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, ClassVar, Dict, List, Optional, Sequence, Tuple

from components import datasets, image_folder
from pipelines.corpora import IMAGE_CORPORA, ImageCorpus, folder_corpus
from trainer import registry
from trainer.image.config import TrainConfig
from trainer.word2vec.config import Word2VecConfig

DEFAULT_BEAM_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")


def default_workspace() -> str:
    return os.path.abspath(os.environ.get("CLASSICS_HOME", "workspace"))


@dataclasses.dataclass
class PipelineConfig:
    """What every pipeline shares. Subclasses add the task's own settings."""
    task: ClassVar[str] = ""  # the registry task a subclass runs
    corpus: str = "mnist"
    models: Sequence[str] = ()
    data_dir: Optional[str] = None  # None: the corpus's embedded default data
    workspace: str = dataclasses.field(default_factory=default_workspace)
    pipeline_name: Optional[str] = None
    epochs: Optional[int] = None  # overrides every model's default
    batch_size: Optional[int] = None
    beam_args: List[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_BEAM_ARGS))
    enable_cache: bool = True
    mixed_precision: bool = False
    # The TF Serving model repository, when it is not <workspace>/serving (e.g. the
    # object store the Pusher writes to on Kubeflow).
    serving_root_override: Optional[str] = None

    def check(self) -> None:
        """Refuses settings no run can use, before anything runs."""
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1, got {value}")

    @property
    def name(self) -> str:
        return self.pipeline_name or f"classics-{self.corpus}"

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.workspace, "pipelines", self.name)

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.workspace, "metadata", f"{self.name}.sqlite")

    @property
    def serving_root(self) -> str:
        return self.serving_root_override or os.path.join(self.workspace, "serving")

    @property
    def cache_dir(self) -> str:
        return os.path.join(self.workspace, "data")

    def serving_model_name(self, model: str) -> str:
        return f"{self.corpus}_{model}"

    def given_data_dir(self) -> Optional[str]:
        if not self.data_dir:
            return None
        path = os.path.abspath(self.data_dir)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"{path}: data folder does not exist")
        return path


@dataclasses.dataclass
class ImagePipelineConfig(PipelineConfig):
    """An image-classification run."""
    task: ClassVar[str] = registry.IMAGE
    models: Sequence[str] = ("softmax", "cnn")
    # Tolerated eval-accuracy drop against the model being replaced before a push is refused.
    max_accuracy_drop: float = 0.0
    min_accuracy: Optional[float] = None  # overrides every model's registry bar
    # Image-folder corpus only: target H, W, C; resize (else mixed sizes are an error);
    # what to do with an unreadable file ("skip" counts and logs it, "error" stops).
    image_shape: Optional[Tuple[int, int, int]] = None
    resize: bool = True
    on_bad_file: str = image_folder.SKIP

    def image_corpus(self) -> ImageCorpus:
        if self.corpus == "folder":
            return folder_corpus(self.image_shape or (32, 32, 3), resize=self.resize,
                                 on_bad_file=self.on_bad_file)
        try:
            return IMAGE_CORPORA[self.corpus]
        except KeyError:
            raise KeyError(f"unknown image corpus {self.corpus!r}; known: "
                           f"{', '.join(IMAGE_CORPORA)}") from None

    def resolve_data_dir(self) -> str:
        """The ExampleGen's input_base: the given folder, or the embedded data written once."""
        given = self.given_data_dir()
        if given:
            return given
        corpus = self.image_corpus()
        if corpus.embedded_data is None:
            raise ValueError(f"corpus {corpus.name!r} has no embedded data: pass --data DIR")
        return corpus.embedded_data(self.cache_dir)

    def min_accuracy_for(self, model: str) -> float:
        return self.min_accuracy if self.min_accuracy is not None \
            else registry.get(model).min_accuracy

    def trainer_config(self, model: str, corpus: ImageCorpus) -> Dict[str, Any]:
        """The Trainer's custom_config (trainer.image.config.TrainConfig)."""
        return dataclasses.asdict(TrainConfig(
            model=model, image_shape=list(corpus.image_shape),
            num_classes=corpus.num_classes, epochs=self.epochs, batch_size=self.batch_size,
            mixed_precision=self.mixed_precision))


@dataclasses.dataclass
class TextPipelineConfig(PipelineConfig):
    """A word2vec run: the corpus folder (default: the embedded Wikipedia excerpt), the
    vocabulary, the models and their shared hyper-parameters, and the evaluator's bars.
    Pushes to `<serving_root>/text_<model>/<version>/`."""
    task: ClassVar[str] = registry.WORD2VEC
    corpus: str = "text"
    models: Sequence[str] = ("skipgram", "cbow")
    text_format: str = "auto"  # auto | text8 | ptb | wikipedia | plaintext
    max_tokens_per_example: int = 1000
    min_count: int = 5
    max_vocab_size: Optional[int] = None
    embedding_dim: int = 100
    window: int = 5
    num_sampled: Optional[int] = None  # None: trainer.word2vec.config's default
    # neg: word2vec's negative sampling; nce | sampled_softmax: tf.nn's batch-shared
    # samplers (CBOW through "nce" scored WS353 0.01-0.13 between identical runs).
    loss: str = "neg"
    learning_rate: Optional[float] = None  # None: per-model default
    # Evaluator bars; None: the registry entry's.
    min_ws353_spearman: Optional[float] = None
    min_analogy_accuracy: Optional[float] = None
    max_heldout_loss: Optional[float] = None
    max_ws353_drop: float = 0.05
    max_analogy_drop: float = 0.02
    max_eval_tokens: Optional[int] = 200_000

    def resolve_data_dir(self) -> str:
        return self.given_data_dir() or datasets.embedded_wiki(self.cache_dir)

    def evaluator_thresholds(self, model: str) -> Dict[str, Optional[float]]:
        spec = registry.get(model)
        pick = lambda given, default: given if given is not None else default  # noqa: E731
        return {"min_ws353_spearman": pick(self.min_ws353_spearman, spec.min_ws353_spearman),
                "min_analogy_accuracy": pick(self.min_analogy_accuracy,
                                             spec.min_analogy_accuracy),
                "max_heldout_loss": self.max_heldout_loss,
                "max_ws353_drop": self.max_ws353_drop,
                "max_analogy_drop": self.max_analogy_drop}

    def trainer_config(self, model: str) -> Dict[str, Any]:
        """The Trainer's custom_config (trainer.word2vec.config.Word2VecConfig)."""
        overrides = {k: v for k, v in (("epochs", self.epochs), ("batch_size", self.batch_size),
                                       ("num_sampled", self.num_sampled),
                                       ("learning_rate", self.learning_rate)) if v is not None}
        return dataclasses.asdict(Word2VecConfig(
            **{**registry.get(model).settings, "embedding_dim": self.embedding_dim,
               "window": self.window, "loss": self.loss, **overrides}))
