"""Feature names and corpus shapes shared by ExampleGen, Transform, Trainer and export."""
IMAGE_KEY = "image"
LABEL_KEY = "label"
