"""The model side: what is trained, how, and how it is served.

Each task has a package of the same shape (specs.py: its registry entries; config,
preprocessing, data, model(s), train, export, run): image/ (image classification),
word2vec/ (word embeddings), lm/ (language models). Shared by every task: contract.py,
the data contract every layer shares (feature keys, signature names, file names, example
builders); registry.py, the registry base; strategy.py, schedules.py, epoch_log.py (the
one log line per epoch), example_files.py and config_dict.py. serving/ holds what
concerns TF Serving (its config files, warm-up records, the client, the model-sync
sidecar); runtime/ is where a pod starts (the KFP container entrypoint and its TFX
patches, the TFJob worker, the object store, the GPU library check).

Layering: trainer imports neither components nor pipelines, and one task's package does
not import another's.
"""
from trainer import tf_env  # noqa: F401  (must run before TensorFlow is imported)
