"""Feature names and corpus shapes shared by ExampleGen, Transform, Trainer and export."""
IMAGE_KEY = "image"
LABEL_KEY = "label"
# Image-folder corpora also carry the class folder name; class ids are the index of the
# name in sorted(class names) (components/image_folder.py).
LABEL_NAME_KEY = "label_name"
# Transform vocabulary holding the class names: the pipeline artifact the served model
# uses to answer with names.
CLASS_NAMES_VOCAB = "class_names"
