"""pipelines/nodes.py: the shared data half."""
from tfx.types import Channel, standard_artifacts

from components import mnist_example_gen, pusher
from pipelines import config
from pipelines import nodes, tasks
from pipelines.image.config import ImagePipelineConfig
from pipelines.image import pipeline as image_pipeline
from tests.mnist_fixtures import real_digits, write_mnist


def _transform(components):
    transform = components[4]
    assert transform.id == "Transform"
    return transform


def test_transform_computes_no_statistics_of_its_own_unless_asked(tmp_path):
    example_gen = mnist_example_gen.create(str(tmp_path / "absent"))
    default = _transform(nodes.data_components(example_gen, image_pipeline.PREPROCESSING_FN))
    assert default.exec_properties["disable_statistics"] == 1
    asked = _transform(nodes.data_components(example_gen, image_pipeline.PREPROCESSING_FN,
                                             transform_statistics=True))
    assert asked.exec_properties["disable_statistics"] == 0


def test_the_pipeline_config_decides_transform_statistics(tmp_path):
    (x, y), _ = real_digits(20, 0)
    data = write_mnist(str(tmp_path / "data"), x, y, "train")
    for stats in (False, True):
        cfg = ImagePipelineConfig(models=["softmax"], data_dir=data,
                                         workspace=str(tmp_path / "ws"),
                                         transform_statistics=stats)
        pipeline = image_pipeline.create_pipeline(cfg, data)
        transform = next(c for c in pipeline.components if c.id == "Transform")
        assert transform.exec_properties["disable_statistics"] == int(not stats)


def _beam_args_in_ir(pipeline, node_id):
    from tfx.dsl.compiler import compiler
    from tfx.proto.orchestration import executable_spec_pb2, pipeline_pb2
    ir = compiler.Compiler().compile(pipeline)
    deployment = pipeline_pb2.IntermediateDeploymentConfig()
    ir.deployment_config.Unpack(deployment)
    spec = executable_spec_pb2.BeamExecutableSpec()
    deployment.executor_specs[node_id].Unpack(spec)
    return list(spec.beam_pipeline_args)


def test_a_local_run_gives_the_shard_writing_example_gen_threads(tmp_path):
    (x, y), _ = real_digits(20, 0)
    data = write_mnist(str(tmp_path / "data"), x, y, "train")
    cfg = ImagePipelineConfig(models=["softmax"], data_dir=data,
                                     workspace=str(tmp_path / "ws"))
    pipeline = nodes.for_local_run(cfg, image_pipeline.create_pipeline(
        cfg, data, beam_args=config.local_beam_args(cfg)))
    in_memory = list(config.IN_MEMORY_BEAM_ARGS) + list(config.DIRECT_RUNNER_DEPENDENCY_ARGS)
    # The component's args come after the pipeline's: the DirectRunner takes the last.
    assert _beam_args_in_ir(pipeline, "MnistExampleGen") == in_memory + list(
        config.SHARD_WRITER_BEAM_ARGS)
    assert _beam_args_in_ir(pipeline, "StatisticsGen") == in_memory
    chosen = ImagePipelineConfig(models=["softmax"], data_dir=data,
                                        workspace=str(tmp_path / "ws"),
                                        beam_args=list(config.MULTI_PROCESSING_BEAM_ARGS))
    pipeline = nodes.for_local_run(chosen, image_pipeline.create_pipeline(
        chosen, data, beam_args=config.local_beam_args(chosen)))
    assert _beam_args_in_ir(pipeline, "MnistExampleGen") == list(
        config.MULTI_PROCESSING_BEAM_ARGS) + list(config.DIRECT_RUNNER_DEPENDENCY_ARGS)


def test_the_pusher_claims_a_version_of_its_own():
    node = nodes.pusher(tasks.make_config("mnist", ["softmax"]), "softmax",
                        model=Channel(type=standard_artifacts.Model))
    assert node.executor_spec.executor_class is pusher.Executor
