"""Where a pod starts, and what every process of the pipeline image needs first.

kfp_entrypoint.py is the container command of every compiled pipeline task (TFX's
Kubeflow V2 run-executor, with s3:// loaded and the runtime fixes of kfp_tfx_patches.py);
tfjob_worker.py is a TFJob worker's command (the Trainer step's run_fn under the
operator's TF_CONFIG); object_store.py sets up s3:// (tensorflow-io, boto3) and ends a
process that used it; gpu_libraries.py checks the GPU image's CUDA libraries against
TensorFlow's build. Nothing here trains a model.
"""
