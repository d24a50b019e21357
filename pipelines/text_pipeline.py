"""The pipeline factory for word vectors (word2vec skip-gram / CBOW).

TextExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator -> Transform (one shared
vocabulary with counts), then for every selected model its own branch: Trainer ->
(latest blessed baseline) Word2VecEvaluator -> Pusher into
`<serving_root>/text_<model>/<version>/`. Node ids follow common.node_ids, so
pipelines/report.py finds the Trainer's `model_run/training_stats.json` and the
evaluator's `evaluation` / `blessing` outputs the same way.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

from tfx import v1 as tfx

from components import text_example_gen, word2vec_evaluator
from pipelines import report
from pipelines.config import TextPipelineConfig
from pipelines import common
from pipelines.common import node_ids

PREPROCESSING_FN = "trainer.text_preprocessing.preprocessing_fn"
RUN_FN = "trainer.word2vec_run.run_fn"
# Per-model defaults the config does not override. CBOW sums a whole window into one
# update: at gensim's alpha 0.05 (or 0.025) batches of 2048 diverge; 0.0125 is stable
# and matches gensim's WS353 on the embedded excerpt (bench/word2vec_bench.py --model cbow).
# Per-model Trainer settings beyond the trainer's own defaults (word2vec.c's learning
# rates: 0.025 skip-gram, 0.05 CBOW, which the trainer already uses with loss "neg").
MODEL_DEFAULTS: Dict[str, Dict] = {"skipgram": {}, "cbow": {}}


def trainer_config(config: TextPipelineConfig, model: str) -> Dict:
    """The Trainer's custom_config: trainer.word2vec.Word2VecConfig fields."""
    custom = {"model": model, "embedding_dim": config.embedding_dim,
              "window": config.window, "loss": config.loss, **MODEL_DEFAULTS[model]}
    for key, value in (("epochs", config.epochs), ("batch_size", config.batch_size),
                       ("num_sampled", config.num_sampled),
                       ("learning_rate", config.learning_rate)):
        if value is not None:
            custom[key] = value
    return custom


def create_pipeline(config: TextPipelineConfig, data_dir: str,
                    metadata_connection_config=None,
                    beam_args: Optional[List[str]] = None,
                    trainer_resources=None) -> tfx.dsl.Pipeline:
    """`trainer_resources` (a KFP ResourceSpec) is set on every Trainer when compiling for
    Kubeflow; local runs leave it None."""
    config.validate_models()
    example_gen = text_example_gen.create(data_dir, fmt=config.text_format,
                                          max_tokens=config.max_tokens_per_example)
    components = common.data_components(
        example_gen, PREPROCESSING_FN,
        {"min_count": config.min_count, "max_size": config.max_vocab_size})
    schema_gen, transform = components[2], components[4]

    for model in config.models:
        ids = node_ids(model)
        trainer = common.trainer(model, RUN_FN, schema_gen, transform,
                                 trainer_config(config, model), trainer_resources)
        baseline = common.latest_blessed_baseline(model)
        evaluator = word2vec_evaluator.Word2VecEvaluator(
            examples=example_gen.outputs["examples"],
            model=trainer.outputs["model"],
            baseline_model=baseline.outputs["model"],
            thresholds=config.evaluator_thresholds(model),
            max_eval_tokens=config.max_eval_tokens,
        ).with_id(ids["evaluator"])
        pusher = common.pusher(config, model, model=trainer.outputs["model"],
                               model_blessing=evaluator.outputs["blessing"])
        components += [trainer, baseline, evaluator, pusher]

    return common.pipeline(config, components, metadata_connection_config, beam_args)


def run_text_pipeline(config: TextPipelineConfig,
                      echo: Callable[[str], None] = print) -> report.RunReport:
    """Runs the text pipeline with LocalDagRunner (the same runner as the image one)."""
    # Imported here: local_runner imports the image pipeline, not this module.
    from pipelines.local_runner import run_pipeline  # pylint: disable=import-outside-toplevel

    config.validate_models()
    return run_pipeline(config, create_pipeline, config.resolve_data_dir(), echo)


def format_summary(result: report.RunReport) -> str:
    """Like report.format_summary, with the word-vector scores instead of accuracy."""
    lines = [f"run {result.run_id}:"]
    for m in result.models:
        metrics = None
        ev = result.nodes.get(node_ids(m.model)["evaluator"])
        if ev and ev.outputs.get("evaluation"):
            try:
                metrics = word2vec_evaluator.read_metrics(ev.outputs["evaluation"][0].uri)
            except Exception:  # pylint: disable=broad-except
                metrics = None
        scores = "no scores"
        if metrics:
            c = metrics["candidate"]
            scores = (f"WS353 rho {c['ws353_spearman']:.3f} (OOV {c['ws353_oov_rate']:.0%}), "
                      f"analogy {c['analogy_accuracy']:.3f} (coverage "
                      f"{c['analogy_coverage']:.0%}), held-out loss {c['heldout_loss']:.3f}")
        bless = {True: "blessed", False: "NOT blessed", None: "not evaluated"}[m.blessed]
        base = "vs last blessed" if m.baseline_uri else "no baseline"
        where = m.pushed_path or "not pushed"
        lines.append(f"  {m.model:<9} {scores}  {bless} ({base})  -> {where}")
    return "\n".join(lines)
