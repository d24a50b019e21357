# The pipeline image: every TFX component of every pipeline runs in it on Kubeflow, and so
# do the TFJob workers of multi-worker Trainers (trainer/runtime/tfjob_worker.py). Same lock file as local
# runs. CPU only: GPU nodes need Dockerfile.gpu.
# Build: docker build -t tfx-classics:latest .   (not built on the development machines:
# they have no Docker engine; see README "What was and was not run here").
FROM python:3.10-slim-bookworm

ENV TF_USE_LEGACY_KERAS=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/classics
COPY requirements.lock ./
RUN pip install "pip==24.2" "setuptools==75.1.0" wheel \
 && pip install --no-deps -r requirements.lock

COPY pyproject.toml setup.py README.md ./
COPY pipelines ./pipelines
COPY components ./components
COPY trainer ./trainer
# The install compiles word2vec's training op (setup.py) against the installed TensorFlow;
# the compiler leaves with the same layer.
RUN apt-get update && apt-get install -y --no-install-recommends g++ \
 && pip install --no-deps --no-build-isolation . && pip check \
 && python -c "import trainer, trainer.word2vec.fused as f; f.load_op()" \
 && apt-get purge -y --auto-remove g++ && rm -rf /var/lib/apt/lists/*

# KubeflowV2DagRunner passes the arguments (executor class, invocation JSON); the compiled
# IR names the same command (trainer/runtime/kfp_entrypoint.py: TFX's Kubeflow V2 run-executor
# with s3:// loaded and tensorflow-io's abort at exit kept from overriding the result).
# The model-sync sidecar (k8s/overlays/s3) runs this image with its own command.
ENTRYPOINT ["python", "-m", "trainer.runtime.kfp_entrypoint"]
