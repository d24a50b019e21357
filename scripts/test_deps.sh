#!/usr/bin/env bash
# System tools the test suite needs beyond the Python environment: headless Chromium
# (report rendering) and kubectl (manifest rendering). Installs Chromium from Debian's
# packages when it is missing and we may; otherwise says what to install.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: installing Debian's chromium (headless report rendering)"
    apt-get install -y -q chromium >/dev/null 2>&1 || \
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null; }
  else
    echo "error: chromium not found; install Debian's 'chromium' package (the report tests" >&2
    echo "       render HTML in headless Chromium)" >&2
    exit 1
  fi
fi
if ! command -v kubectl >/dev/null 2>&1; then
  echo "error: kubectl not found; the k8s manifest tests render every overlay with" >&2
  echo "       'kubectl kustomize': install kubectl (https://kubernetes.io/docs/tasks/tools/)" >&2
  exit 1
fi
