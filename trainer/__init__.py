"""The model side: what is trained, how, and how it is served.

contract.py is the data contract every layer shares (feature keys, signature names, file
names, example builders); registry.py names every model and its recipe; strategy.py,
schedules.py and epoch_log.py (the one log line per epoch) are shared by every task.
Each task has a package of the same shape (config, preprocessing, data, model(s), train,
export, run): image/, word2vec/. serving/ holds what concerns TF Serving (its config
files, warm-up records, the client).
kfp_tfx_patches.py holds the runtime fixes TFX's Kubeflow V2 executor entrypoint needs
on open-source Kubeflow Pipelines (installed by the image's entrypoint). worker.py is a
TFJob worker's command (the Trainer step's run_fn under the operator's TF_CONFIG);
gpu_libraries.py checks that the GPU image's CUDA libraries match TensorFlow's build.

Layering: trainer imports neither components nor pipelines, and one task's package does
not import another's.
"""
from trainer import tf_env  # noqa: F401  (must run before TensorFlow is imported)
