"""Image classification: config -> preprocessing (the Transform's scaling) -> data (tf.data
over the transformed records, augmentation) -> models (one file per architecture) -> train
-> export (the SavedModel's signatures) -> run (`run_fn`)."""
