"""The language-model pipeline run that the end-to-end tests and the report tests share
(one run of LSTM and GRU, made once per session: tests/xdist_groups.py keeps its users on
one worker)."""
import pytest

from tests.pipelines.lm.test_pipeline_e2e import ptb_folder, run


@pytest.fixture(scope="session")
def lm_trained(tmp_path_factory):
    """Both models trained on a small PTB-format corpus and pushed: (config, result,
    workspace)."""
    corpus = ptb_folder(tmp_path_factory.mktemp("lm-corpus"))
    ws = str(tmp_path_factory.mktemp("lm-ws") / "ws")
    config, result = run(corpus, ws, ["lstm", "gru"])
    return config, result, ws
