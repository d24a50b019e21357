"""pipelines/nodes.py: the shared data half."""
from components import mnist_example_gen
from pipelines import config, image_pipeline, nodes
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
        cfg = config.ImagePipelineConfig(models=["softmax"], data_dir=data,
                                         workspace=str(tmp_path / "ws"),
                                         transform_statistics=stats)
        pipeline = image_pipeline.create_pipeline(cfg, data)
        transform = next(c for c in pipeline.components if c.id == "Transform")
        assert transform.exec_properties["disable_statistics"] == int(not stats)
