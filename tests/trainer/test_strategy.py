"""trainer/strategy.py: the strategy is logged with its devices, and GPUs that were
requested but are not visible stop training with a clear error instead of a CPU run."""
import logging

import pytest

from trainer import strategy


def test_requested_gpu_not_visible_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(strategy.REQUIRE_GPUS_ENV, "1")
    with pytest.raises(strategy.GPUUnavailableError) as e:
        strategy.make_strategy()
    message = str(e.value)
    assert "1 GPU(s) requested (CLASSICS_REQUIRE_GPUS=1) but TensorFlow sees 0" in message
    # This machine's TensorFlow has no CUDA wheels: the error says what to build.
    assert "Dockerfile.gpu" in message and "refusing to train on the CPU" in message


def test_enough_visible_gpus_pass_and_none_requested_needs_none(monkeypatch):
    assert strategy.check_gpus(required=2, visible=["gpu0", "gpu1"]) == ["gpu0", "gpu1"]
    with pytest.raises(strategy.GPUUnavailableError, match="requested .* sees 1"):
        strategy.check_gpus(required=2, visible=["gpu0"])
    monkeypatch.delenv(strategy.REQUIRE_GPUS_ENV, raising=False)
    assert strategy.check_gpus() == []


@pytest.mark.parametrize("raw,expected", [("", 0), ("0", 0), (" 2 ", 2)])
def test_required_gpus_reads_the_variable(raw, expected):
    assert strategy.required_gpus({strategy.REQUIRE_GPUS_ENV: raw}) == expected
    assert strategy.required_gpus({}) == 0


@pytest.mark.parametrize("raw", ["one", "-1", "1.5"])
def test_a_malformed_request_is_refused(raw):
    with pytest.raises(ValueError, match="CLASSICS_REQUIRE_GPUS"):
        strategy.required_gpus({strategy.REQUIRE_GPUS_ENV: raw})


def test_the_strategy_is_logged_with_its_devices(monkeypatch, caplog):
    monkeypatch.delenv(strategy.REQUIRE_GPUS_ENV, raising=False)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    # The line goes through absl's logger: whatever earlier tests or libraries did to it
    # (its level, propagation, disabling), this test sets what it needs.
    absl_logger = logging.getLogger("absl")
    monkeypatch.setattr(absl_logger, "propagate", True)
    monkeypatch.setattr(absl_logger, "disabled", False)
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="absl"):
        chosen = strategy.make_strategy()
    assert strategy.describe(chosen) == "DefaultStrategy"
    line = next(r.getMessage() for r in caplog.records if "replica(s) in sync" in r.getMessage())
    assert "DefaultStrategy on /device:CPU:0 (task local:0)" in line
    assert "physical GPUs visible: none" in line


def test_chief_is_the_chief_task_or_worker_zero():
    workers = {"cluster": {"worker": ["a:1", "b:1"]}}
    assert strategy.is_chief({**workers, "task": {"type": "worker", "index": 0}})
    assert not strategy.is_chief({**workers, "task": {"type": "worker", "index": 1}})
    with_chief = {"cluster": {"chief": ["c:1"], "worker": ["a:1"]}}
    assert strategy.is_chief({**with_chief, "task": {"type": "chief", "index": 0}})
    assert not strategy.is_chief({**with_chief, "task": {"type": "worker", "index": 0}})
    assert strategy.num_workers({**with_chief}) == 2
