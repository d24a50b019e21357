"""pipelines/config.py: run settings. How a local run picks its Beam args, and that
TFX's Beam components (ExampleGen, StatisticsGen, Transform, Evaluator) run end to end,
and report a bad input file, with Beam's worker processes (multi_processing); how a
model's distribution is chosen."""
import os
import threading
import time

import psutil
import pytest

from components import text_corpora
from pipelines import config
from pipelines.image.config import ImagePipelineConfig
from pipelines.word2vec.config import Word2VecPipelineConfig
from pipelines.runners import local as local_runner
from tests.mnist_fixtures import real_digits, write_mnist


def test_a_local_run_is_in_memory_unless_its_beam_args_choose():
    no_package = list(config.DIRECT_RUNNER_DEPENDENCY_ARGS)
    assert config.local_beam_args(ImagePipelineConfig()) == list(
        config.IN_MEMORY_BEAM_ARGS) + no_package
    cfg = ImagePipelineConfig(beam_args=["--s3_region_name=eu-west-1"])
    assert config.local_beam_args(cfg) == (
        ["--s3_region_name=eu-west-1"] + list(config.IN_MEMORY_BEAM_ARGS) + no_package)
    for chosen in (list(config.MULTI_PROCESSING_BEAM_ARGS), ["--direct_num_workers=3"]):
        cfg = ImagePipelineConfig(beam_args=chosen)
        assert config.local_beam_args(cfg) == chosen + no_package
    cfg = ImagePipelineConfig(beam_args=["--runner=FlinkRunner"])
    assert config.local_beam_args(cfg) == ["--runner=FlinkRunner"]


def _args_a_beam_executor_gets(beam_args, tmp_path, monkeypatch):
    """The Beam args TFX's StatisticsGen executor runs with, given `beam_args`; TFX's
    package, if it builds one, goes under `tmp_path`."""
    import tempfile

    from tfx.components.statistics_gen import executor as stats_executor
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    executor = stats_executor.Executor(
        stats_executor.Executor.Context(beam_pipeline_args=list(beam_args)))
    given = executor._beam_pipeline_args  # pylint: disable=protected-access
    assert given[:len(beam_args)] == list(beam_args)
    # What TFX added: the dependency flags, then its telemetry labels (--labels k=v).
    return [a for a in given[len(beam_args):] if a.startswith("--") and a != "--labels"]


@pytest.mark.parametrize("mode", [None, *config.BEAM_MODES])
def test_a_local_directrunner_run_builds_no_tfx_package(mode, tmp_path, monkeypatch):
    cfg = ImagePipelineConfig(beam_args=list(config.BEAM_MODES[mode]) if mode else [])
    args = config.local_beam_args(cfg)
    assert config.runs_direct_runner(args)
    assert _args_a_beam_executor_gets(args, tmp_path, monkeypatch) == []
    assert os.listdir(tmp_path) == []  # no tfx_ephemeral build


@pytest.mark.parametrize("runner", [
    ["--runner=DirectRunner"], ["--runner", "SwitchingDirectRunner"],
    ["--runner=apache_beam.runners.direct.direct_runner.BundleBasedDirectRunner"]])
def test_a_directrunner_named_explicitly_builds_no_tfx_package_either(runner):
    args = config.local_beam_args(ImagePipelineConfig(beam_args=runner))
    assert args == runner + list(config.DIRECT_RUNNER_DEPENDENCY_ARGS)


def test_a_remote_runner_gets_tfx_s_package_or_the_dependencies_it_was_given(
        tmp_path, monkeypatch):
    flink = ["--runner=FlinkRunner", "--flink_master=flink:8081",
             "--environment_type=EXTERNAL", "--environment_config=localhost:50000"]
    args = config.local_beam_args(ImagePipelineConfig(beam_args=flink))
    assert args == flink  # no image named for it: TFX builds its package, as without us
    added = _args_a_beam_executor_gets(args, tmp_path, monkeypatch)
    assert len(added) == 1 and added[0].startswith("--extra_package=")
    package = added[0].split("=", 1)[1]
    assert package.startswith(str(tmp_path)) and os.path.basename(package).startswith(
        "tfx_ephemeral-") and os.path.getsize(package) > 0
    for own in (["--setup_file=/src/setup.py"], ["--sdk_container_image=reg/img:1"]):
        chosen = ImagePipelineConfig(beam_args=["--runner=DataflowRunner", *own])
        assert config.local_beam_args(chosen) == ["--runner=DataflowRunner", *own]
    # A DirectRunner run that names its own dependencies keeps them as they are.
    own = ImagePipelineConfig(beam_args=["--requirements_file=req.txt"])
    assert config.local_beam_args(own) == ["--requirements_file=req.txt"] + list(
        config.IN_MEMORY_BEAM_ARGS)


class _BeamWorkers(threading.Thread):
    """Counts the Beam SDK worker processes this process starts while it runs."""

    def __init__(self):
        super().__init__(daemon=True)
        self.seen = set()
        self.halt = threading.Event()

    def run(self):
        me = psutil.Process()
        while not self.halt.is_set():
            for child in me.children(recursive=True):
                try:
                    if "sdk_worker_main" in " ".join(child.cmdline()):
                        self.seen.add(child.pid)
                except psutil.Error:
                    pass
            time.sleep(0.2)


@pytest.mark.e2e
def test_image_pipeline_runs_on_beam_worker_processes(tmp_path, workspace):
    (train_x, train_y), (test_x, test_y) = real_digits(300, 100)
    data = write_mnist(str(tmp_path / "data"), train_x, train_y, "train")
    write_mnist(data, test_x, test_y, "t10k")
    cfg = ImagePipelineConfig(
        corpus="mnist", models=["softmax"], data_dir=data, workspace=workspace, epochs=2,
        min_accuracy=0.3, beam_args=list(config.MULTI_PROCESSING_BEAM_ARGS))
    workers = _BeamWorkers()
    workers.start()
    try:
        result = local_runner.run_pipeline(cfg, echo=lambda _: None)
    finally:
        workers.halt.set()
        workers.join()
    states = {n.node_id: n.state for n in result.nodes.values()}
    assert all(s == "COMPLETE" for s in states.values()), states
    assert result.models[0].blessed and result.models[0].pushed_path
    # ExampleGen, StatisticsGen, Transform and the Evaluator each started their own.
    assert len(workers.seen) >= 2 * 4


@pytest.mark.e2e
def test_a_bad_file_read_on_a_worker_process_is_reported_by_name(tmp_path, workspace):
    data = tmp_path / "text"
    data.mkdir()
    bad = data / "text8"
    # Valid at the start (what is checked before the job), not UTF-8 deep inside.
    bad.write_bytes(b"anarchism originated as a term " * 50000 + b"\xff\xfe" + b" tail" * 10)
    cfg = Word2VecPipelineConfig(
        data_dir=str(data), workspace=workspace, models=["skipgram"], epochs=1,
        beam_args=list(config.MULTI_PROCESSING_BEAM_ARGS))
    with pytest.raises(local_runner.PipelineRunError) as err:
        local_runner.run_pipeline(cfg, echo=lambda _: None)
    assert isinstance(err.value.cause, text_corpora.TextCorpusError)
    assert str(err.value.cause).startswith(f"{bad}: not UTF-8 text at byte 1550000")
    assert err.value.component == "TextExampleGen"
    examples = os.path.join(cfg.pipeline_root, "TextExampleGen", "examples")
    leftovers = [f for _, _, files in os.walk(examples) for f in files]
    assert leftovers == []  # nothing half-written


def test_distribution_comes_from_the_config_else_the_registry(monkeypatch):
    import dataclasses as dc

    from pipelines.image.config import ImagePipelineConfig
    from trainer.image import specs

    monkeypatch.setitem(specs.MODELS, "cnn", dc.replace(
        specs.MODELS["cnn"], workers=4, gpus_per_worker=2))
    assert ImagePipelineConfig().distribution("cnn") == (4, 2)
    assert ImagePipelineConfig().distribution("softmax") == (1, None)  # one pod, --gpus
    assert ImagePipelineConfig(workers=2, gpus_per_worker=0).distribution("cnn") == (2, 0)
    for bad, problem in (({"workers": 0}, "workers must be at least 1"),
                         ({"gpus_per_worker": -1}, "GPUs per worker must be 0 or more")):
        with pytest.raises(ValueError, match=problem):
            ImagePipelineConfig(**bad).check()


def test_shard_writing_example_gens_run_on_threads_unless_the_args_choose():
    from components import cifar_example_gen, image_folder_example_gen, mnist_example_gen
    cfg = ImagePipelineConfig()
    for shard_writing in (mnist_example_gen.Executor, cifar_example_gen.Executor):
        assert config.local_component_beam_args(cfg, shard_writing) == list(
            config.SHARD_WRITER_BEAM_ARGS) == ["--direct_running_mode=multi_threading",
                                               "--direct_num_workers=0"]
    assert config.local_component_beam_args(cfg, image_folder_example_gen.Executor) == []
    chosen = ImagePipelineConfig(beam_args=list(config.IN_MEMORY_BEAM_ARGS))
    assert config.local_component_beam_args(chosen, mnist_example_gen.Executor) == []
