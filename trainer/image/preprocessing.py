"""The Transform component's `preprocessing_fn` for image corpora.

Pixels arrive as int64 values 0..255 (see components/mnist_example_gen.py) and leave as
float32 in [0, 1]. The range is fixed by the uint8 encoding, so we scale by 255 rather
than by a data-dependent min/max: a dim eval image must not be stretched differently
from the training images. The Transform graph is embedded in the served model, so
serving applies exactly this function.
"""
import tensorflow as tf

from trainer.contract import IMAGE_KEY, LABEL_KEY


def preprocessing_fn(inputs):
    # Folder corpora's `label_name` is not used: a vocabulary analysed on the train split
    # would miss a class whose images all landed in eval. The Trainer gets the class
    # names from the folder list instead (trainer.image.config.TrainConfig.class_names).
    image = tf.cast(inputs[IMAGE_KEY], tf.float32) / 255.0
    # SchemaGen infers scalar features as shape [1]; the model wants a [batch] label.
    label = tf.reshape(inputs[LABEL_KEY], [-1])
    return {IMAGE_KEY: image, LABEL_KEY: label}
