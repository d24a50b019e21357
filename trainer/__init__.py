"""The model side: what is trained, how, and how it is served.

contract.py is the data contract every layer shares (feature keys, signature names, file
names, example builders); registry.py names every model and its recipe; strategy.py and
schedules.py are shared by every task. Each task has a package of the same shape
(config, preprocessing, data, model(s), train, export, run): image/, word2vec/. serving/
holds what concerns TF Serving (its config files, warm-up records, the client).

Layering: trainer imports neither components nor pipelines, and one task's package does
not import another's.
"""
from trainer import tf_env  # noqa: F401  (must run before TensorFlow is imported)
