"""An image-classification run's settings: the corpus, the models and their gate."""
from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence, Tuple

from components import image_folder
from pipelines.config import PipelineConfig
from pipelines.image.corpora import IMAGE_CORPORA, ImageCorpus, folder_corpus
from trainer.image import specs as image_specs
from trainer.image.config import TrainConfig


@dataclasses.dataclass
class ImagePipelineConfig(PipelineConfig):
    """An image-classification run."""
    task: ClassVar[str] = image_specs.TASK
    specs: ClassVar[Mapping[str, image_specs.ImageModelSpec]] = image_specs.MODELS
    warm_starts: ClassVar[bool] = True  # trainer/image/train.py reads the base model
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
            else self.spec(model).min_accuracy

    def trainer_config(self, model: str, corpus: ImageCorpus) -> Dict[str, Any]:
        """The Trainer's custom_config (trainer.image.config.TrainConfig)."""
        return dataclasses.asdict(TrainConfig(
            model=model, image_shape=list(corpus.image_shape),
            num_classes=corpus.num_classes, epochs=self.epochs, batch_size=self.batch_size,
            mixed_precision=self.mixed_precision,
            class_names=list(corpus.class_names) if corpus.class_names else None))
