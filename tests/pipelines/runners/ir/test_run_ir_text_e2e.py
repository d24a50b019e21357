"""word2vec (skip-gram) and the LSTM and GRU language models compiled for a cluster (corpus,
pipeline root and serving repository on s3://) and run from their IRs with `classics
run-ir` against moto's S3 server (tests/s3_standin.py): every task exits 0 and every
model is pushed to the bucket as TF Serving versions. One small PTB-format corpus
(real text, ~7,000 tokens), 1 epoch, tiny models.

The IRs are compiled with kubeflow_runner.compile_pipelines, what `classics compile`
runs after reading its flags: the text tasks' evaluator bars and sizes (embedding
dimension, vocabulary) have no compile flags, and with the registry's bars a corpus
this small is refused."""
import json
import subprocess
import sys

import pytest

from pipelines.runners.ir import run as ir_run
from tests.paths import REPO
from tests.pipelines.lm.test_pipeline_e2e import ptb_folder
from tests.pipelines.runners.ir.cluster_s3 import SECRET, cluster_s3

pytestmark = pytest.mark.e2e
DATA = "s3://data/ptb"
ROOT = "s3://pipelines/v2/artifacts"
SERVING = "s3://models/serving"
BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with cluster_s3(tmp_path_factory.mktemp("secrets")) as server:
        server.upload_dir(ptb_folder(tmp_path_factory.mktemp("text")), DATA)
        yield server


# Run in a process of its own: compiling reads the s3:// corpus folder, which loads
# tensorflow-io (and its abort at exit) into the process.
COMPILE = """
import json, sys
from pipelines import tasks
from pipelines.runners import kubeflow as kubeflow_runner
from trainer.runtime import object_store
args = json.loads(sys.argv[1])
config = tasks.make_config("text", args["models"], text_format="ptb", epochs=1,
                           **args["settings"])
cluster = kubeflow_runner.KubeflowSettings(
    gpu_count=0, pipeline_root=args["root"], serving_root=args["serving"],
    beam_args=args["beam"], object_store_endpoint=args["endpoint"],
    object_store_secret=args["secret"])
(path,) = kubeflow_runner.compile_pipelines(config, cluster, args["data"], args["out"])
print(path)
object_store.exit_process(0)
"""


def _compile(s3, output_dir, models, **settings):
    args = {"models": models, "settings": settings, "root": ROOT, "serving": SERVING,
            "beam": BEAM, "endpoint": s3.endpoint, "secret": SECRET, "data": DATA,
            "out": str(output_dir)}
    done = subprocess.run([sys.executable, "-c", COMPILE, json.dumps(args)], cwd=REPO,
                          env=s3.process_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _run_and_check(s3, ir, model):
    try:
        result = ir_run.run_ir(ir, secrets_file=s3.secrets, parallelism=2,
                               echo=lambda _: None)
    except ir_run.IRRunError as e:
        pytest.fail(f"{e}\n{e.log_tail}")
    assert result.tasks and all(t.exit_code == 0 for t in result.tasks)
    for name in ((model,) if isinstance(model, str) else model):
        pushed = result.produced[f"Pusher.{name}"].artifacts["pushed_model"].metadata
        assert pushed["pushed"] == 1
        destination = pushed["pushed_destination"]
        assert destination.startswith(f"{SERVING}/text_{name}/")
        assert f"serving/text_{name}/{destination.rsplit('/', 1)[1]}/saved_model.pb" in \
            s3.keys(destination + "/")
    return result


def test_word2vec_from_its_ir_pushes_skipgram(s3, tmp_path):
    ir = _compile(s3, tmp_path, ["skipgram"], max_tokens_per_example=100, batch_size=256,
                  embedding_dim=16, num_sampled=8, min_count=2,
                  min_ws353_spearman=-1.0, min_analogy_accuracy=0.0)
    result = _run_and_check(s3, ir, "skipgram")
    assert "Trainer.skipgram" in result.produced


def test_the_lstm_and_gru_language_models_from_their_ir_are_pushed(s3, tmp_path):
    ir = _compile(s3, tmp_path, ["lstm", "gru"], vocab_size=500, max_eval_tokens=5000,
                  max_perplexity=500.0)
    result = _run_and_check(s3, ir, ("lstm", "gru"))
    assert {"Trainer.lstm", "Trainer.gru"} <= set(result.produced)
