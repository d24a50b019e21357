"""Runners: local.py runs any task's pipeline with LocalDagRunner; kubeflow.py compiles
it to KFP v2 IR and submits it (kfp_compat.py: what open-source KFP needs in the IR)."""
