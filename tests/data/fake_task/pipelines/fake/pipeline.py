"""CsvExampleGen -> the data half -> a gated branch per model."""
from tfx import v1 as tfx

from components.fake.evaluator import LineEvaluator
from pipelines import nodes


def create_pipeline(config, data_dir, metadata_connection_config=None, beam_args=None,
                    trainer_resources=None):
    data = nodes.data_components(tfx.components.CsvExampleGen(input_base=data_dir),
                                 "trainer.fake.preprocessing.preprocessing_fn")

    def evaluator(model, examples, candidate, baseline):
        return LineEvaluator(examples=examples, model=candidate, baseline_model=baseline,
                             max_error=config.spec(model).max_error)

    return nodes.gated_pipeline(config, data, "trainer.fake.run.run_fn", evaluator,
                                metadata_connection_config, beam_args, trainer_resources)
