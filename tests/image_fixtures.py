"""Colour fixtures in the real on-disk formats: CIFAR-10 binary batches and PNG folders.
Classes are drawn so that a model can learn them: class k is a bright square at a
class-specific position on noise."""
import os

import numpy as np

from components import cifar_format


def colour_images(n: int, classes: int, size: int = 32, seed: int = 0):
    rng = np.random.RandomState(seed)
    labels = (np.arange(n) % classes).astype(np.uint8)
    images = rng.randint(0, 60, size=(n, size, size, 3)).astype(np.uint8)
    cell = size // 4
    for i, y in enumerate(labels):
        r, c = divmod(int(y) % 16, 4)
        images[i, r * cell:(r + 1) * cell, c * cell:(c + 1) * cell, int(y) % 3] = 240
    return images, labels


def write_cifar(folder: str, n_train: int, n_test: int) -> str:
    os.makedirs(folder, exist_ok=True)
    x, y = colour_images(n_train, 10, seed=1)
    cifar_format.write_batch(os.path.join(folder, "data_batch_1.bin"), x, y)
    x, y = colour_images(n_test, 10, seed=2)
    cifar_format.write_batch(os.path.join(folder, "test_batch.bin"), x, y)
    return folder


def write_png_folder(root: str, class_names, per_class: int, size=(20, 24), seed: int = 0):
    from PIL import Image
    x, y = colour_images(per_class * len(class_names), len(class_names), size=32, seed=seed)
    for i, (img, label) in enumerate(zip(x, y)):
        folder = os.path.join(root, class_names[label])
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(img).resize(size).save(os.path.join(folder, f"{i}.png"))
    return root
