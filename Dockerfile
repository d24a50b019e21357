# The pipeline image: every TFX component of every pipeline runs in it on Kubeflow, and the
# TFJob in k8s/training runs the multi-worker Trainer from it. Same lock file as local runs.
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

COPY pyproject.toml README.md ./
COPY pipelines ./pipelines
COPY components ./components
COPY trainer ./trainer
RUN pip install --no-deps --no-build-isolation . && pip check

# KubeflowV2DagRunner passes this entrypoint's arguments (executor class, invocation JSON).
ENTRYPOINT ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
