"""The image corpora: how each is ingested and what the Trainer must know about it."""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Tuple

from components import (cifar_example_gen, datasets, image_folder, image_folder_example_gen,
                        mnist_example_gen, spans)


@dataclasses.dataclass(frozen=True)
class ImageCorpus:
    """An image corpus: how to ingest it and what the Trainer must know about it."""
    name: str
    image_shape: Tuple[int, int, int]
    num_classes: int
    # (input_base, span=None) -> ExampleGen component; span: the span folder to read
    # (components/spans.py), None for the newest.
    make_example_gen: Callable[..., object]
    # Name of class id i at position i, when the corpus names its classes (image folders:
    # the sorted class folder list, the same for every split). None: ids only.
    class_names: Optional[Tuple[str, ...]] = None
    embedded_data: Optional[Callable[[str], str]] = None  # cache_dir -> input_base
    # For corpora whose shape or classes depend on the data (the image folder): returns
    # the concrete corpus for an input_base. None: the corpus is the same for any data.
    resolve_for_data: Optional[Callable[[str], "ImageCorpus"]] = None

    def for_data(self, data_dir: str, span: Optional[int] = None) -> "ImageCorpus":
        """This corpus with everything that depends on `data_dir` (its span folder
        `span`, or the newest, when it has span folders) filled in (call it at pipeline
        construction, before reading num_classes)."""
        if not self.resolve_for_data:
            return self
        return self.resolve_for_data(spans.choose(data_dir, span).folder)


def folder_corpus(image_shape: Tuple[int, int, int] = (32, 32, 3), resize: bool = True,
                  on_bad_file: str = image_folder.SKIP, name: str = "folder") -> ImageCorpus:
    """An image-folder corpus (components/image_folder.py) converted to `image_shape`.

    num_classes is 0 until `for_data(data_dir)` counts the class folders; class id i is
    the i-th name of sorted(class folder names).
    """
    options = image_folder.FolderOptions.from_shape(image_shape, resize=resize,
                                                    on_bad_file=on_bad_file)

    def make_example_gen(input_base: str, span: Optional[int] = None):
        return image_folder_example_gen.create(
            input_base, image_shape=options.image_shape, resize=options.resize,
            on_bad_file=options.on_bad_file, span=span)

    def resolve(data_dir: str) -> ImageCorpus:
        names = tuple(image_folder.class_names(data_dir))
        return ImageCorpus(name=name, image_shape=options.image_shape,
                           num_classes=len(names), make_example_gen=make_example_gen,
                           class_names=names)

    return ImageCorpus(name=name, image_shape=options.image_shape, num_classes=0,
                       make_example_gen=make_example_gen, resolve_for_data=resolve)


IMAGE_CORPORA: Dict[str, ImageCorpus] = {
    "mnist": ImageCorpus(
        name="mnist", image_shape=(28, 28, 1), num_classes=10,
        make_example_gen=mnist_example_gen.create,
        embedded_data=datasets.embedded_mnist),
    "cifar10": ImageCorpus(
        name="cifar10", image_shape=(32, 32, 3), num_classes=10,
        make_example_gen=cifar_example_gen.create),
    "folder": folder_corpus(),
}
