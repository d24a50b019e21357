"""Pipeline configuration as data: every knob of a run in one typed place.

The same `PipelineConfig` drives the local run (LocalDagRunner) and the Kubeflow compile;
only the runner-specific fields (metadata path, Beam args) differ.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from components import (cifar_example_gen, datasets, image_folder, image_folder_example_gen,
                        mnist_example_gen)


@dataclasses.dataclass(frozen=True)
class ImageCorpus:
    """An image corpus: how to ingest it and what the Trainer must know about it."""
    name: str
    image_shape: Tuple[int, int, int]
    num_classes: int
    make_example_gen: Callable[[str], object]  # input_base -> ExampleGen component
    embedded_data: Optional[Callable[[str], str]] = None  # cache_dir -> input_base
    # For corpora whose shape or classes depend on the data (the image folder): returns
    # the concrete corpus for an input_base. None: the corpus is the same for any data.
    resolve_for_data: Optional[Callable[[str], "ImageCorpus"]] = None

    def for_data(self, data_dir: str) -> "ImageCorpus":
        """This corpus with everything that depends on `data_dir` filled in (call it at
        pipeline construction, before reading num_classes)."""
        return self.resolve_for_data(data_dir) if self.resolve_for_data else self


IMAGE_CORPORA: Dict[str, ImageCorpus] = {
    "mnist": ImageCorpus(
        name="mnist", image_shape=(28, 28, 1), num_classes=10,
        make_example_gen=mnist_example_gen.create,
        embedded_data=datasets.embedded_mnist),
}


def folder_corpus(image_shape: Tuple[int, int, int] = (32, 32, 3), resize: bool = True,
                  on_bad_file: str = image_folder.SKIP, name: str = "folder") -> ImageCorpus:
    """An image-folder corpus (components/image_folder.py) converted to `image_shape`.

    num_classes is 0 until `for_data(data_dir)` counts the class folders; class id i is
    the i-th name of sorted(class folder names).
    """
    options = image_folder.FolderOptions.from_shape(image_shape, resize=resize,
                                                    on_bad_file=on_bad_file)

    def make_example_gen(input_base: str):
        return image_folder_example_gen.create(
            input_base, image_shape=options.image_shape, resize=options.resize,
            on_bad_file=options.on_bad_file)

    def resolve(data_dir: str) -> ImageCorpus:
        return ImageCorpus(name=name, image_shape=options.image_shape,
                           num_classes=len(image_folder.class_names(data_dir)),
                           make_example_gen=make_example_gen)

    return ImageCorpus(name=name, image_shape=options.image_shape, num_classes=0,
                       make_example_gen=make_example_gen, resolve_for_data=resolve)


IMAGE_CORPORA["cifar10"] = ImageCorpus(
    name="cifar10", image_shape=(32, 32, 3), num_classes=10,
    make_example_gen=cifar_example_gen.create)
IMAGE_CORPORA["folder"] = folder_corpus()

DEFAULT_BEAM_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")


def default_workspace() -> str:
    return os.path.abspath(os.environ.get("CLASSICS_HOME", "workspace"))


@dataclasses.dataclass
class PipelineConfig:
    corpus: str = "mnist"
    models: Sequence[str] = ("softmax", "cnn")
    data_dir: Optional[str] = None  # None: the corpus's embedded default data
    workspace: str = dataclasses.field(default_factory=default_workspace)
    pipeline_name: Optional[str] = None
    epochs: Optional[int] = None  # overrides every model's registry default
    batch_size: Optional[int] = None
    # Tolerated eval-accuracy drop against the last blessed model before a push is refused.
    max_accuracy_drop: float = 0.0
    min_accuracy: Optional[float] = None  # overrides every model's registry threshold
    beam_args: List[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_BEAM_ARGS))
    enable_cache: bool = True
    mixed_precision: bool = False
    # Image-folder corpus only: target H, W, C; resize (else mixed sizes are an error);
    # what to do with an unreadable file ("skip" counts and logs it, "error" stops).
    image_shape: Optional[Tuple[int, int, int]] = None
    resize: bool = True
    on_bad_file: str = "skip"
    # The TF Serving model repository, when it is not <workspace>/serving (e.g. the
    # cluster volume the Pusher writes to on Kubeflow).
    serving_root_override: Optional[str] = None

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
        if self.data_dir:
            path = os.path.abspath(self.data_dir)
            if not os.path.isdir(path):
                raise FileNotFoundError(f"{path}: data folder does not exist")
            return path
        corpus = self.image_corpus()
        if corpus.embedded_data is None:
            raise ValueError(f"corpus {corpus.name!r} has no embedded data: pass --data DIR")
        return corpus.embedded_data(self.cache_dir)


# ----------------------------------------------------------------------------- text corpora
# (issue 4: the word2vec pipeline, pipelines/text_pipeline.py)

TEXT_MODELS = ("skipgram", "cbow")


@dataclasses.dataclass
class TextPipelineConfig(PipelineConfig):
    """A word2vec run: the corpus folder (default: the embedded Wikipedia excerpt), the
    vocabulary, the models and their shared hyper-parameters, and the evaluator's bars.
    Pushes to `<serving_root>/text_<model>/<version>/`."""
    corpus: str = "text"
    models: Sequence[str] = TEXT_MODELS
    text_format: str = "auto"  # auto | text8 | ptb | wikipedia | plaintext
    max_tokens_per_example: int = 1000
    min_count: int = 5
    max_vocab_size: Optional[int] = None
    embedding_dim: int = 100
    window: int = 5
    num_sampled: Optional[int] = None  # None: trainer.word2vec default
    # neg: word2vec's negative sampling (trainer.word2vec, deterministic for a seed);
    # nce | sampled_softmax: tf.nn's batch-shared samplers (CBOW through "nce" scored
    # WS353 0.01-0.13 between identical runs).
    loss: str = "neg"
    learning_rate: Optional[float] = None  # None: per-model default
    # Word2VecEvaluator thresholds (components/word2vec_evaluator.py); None = not checked.
    # WS353 bar per model; `min_ws353_spearman`, when set, overrides it for all. Measured
    # on the embedded excerpt with loss "neg": skip-gram 0.24 (analogy 0.018-0.020), CBOW
    # 0.20 at word2vec.c's CBOW learning rate 0.05 (gensim at 0.05: 0.20-0.24). A random
    # model's rho over the ~230 in-vocabulary pairs spreads about +-0.07, so the bars sit
    # well above that and well below what a healthy run reaches.
    ws353_bars: Dict[str, Optional[float]] = dataclasses.field(
        default_factory=lambda: {"skipgram": 0.15, "cbow": 0.12})
    min_ws353_spearman: Optional[float] = None
    min_analogy_accuracy: Optional[float] = 0.0
    max_heldout_loss: Optional[float] = None
    max_ws353_drop: float = 0.05
    max_analogy_drop: float = 0.02
    max_eval_tokens: Optional[int] = 200_000

    def evaluator_thresholds(self, model: str) -> Dict[str, Optional[float]]:
        ws353 = (self.min_ws353_spearman if self.min_ws353_spearman is not None
                 else self.ws353_bars.get(model))
        return {"min_ws353_spearman": ws353,
                "min_analogy_accuracy": self.min_analogy_accuracy,
                "max_heldout_loss": self.max_heldout_loss,
                "max_ws353_drop": self.max_ws353_drop,
                "max_analogy_drop": self.max_analogy_drop}

    def validate_models(self) -> None:
        unknown = [m for m in self.models if m not in TEXT_MODELS]
        if unknown or not self.models:
            raise KeyError(f"unknown text model(s) {', '.join(unknown) or '(none)'}; "
                           f"known: {', '.join(TEXT_MODELS)}")

    def resolve_data_dir(self) -> str:
        if self.data_dir:
            path = os.path.abspath(self.data_dir)
            if not os.path.isdir(path):
                raise FileNotFoundError(f"{path}: data folder does not exist")
            return path
        return datasets.embedded_wiki(self.cache_dir)
