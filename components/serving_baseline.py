"""The model to beat is the one TF Serving serves now, found without a Resolver.

Open-source Kubeflow Pipelines v2 runs no TFX Resolver (its Argo compiler refuses every
resolver executor), so the baseline cannot come from ML Metadata there. It comes from the
serving repository instead, the same way on every runner:

- `ServingBaseline` takes the model's directory in the TF Serving repository
  (`<serving_root>/<corpus>_<model>`) and outputs a Model artifact holding a copy of the
  highest complete version (an all-digit directory with `saved_model.pb` or
  `saved_model.pbtxt`: what TF Serving's default version policy loads), laid out where
  `tfx.utils.path_utils.serving_model_path` finds it, with custom properties
  `has_model` = 1, `served_version` and `source`. With no complete version (first run)
  the artifact is empty: `has_model` = 0 and a `NO_MODEL` note. Paths go through
  `tfx.dsl.io.fileio`, so gs:// and s3:// repositories work as local ones do.
- `Evaluator` is the stock TFX Evaluator whose executor drops an empty baseline, so a
  first run is judged on the absolute bar alone and later runs also on the change
  threshold against the served model. `usable_baseline` is the same rule for custom
  evaluators (components/word2vec/evaluator.py).

The baseline node must run on every pipeline run (a cached copy would be the repository
as it was); `NEVER_CACHED_PREFIX` names such nodes for the runners.
"""
# No `from __future__ import annotations`: @component reads the annotations at runtime.

import os
from typing import Any, Dict, List, Optional

from absl import logging
from tfx import types
# TFX's own modules, not tfx.v1 (which re-exports them): importing tfx.v1 loads its
# Google Cloud extensions, about 3.5 s in every container that runs these executors.
from tfx.components.evaluator import component as evaluator_component
from tfx.components.evaluator import executor as evaluator_executor
from tfx.dsl.component.experimental.annotations import OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.dsl.components.base import executor_spec
from tfx.dsl.io import fileio
from tfx.types import standard_artifacts, standard_component_specs
from tfx.utils import io_utils, path_utils

HAS_MODEL = "has_model"
SERVED_VERSION = "served_version"
SOURCE = "source"
NO_MODEL_FILE = "NO_MODEL"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
# Node ids starting with this must never be served from a cache (see the runners).
NEVER_CACHED_PREFIX = "ServingBaseline."


def _complete_versions(model_dir: str) -> Dict[int, str]:
    """{version: directory name} of the complete versions under `model_dir`."""
    if not fileio.exists(model_dir) or not fileio.isdir(model_dir):
        return {}
    versions = {}
    for entry in fileio.listdir(model_dir):
        name = entry.rstrip("/")  # object stores list sub-directories with a slash
        if name.isdigit() and any(fileio.exists(os.path.join(model_dir, name, f))
                                  for f in SAVED_MODEL_FILES):
            versions[int(name)] = name
    return versions


def served_versions(model_dir: str) -> List[int]:
    """Complete versions under `model_dir`, ascending: all-digit sub-directories that hold
    a SavedModel file. A version still being copied (no saved_model.pb yet) is left out."""
    return sorted(_complete_versions(model_dir))


def copy_served_model(model_dir: str, out_uri: str) -> Dict[str, Any]:
    """Copies the served version into `out_uri` (Model artifact layout) and returns the
    custom properties to set; writes the NO_MODEL note when nothing is served."""
    versions = _complete_versions(model_dir)
    if not versions:
        io_utils.write_string_file(
            os.path.join(out_uri, NO_MODEL_FILE),
            f"no complete version under {model_dir} (no all-digit directory with "
            f"{' or '.join(SAVED_MODEL_FILES)}): nothing in service to compare with\n")
        return {HAS_MODEL: 0, SOURCE: model_dir}
    version = max(versions)
    source = os.path.join(model_dir, versions[version])
    io_utils.copy_dir(source, path_utils.serving_model_dir(out_uri))
    return {HAS_MODEL: 1, SERVED_VERSION: version, SOURCE: source}


def has_model(artifact: types.Artifact) -> bool:
    """Whether a baseline Model artifact holds a model. On Kubeflow the custom property
    comes back from ML Metadata as a number (struct value), which TFX's getter reads too;
    an artifact without the property (not from ServingBaseline) counts when its folder
    holds a SavedModel."""
    if artifact.has_custom_property(HAS_MODEL):
        return artifact.get_int_custom_property(HAS_MODEL) == 1
    model_path = path_utils.serving_model_path(artifact.uri)
    return any(fileio.exists(os.path.join(model_path, f)) for f in SAVED_MODEL_FILES)


def usable_baseline(artifacts: Optional[List[types.Artifact]]
                    ) -> Optional[types.Artifact]:
    """The baseline to compare with, or None when there is none (empty or absent)."""
    kept = [a for a in artifacts or [] if has_model(a)]
    if len(kept) > 1:
        raise ValueError(f"expected at most one baseline model, got {len(kept)}")
    return kept[0] if kept else None


def without_empty_baseline(input_dict: Dict[str, List[types.Artifact]]
                           ) -> Dict[str, List[types.Artifact]]:
    """`input_dict` minus an empty baseline (what the stock Evaluator reads)."""
    key = standard_component_specs.BASELINE_MODEL_KEY
    out = dict(input_dict)
    baseline = usable_baseline(out.pop(key, None))
    if baseline is not None:
        out[key] = [baseline]
    return out


@component
def ServingBaseline(
    serving_model_dir: Parameter[str],
    model: OutputArtifact[standard_artifacts.Model],
) -> None:
    """Copies the version TF Serving serves from `serving_model_dir` (see the module
    docstring), or outputs an empty Model marked `has_model` = 0."""
    props = copy_served_model(serving_model_dir, model.uri)
    for key, value in props.items():
        if isinstance(value, int):
            model.set_int_custom_property(key, value)
        else:
            model.set_string_custom_property(key, value)
    if props[HAS_MODEL]:
        logging.info("ServingBaseline: version %d of %s is in service", props[SERVED_VERSION],
                     serving_model_dir)
    else:
        logging.info("ServingBaseline: no model in service under %s", serving_model_dir)


class EvaluatorExecutor(evaluator_executor.Executor):
    """TFX's Evaluator executor, without an empty baseline."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        kept = without_empty_baseline(input_dict)
        if len(kept.get(standard_component_specs.BASELINE_MODEL_KEY, [])) != len(
                input_dict.get(standard_component_specs.BASELINE_MODEL_KEY, [])):
            logging.info("Evaluator: no model in service; judged on the absolute bars only")
        return super().Do(kept, output_dict, exec_properties)


class Evaluator(evaluator_component.Evaluator):
    """tfx.components.Evaluator that ignores an empty `baseline_model` (has_model = 0)."""

    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(EvaluatorExecutor)
