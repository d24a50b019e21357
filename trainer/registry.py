"""The model registry: one entry per model, naming its task, builder and training recipe.

Every model of every task is an entry of `MODELS`; its `task` says which pipeline runs it
(pipelines/tasks.py). Adding an image model = one file in `trainer/image/models/` with
`build(input_shape, num_classes)` returning a Keras model that outputs logits, plus one
`ImageModelSpec` entry below. The pipeline factories, Trainers, Evaluator thresholds and
Pusher all read from here; user-given model names are checked here once (`resolve`).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, ClassVar, Dict, List, Optional, Sequence, Union

import tensorflow as tf

from trainer.image.models import highway, inception, lenet, nin, resnet, softmax


IMAGE = "image"
WORD2VEC = "word2vec"
LANGUAGE_MODEL = "lm"


@dataclasses.dataclass(frozen=True)
class ImageModelSpec:
    """An image classifier and its training recipe."""
    task: ClassVar[str] = IMAGE
    name: str
    build: Callable[..., tf.keras.Model]
    description: str
    epochs: int
    batch_size: int
    optimizer: str  # "sgd" | "adam" | "momentum"
    learning_rate: float
    # Evaluator gate: minimum eval accuracy to bless (on the embedded 5,000-digit data
    # these are the "done" figures; full-data runs can raise them by config).
    min_accuracy: float
    weight_decay: float = 0.0
    # Optional recipe fields (defaults = the behaviour of the entries above them):
    # lr_schedule: a `trainer.schedules.make_schedule` name ("constant" | "piecewise" |
    # "cosine") applied to `learning_rate` over the run's steps_per_epoch * epochs.
    lr_schedule: str = "constant"
    # augment: random pad-4 crop + horizontal flip (`trainer.image.augment`) on TRAINING batches
    # of colour corpora (C == 3) only; digits are never mirrored.
    augment: bool = False
    # On Kubeflow: train on this many TFJob workers (MultiWorkerMirroredStrategy; 1 = the
    # Trainer's own pod) with this many GPUs each (None: the compile's --gpus). Local runs
    # train in one process whatever these say.
    workers: int = 1
    gpus_per_worker: Optional[int] = None

    def make_optimizer(
        self,
        learning_rate: Optional[Union[float, tf.keras.optimizers.schedules.LearningRateSchedule]]
        = None,
    ) -> tf.keras.optimizers.Optimizer:
        """The entry's optimizer; `learning_rate` (e.g. a schedule from
        `trainer.schedules.make_schedule`) replaces the constant `self.learning_rate`."""
        lr = self.learning_rate if learning_rate is None else learning_rate
        if self.optimizer == "sgd":
            return tf.keras.optimizers.SGD(lr)
        if self.optimizer == "momentum":
            return tf.keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)
        if self.optimizer == "adam":
            return tf.keras.optimizers.Adam(lr)
        raise ValueError(f"model {self.name}: unknown optimizer {self.optimizer!r}")


MODELS: Dict[str, Any] = {
    "softmax": ImageModelSpec(
        name="softmax", build=softmax.build,
        description="softmax regression: logits = Wx + b",
        epochs=10, batch_size=100, optimizer="sgd", learning_rate=0.5, min_accuracy=0.85),
    "cnn": ImageModelSpec(
        name="cnn", build=lenet.build,
        description="two-conv CNN: 5x5x32, pool, 5x5x64, pool, fc1024, dropout",
        # Cosine decay settles the small-data noise (constant 1e-3 swings 96-97.6%).
        epochs=12, batch_size=50, optimizer="adam", learning_rate=2e-3, min_accuracy=0.97,
        lr_schedule="cosine"),
    # Gates are for quick CPU runs on the embedded 5,000 digits; the
    # description names the published full-data figure each architecture is built to reach.
    "nin": ImageModelSpec(
        name="nin", build=nin.build,
        description="Network in Network: 3 mlpconv blocks (conv + two 1x1 convs, BN), "
                    "global average pooling, no dense layer; targets 10.41% CIFAR-10 error "
                    "(8.81% augmented) and 0.47% MNIST error (Lin et al. 2013)",
        # Adam: momentum SGD needs far more than a quick run's ~90 steps to get going.
        epochs=3, batch_size=128, optimizer="adam", learning_rate=1e-3,
        min_accuracy=0.9, lr_schedule="cosine", augment=True),
    "inception": ImageModelSpec(
        name="inception", build=inception.build,
        description="Inception-v3-style: conv stem, 3 groups of 4-branch modules with "
                    "factorised 1xn/nx1 convs, grid reductions, BN, global average pool; the "
                    "ImageNet design (21.2% top-1 error, Szegedy et al. 2015) sized for 28-32 px",
        epochs=4, batch_size=128, optimizer="adam", learning_rate=1e-3,
        min_accuracy=0.9, lr_schedule="cosine", augment=True),
    # ResNets: He et al.'s CIFAR recipe (momentum SGD from 0.1, /10 at 50% and 75%, weight
    # decay 1e-4, pad-4 crop + flip). The weight decay is applied by the builder as L2 on
    # the kernels, so it is bound into `build` here and must not be added to the optimizer.
    "resnet20": ImageModelSpec(
        name="resnet20", build=functools.partial(resnet.resnet20, weight_decay=1e-4),
        description="ResNet-20 (v1, basic units, 16/32/64 filters, projection shortcuts, BN, "
                    "He init): 0.27M parameters, targets 8.75% CIFAR-10 error "
                    "(He et al. 2015, Table 6)",
        epochs=4, batch_size=128, optimizer="momentum", learning_rate=0.1,
        min_accuracy=0.9, weight_decay=1e-4, lr_schedule="piecewise", augment=True),
    "resnet32": ImageModelSpec(
        name="resnet32", build=functools.partial(resnet.resnet32, weight_decay=1e-4),
        description="ResNet-32 (v1, basic units, 16/32/64 filters, projection shortcuts, BN, "
                    "He init): 0.46M parameters, targets 7.51% CIFAR-10 error "
                    "(He et al. 2015, Table 6)",
        epochs=4, batch_size=128, optimizer="momentum", learning_rate=0.1,
        min_accuracy=0.9, weight_decay=1e-4, lr_schedule="piecewise", augment=True),
    "resnet56": ImageModelSpec(
        name="resnet56", build=functools.partial(resnet.resnet56, weight_decay=1e-4),
        description="ResNet-56 (v1, basic units, 16/32/64 filters, projection shortcuts, BN, "
                    "He init): 0.85M parameters, targets 6.97% CIFAR-10 error "
                    "(He et al. 2015, Table 6)",
        # 0.05, not 0.1: without the paper's long run (or warm-up), 0.1 from step 0 diverges.
        epochs=3, batch_size=128, optimizer="momentum", learning_rate=0.05,
        min_accuracy=0.9, weight_decay=1e-4, lr_schedule="piecewise", augment=True),
    "highway": ImageModelSpec(
        name="highway", build=highway.build,
        description="Highway network: 20 dense highway layers of 50 units, "
                    "y = H(x)T(x) + x(1 - T(x)), gate bias -2; deep highway stacks train "
                    "where plain ones stall (Srivastava, Greff & Schmidhuber 2015, whose "
                    "conv highway nets reach 99.43-99.55% on MNIST)",
        epochs=15, batch_size=100, optimizer="adam", learning_rate=2e-3,
        min_accuracy=0.9, lr_schedule="cosine"),
}



@dataclasses.dataclass(frozen=True)
class Word2VecSpec:
    """A word2vec model: trainer.word2vec.config.Word2VecConfig settings and its gate."""
    task: ClassVar[str] = WORD2VEC
    name: str
    description: str
    # Word2VecConfig fields this model sets beyond the config's defaults.
    settings: Dict[str, Any]
    # Evaluator bars. Measured on the embedded excerpt with loss "neg": skip-gram WS353
    # 0.24 (analogy 0.016-0.020), CBOW 0.20 at word2vec.c's CBOW learning rate 0.05
    # (gensim at 0.05: 0.20-0.24). A random model's rho over the ~230 in-vocabulary pairs
    # spreads about +-0.07, so the bars sit well above that and below a healthy run.
    min_ws353_spearman: float
    min_analogy_accuracy: float
    # On Kubeflow: train on this many TFJob workers (MultiWorkerMirroredStrategy; 1 = the
    # Trainer's own pod) with this many GPUs each (None: the compile's --gpus). Local runs
    # train in one process whatever these say.
    workers: int = 1
    gpus_per_worker: Optional[int] = None


MODELS.update({
    "skipgram": Word2VecSpec(
        name="skipgram", settings={"model": "skipgram"},
        description="word2vec skip-gram: each word predicts its window's words "
                    "(Mikolov et al. 2013), negative sampling",
        min_ws353_spearman=0.15, min_analogy_accuracy=0.005),
    "cbow": Word2VecSpec(
        name="cbow", settings={"model": "cbow"},
        description="word2vec CBOW: the window's mean vector predicts the middle word "
                    "(Mikolov et al. 2013), negative sampling",
        min_ws353_spearman=0.12, min_analogy_accuracy=0.005),
})


@dataclasses.dataclass(frozen=True)
class LanguageModelSpec:
    """A recurrent language model: an LMConfig preset (trainer/lm/config.py), the fields
    this entry changes, and its perplexity ceiling."""
    task: ClassVar[str] = LANGUAGE_MODEL
    name: str
    description: str
    preset: str
    settings: Dict[str, Any]
    # Evaluator ceiling on eval perplexity. The CPU-sized entries' bar: on the embedded
    # Wikipedia excerpt (10,000-word vocabulary, 4 epochs) the pipeline measured LSTM
    # 206.5 and GRU 197.8; on bench/lm_bench.py's split a unigram model scores 572 and a
    # Kneser-Ney 3-gram 278, so 300 refuses a model that learnt little beyond word
    # frequencies. The published configurations' bars sit above the published PTB
    # figures they are meant to match.
    max_perplexity: float
    published_test_perplexity: Optional[float] = None  # PTB, Zaremba et al. 2014
    # On Kubeflow: train on this many TFJob workers (MultiWorkerMirroredStrategy; 1 = the
    # Trainer's own pod) with this many GPUs each (None: the compile's --gpus). Local runs
    # train in one process whatever these say.
    workers: int = 1
    gpus_per_worker: Optional[int] = None


def _published(cell: str, size: str, published: Optional[float], bar: float):
    what = {"small": "2x200", "medium": "2x650, dropout 0.5", "large": "2x1500, dropout 0.65"}
    return LanguageModelSpec(
        name=f"{cell}_{size}", preset=size, settings={"cell": cell},
        description=f"{cell.upper()} language model, Zaremba et al. 2014's {size} "
                    f"configuration ({what[size]}, truncated BPTT, SGD 1.0 with decay)"
                    + (f"; PTB test perplexity {published}" if published else ""),
        max_perplexity=bar, published_test_perplexity=published)


MODELS.update({
    "lstm": LanguageModelSpec(
        name="lstm", preset="tiny", settings={"cell": "lstm"},
        description="LSTM language model, 1x128, carried state (truncated BPTT), Adam; "
                    "CPU-sized",
        max_perplexity=300.0),
    "gru": LanguageModelSpec(
        name="gru", preset="tiny", settings={"cell": "gru"},
        description="GRU language model, 1x128, carried state (truncated BPTT), Adam; "
                    "CPU-sized",
        max_perplexity=300.0),
    "lstm_small": _published("lstm", "small", 115.9, 130.0),
    "lstm_medium": _published("lstm", "medium", 82.1, 95.0),
    "lstm_large": _published("lstm", "large", 78.3, 90.0),
    # No published GRU figures for these configurations: the LSTM's bars apply.
    "gru_small": _published("gru", "small", None, 130.0),
    "gru_medium": _published("gru", "medium", None, 95.0),
    "gru_large": _published("gru", "large", None, 90.0),
})


def get(name: str):
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


def names(task: Optional[str] = None) -> List[str]:
    """Model names, all or of one task, in registry order."""
    return [n for n, spec in MODELS.items() if task is None or spec.task == task]


def resolve(model_names: Sequence[str], tasks: Optional[Sequence[str]] = None) -> List:
    """Checks a user's model list (e.g. from --models) in one go, keeping its order: every
    name known, at least one, all of one task (and one of `tasks` when given)."""
    allowed = names() if tasks is None else [n for t in tasks for n in names(t)]
    unknown = [n for n in model_names if n not in allowed]
    if unknown or not model_names:
        raise KeyError(f"unknown model(s) {', '.join(unknown) or '(none given)'}; "
                       f"known: {', '.join(allowed)}")
    specs = [MODELS[n] for n in model_names]
    found = sorted({s.task for s in specs})
    if len(found) > 1:
        raise KeyError(f"models {', '.join(model_names)} belong to different tasks "
                       f"({', '.join(found)}); run each task separately")
    return specs
