"""The Transform component's `preprocessing_fn` for image corpora.

Pixels arrive as int64 values 0..255 (see components/mnist_example_gen.py) and leave as
float32 in [0, 1]. The range is fixed by the uint8 encoding, so we scale by 255 rather
than by a data-dependent min/max: a dim eval image must not be stretched differently
from the training images. The Transform graph is embedded in the served model, so
serving applies exactly this function.
"""
import tensorflow as tf
import tensorflow_transform as tft

from trainer.contract import CLASS_NAMES_VOCAB, IMAGE_KEY, LABEL_KEY, LABEL_NAME_KEY


def preprocessing_fn(inputs):
    image = tf.cast(inputs[IMAGE_KEY], tf.float32) / 255.0
    # SchemaGen infers scalar features as shape [1]; the model wants a [batch] label.
    label = tf.reshape(inputs[LABEL_KEY], [-1])
    outputs = {IMAGE_KEY: image, LABEL_KEY: label}
    if LABEL_NAME_KEY in inputs:
        # Folder corpora: record the class names as a Transform asset, so the Trainer can
        # export a model that answers with names. The ids come from the ExampleGen.
        names = tf.reshape(inputs[LABEL_NAME_KEY], [-1])
        outputs[LABEL_NAME_KEY] = tft.compute_and_apply_vocabulary(
            names, vocab_filename=CLASS_NAMES_VOCAB)
    return outputs
