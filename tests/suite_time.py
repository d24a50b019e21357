"""At the end of a run, the test time of the end-to-end tests (marked e2e) and of the rest:
setup + call + teardown, summed over the pytest-xdist workers. With W workers and the
machine's cores all busy, a part cannot take less wall time than its sum divided by W;
docs/testing.md reads the suite's times from this summary."""
import collections

import pytest

PARTS = ("e2e", "other")


class SuiteTime:
    def __init__(self):
        self.seconds = collections.Counter()
        self.tests = collections.Counter()

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report):
        # On the controller when workers run the tests: their reports, keywords included.
        part = PARTS[0] if PARTS[0] in report.keywords else PARTS[1]
        self.seconds[part] += report.duration
        if report.when == "call":
            self.tests[part] += 1

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter, config):
        if not self.tests:
            return
        workers = getattr(config.option, "numprocesses", None)
        workers = workers if isinstance(workers, int) and workers > 0 else 1
        terminalreporter.write_sep("-", "test time by kind")
        for part in PARTS:
            seconds = self.seconds[part]
            terminalreporter.write_line(
                f"{part:<5} {self.tests[part]:5d} tests {seconds:8.1f} s of test time, "
                f"{seconds / workers:7.1f} s on each of {workers} worker(s)")


def pytest_configure(config):
    if getattr(config, "workerinput", None) is None:  # the controller, or a run without xdist
        config.pluginmanager.register(SuiteTime(), "suite-time")
