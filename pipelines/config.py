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

from components import datasets, filesystem, image_folder, shard_writer
from pipelines.corpora import IMAGE_CORPORA, ImageCorpus, folder_corpus
from trainer import registry
from trainer.image.config import TrainConfig
from trainer.lm import config as lm_config
from trainer.word2vec.config import Word2VecConfig

# Local Beam (the DirectRunner): one in-process worker, or one worker process per core.
IN_MEMORY_BEAM_ARGS = ("--direct_running_mode=in_memory", "--direct_num_workers=1")
MULTI_PROCESSING_BEAM_ARGS = ("--direct_running_mode=multi_processing",
                              "--direct_num_workers=0")
MULTI_THREADING_BEAM_ARGS = ("--direct_running_mode=multi_threading", "--direct_num_workers=0")
BEAM_MODES = {"in_memory": IN_MEMORY_BEAM_ARGS, "multi_processing": MULTI_PROCESSING_BEAM_ARGS,
              "multi_threading": MULTI_THREADING_BEAM_ARGS}
# What a local run's Beam components get when nothing chose a mode. in_memory even for
# full-size corpora: on 2 cores, with Transform's own statistics on in both, multi_processing
# ran half of CIFAR-10's data half and an epoch no faster (162 vs 166 s) with 1.3x the CPU
# seconds and 3.8 instead of 2.4 GB peak, and the full set 18% faster but at 5.4 GB: its
# worker processes each import TensorFlow and TFX, and every record crosses to them and
# back (README "Scale"). `classics run --beam-mode multi_processing` chooses it.
DEFAULT_BEAM_ARGS = IN_MEMORY_BEAM_ARGS
# ...except the ExampleGens that write their own shards (components/shard_writer.py: MNIST,
# CIFAR-10): building their records (encode_proto) and TensorFlow's gzip record writer
# release the GIL, so one thread per core runs them in parallel without worker processes
# (make bench-ingest on 2 cores: 1.7-1.8x the single-process reader; multi_processing 1.0x).
SHARD_WRITER_BEAM_ARGS = MULTI_THREADING_BEAM_ARGS


def chooses_beam_mode(beam_args: Sequence[str]) -> bool:
    """Whether `beam_args` pick a runner or a DirectRunner mode themselves."""
    return any(a.startswith(("--runner", "--direct_running_mode", "--direct_num_workers"))
               for a in beam_args)


def local_beam_args(config: "PipelineConfig") -> List[str]:
    """The Beam args a local run of `config` uses: `config.beam_args`, plus
    DEFAULT_BEAM_ARGS when they pick no runner and no DirectRunner mode."""
    args = list(config.beam_args)
    if chooses_beam_mode(args):
        return args
    return args + list(DEFAULT_BEAM_ARGS)


def local_component_beam_args(config: "PipelineConfig", executor_class: type) -> List[str]:
    """The Beam args one component of a local run adds to `local_beam_args` (they come
    after them, so they win): SHARD_WRITER_BEAM_ARGS for the shard-writing ExampleGens
    when `config.beam_args` chose no mode, else none."""
    if chooses_beam_mode(config.beam_args) or not issubclass(
            executor_class, shard_writer.ShardWritingExecutor):
        return []
    return list(SHARD_WRITER_BEAM_ARGS)


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
    # Extra Beam args; a local run adds a DirectRunner mode unless these name one
    # (local_beam_args). Kubeflow compiles set the cluster's.
    beam_args: List[str] = dataclasses.field(default_factory=list)
    enable_cache: bool = True
    # Transform's own pre- and post-transform statistics (TFX's default); off: the raw
    # data's come from StatisticsGen (pipelines/nodes.py data_components says why).
    transform_statistics: bool = False
    mixed_precision: bool = False
    # The TF Serving model repository, when it is not <workspace>/serving (e.g. the
    # object store the Pusher writes to on Kubeflow).
    serving_root_override: Optional[str] = None
    # The pipeline root, when it is not <workspace>/pipelines/<name> (on Kubeflow: the
    # object-store URI the run's artifacts go under).
    pipeline_root_override: Optional[str] = None
    # Compiled pipelines: TFJob workers per Trainer and GPUs per worker, for every model
    # (None: each registry entry's `workers` / `gpus_per_worker`).
    workers: Optional[int] = None
    gpus_per_worker: Optional[int] = None

    def check(self) -> None:
        """Refuses settings no run can use, before anything runs."""
        for name in ("epochs", "batch_size", "workers"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name.replace('_', ' ')} must be at least 1, got {value}")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise ValueError(f"GPUs per worker must be 0 or more, got {self.gpus_per_worker}")

    def distribution(self, model: str) -> Tuple[int, Optional[int]]:
        """(TFJob workers, GPUs per worker or None for the compile's default) of a model's
        Trainer on Kubeflow: the config's values, else the registry entry's."""
        spec = registry.get(model)
        workers = self.workers if self.workers is not None else getattr(spec, "workers", 1)
        gpus = self.gpus_per_worker if self.gpus_per_worker is not None \
            else getattr(spec, "gpus_per_worker", None)
        return workers, gpus

    @property
    def name(self) -> str:
        return self.pipeline_name or f"classics-{self.corpus}"

    @property
    def pipeline_root(self) -> str:
        return self.pipeline_root_override or os.path.join(self.workspace, "pipelines",
                                                           self.name)

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
        """The --data folder: a local path (made absolute) or a gs:// / s3:// URI, checked
        to exist through the readers' own filesystem layer."""
        if not self.data_dir:
            return None
        if filesystem.is_local(self.data_dir):
            path = os.path.abspath(self.data_dir)
        else:
            path = self.data_dir.rstrip("/")
        if not filesystem.isdir(path):
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
            mixed_precision=self.mixed_precision,
            class_names=list(corpus.class_names) if corpus.class_names else None))


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
        spec = registry.get(model)
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
            **{**registry.get(model).settings, "embedding_dim": self.embedding_dim,
               "window": self.window, "loss": self.loss, "kernel": self.word2vec_kernel,
               **overrides}))


@dataclasses.dataclass
class LanguageModelPipelineConfig(PipelineConfig):
    """A recurrent language-model run on a text corpus (default: the embedded Wikipedia
    excerpt): the capped vocabulary, the models, and the perplexity gate. Pushes to
    `<serving_root>/text_<model>/<version>/`."""
    task: ClassVar[str] = registry.LANGUAGE_MODEL
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
            else registry.get(model).max_perplexity
        return {"max_perplexity": ceiling, "max_increase": self.max_perplexity_increase}

    def transform_config(self) -> Dict[str, Any]:
        return {"max_size": self.vocab_size, "min_count": self.min_count}

    def trainer_config(self, model: str) -> Dict[str, Any]:
        """The Trainer's custom_config (trainer.lm.config.LMConfig)."""
        spec = registry.get(model)
        overrides = {k: v for k, v in (("epochs", self.epochs),
                                       ("batch_size", self.batch_size)) if v is not None}
        return dataclasses.replace(lm_config.preset(spec.preset), **spec.settings,
                                   **overrides).to_dict()
