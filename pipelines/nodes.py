"""The pipeline nodes every task's factory shares: the data half (statistics, schema,
validation, Transform), one gated branch per model (the served version as the baseline,
the drift gate against the data it was trained on, Trainer, the task's evaluator, the
servability check, the Pusher into the TF Serving repository), and the Pipeline object
itself. Node ids come from `node_ids`, which the
report uses to read runs back."""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, List, Optional

from tfx import v1 as tfx

from components import drift_gate as drift, text_example_gen, tfjob_trainer
from components.pusher import Pusher
from components.servability_check import ServabilityCheck
from components.serving_baseline import NEVER_CACHED_PREFIX, ServingBaseline
from pipelines.config import PipelineConfig, local_component_beam_args


def node_ids(model: str) -> Dict[str, str]:
    """Node ids of one model's branch; `report` reads runs back by these."""
    return {"trainer": f"Trainer.{model}", "baseline": f"{NEVER_CACHED_PREFIX}{model}",
            "evaluator": f"Evaluator.{model}", "servability": f"ServabilityCheck.{model}",
            "pusher": f"Pusher.{model}", "drift_baseline": f"DriftBaseline.{model}",
            "drift_validator": f"DistributionValidator.{model}",
            "drift_gate": f"DriftGate.{model}"}


def data_components(example_gen, preprocessing_fn: str,
                    transform_config: Optional[dict] = None,
                    transform_statistics: bool = False) -> List:
    """[example_gen, StatisticsGen, SchemaGen, ExampleValidator, Transform].

    Transform computes no statistics of its own unless `transform_statistics`:
    StatisticsGen has the raw data's already, nothing here reads the transformed data's,
    and both passes took about a third of Transform's time and 1.6 GB of the run's peak
    memory on full CIFAR-10 (README "Scale")."""
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"])
    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"], schema=schema_gen.outputs["schema"],
        preprocessing_fn=preprocessing_fn, custom_config=transform_config,
        disable_statistics=not transform_statistics)
    return [example_gen, statistics_gen, schema_gen, example_validator, transform]


@dataclasses.dataclass(frozen=True)
class TrainerPlacement:
    """Where a model's Trainer trains on Kubeflow: its own pod (`resources`, a KFP
    ResourceSpec), or, with `job` settings (components/k8s_job.py), a training job of many
    workers that the step submits and waits for (the step's pod then only waits): a TFJob
    or a TrainJob, by `backend` (a key of components/tfjob_trainer.py's BACKENDS)."""
    resources: object = None
    job: Optional[Dict[str, Any]] = None
    backend: str = tfjob_trainer.TFJOB_KEY


def trainer(model: str, run_fn: str, schema_gen, transform, custom_config: dict,
            resources=None, base_model=None):
    """A Trainer on the Transform output. `resources`: None (local runs), a KFP
    ResourceSpec, or a function model -> TrainerPlacement (compiled pipelines).
    `base_model`: a Model channel to warm-start from (the served version's copy)."""
    placement = resources(model) if callable(resources) else TrainerPlacement(resources)
    inputs = dict(run_fn=run_fn, examples=transform.outputs["transformed_examples"],
                  transform_graph=transform.outputs["transform_graph"],
                  schema=schema_gen.outputs["schema"])
    if base_model is not None:
        inputs["base_model"] = base_model
    if placement.job:
        component = tfjob_trainer.Trainer(
            custom_config={**custom_config, placement.backend: placement.job},
            **inputs)
    else:
        component = tfx.components.Trainer(custom_config=custom_config, **inputs)
    component.with_id(node_ids(model)["trainer"])
    if placement.resources is not None:
        component.with_platform_config(placement.resources)
    return component


def serving_model_dir(config: PipelineConfig, model: str) -> str:
    """`<serving_root>/<corpus>_<model>`: where the Pusher puts versions and TF Serving
    reads them."""
    return os.path.join(config.serving_root, config.serving_model_name(model))


def serving_baseline(config: PipelineConfig, model: str):
    """The version of this model TF Serving serves now (an empty Model on the first run):
    no Resolver, so the same node runs under LocalDagRunner and on open-source KFP."""
    return ServingBaseline(serving_model_dir=serving_model_dir(config, model)).with_id(
        node_ids(model)["baseline"])


def drift_nodes(config: PipelineConfig, model: str, statistics_gen, baseline) -> List:
    """[DriftBaseline, DistributionValidator, DriftGate] of a model whose registry entry
    has drift checks (else []): this run's statistics against those the served version
    (`baseline`, ServingBaseline's node) carries (components/drift_gate.py)."""
    checks = config.spec(model).drift_checks
    if not checks:
        return []
    ids = node_ids(model)
    served = drift.DriftBaseline(model=baseline.outputs["model"]).with_id(
        ids["drift_baseline"])
    validator = drift.DistributionValidator(
        statistics=statistics_gen.outputs["statistics"],
        baseline_statistics=served.outputs["statistics"],
        config=drift.validator_config(checks),
        include_split_pairs=[(drift.SPLIT, drift.SPLIT)]).with_id(ids["drift_validator"])
    gate = drift.DriftGate(model_name=model, anomalies=validator.outputs["anomalies"],
                           baseline_statistics=served.outputs["statistics"]).with_id(
        ids["drift_gate"])
    return [served, validator, gate]


def never_cached(node_id: str) -> bool:
    """Nodes whose output depends on the world outside the pipeline (the serving
    repository), so a cached execution would be stale; both runners honour it. The
    drift gate's nodes read what ServingBaseline read (a cache keyed on artifact names
    would already miss; this does not depend on how a backend keys its cache)."""
    drift_ids = [node_ids("")[key] for key in ("drift_baseline", "drift_validator",
                                               "drift_gate")]
    return node_id.startswith((NEVER_CACHED_PREFIX, *drift_ids))


def pusher(config: PipelineConfig, model_name: str, **inputs):
    """Pusher into `<serving_root>/<corpus>_<model>/<version>/` (TF Serving's layout);
    `inputs` are the Pusher's model / model_blessing / infra_blessing / statistics
    channels."""
    return Pusher(
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(
                base_directory=serving_model_dir(config, model_name))),
        **inputs).with_id(node_ids(model_name)["pusher"])


def pipeline(config: PipelineConfig, components: List, metadata_connection_config=None,
             beam_args: Optional[List[str]] = None) -> tfx.dsl.Pipeline:
    return tfx.dsl.Pipeline(
        pipeline_name=config.name,
        pipeline_root=config.pipeline_root,
        components=components,
        enable_cache=config.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_args if beam_args is not None else config.beam_args),
    )


def for_local_run(config: PipelineConfig, pipeline: tfx.dsl.Pipeline) -> tfx.dsl.Pipeline:
    """Adds the Beam args each component of a local run takes on top of the pipeline's
    (config.local_component_beam_args: threads for the shard-writing ExampleGens)."""
    for component in pipeline.components:
        executor_class = getattr(component.executor_spec, "executor_class", None)
        if executor_class is None:  # a node with no executor class of its own
            continue
        extra = local_component_beam_args(config, executor_class)
        if extra:
            component.with_beam_pipeline_args(extra)
    return pipeline


def text_data(config, data_dir: str, preprocessing_fn: str) -> List:
    """The data half over a text corpus: [TextExampleGen, ..., Transform], with the
    config's `transform_config()` as Transform's custom_config."""
    example_gen = text_example_gen.create(data_dir, fmt=config.text_format,
                                          max_tokens=config.max_tokens_per_example,
                                          span=config.span)
    return data_components(example_gen, preprocessing_fn, config.transform_config(),
                           config.transform_statistics)


def text_evaluator(config, evaluator_class) -> Callable:
    """A `make_evaluator` for gated_branch: a text task's evaluator component
    (`evaluator_class`) with the config's bars for the model and its token budget."""
    def make(model: str, examples, candidate, baseline):
        return evaluator_class(examples=examples, model=candidate, baseline_model=baseline,
                               thresholds=config.evaluator_thresholds(model),
                               max_eval_tokens=config.max_eval_tokens)
    return make


def gated_branch(config: PipelineConfig, model: str, run_fn: str, data: List,
                 make_evaluator: Callable, trainer_config: Dict[str, Any],
                 trainer_resources=None, servability_check: bool = False) -> List:
    """One model's [ServingBaseline, (drift gate,) Trainer, evaluator,
    (ServabilityCheck,) Pusher] over the data half `data` (as data_components returns it).

    The drift gate (drift_nodes) runs before the Trainer, which waits for it: a refusal
    stops the run before training. With the config's warm start on for the model, the
    Trainer gets the served version's copy as its `base_model`. The Pusher gets the
    run's statistics, which the pushed version then carries.

    `make_evaluator(model, examples, candidate, baseline)` builds the task's evaluator
    from those channels; the Pusher pushes only what it blesses. With
    `servability_check`, the model is also loaded as TF Serving would and every signature
    is sent one request, and the Pusher pushes the checked copy (stamped with those
    requests as warm-up records)."""
    example_gen, statistics_gen, schema_gen, transform = data[0], data[1], data[2], data[4]
    ids = node_ids(model)
    baseline = serving_baseline(config, model)
    gate = drift_nodes(config, model, statistics_gen, baseline)
    trainer_node = trainer(model, run_fn, schema_gen, transform, trainer_config,
                           trainer_resources,
                           base_model=(baseline.outputs["model"]
                                       if config.warm_start_for(model) else None))
    if gate:
        trainer_node.add_upstream_node(gate[-1])
    evaluator = make_evaluator(model, example_gen.outputs["examples"],
                               trainer_node.outputs["model"],
                               baseline.outputs["model"]).with_id(ids["evaluator"])
    branch = [trainer_node, baseline, *gate, evaluator]
    if servability_check:
        servability = ServabilityCheck(
            model=trainer_node.outputs["model"], examples=example_gen.outputs["examples"],
            serving_model_name=config.serving_model_name(model)).with_id(ids["servability"])
        branch.append(servability)
        push_inputs = {"model_blessing": evaluator.outputs["blessing"],
                       "infra_blessing": servability.outputs["blessing"]}
    else:
        push_inputs = {"model": trainer_node.outputs["model"],
                       "model_blessing": evaluator.outputs["blessing"]}
    push_inputs["statistics"] = statistics_gen.outputs["statistics"]
    return branch + [pusher(config, model, **push_inputs)]


def gated_pipeline(config: PipelineConfig, data: List, run_fn: str, make_evaluator: Callable,
                   metadata_connection_config=None, beam_args: Optional[List[str]] = None,
                   trainer_resources=None, trainer_config: Optional[Callable] = None,
                   servability_check: bool = False) -> tfx.dsl.Pipeline:
    """The data half `data`, then a gated_branch per model of the config.
    `trainer_config(model)`: the Trainer's custom_config (default `config.trainer_config`)."""
    make_config = trainer_config or config.trainer_config
    components = list(data)
    for model in config.models:
        components += gated_branch(config, model, run_fn, data, make_evaluator,
                                   make_config(model), trainer_resources, servability_check)
    return pipeline(config, components, metadata_connection_config, beam_args)
