"""`make test` runs two pytest-xdist workers: a module's tests, and the modules that share a
session fixture, must each run on one worker, or every module-scoped pipeline run is made
twice (once per worker)."""
import collections
import os
import sys

from tests.paths import REPO

pytest_plugins = ["pytester"]

_MODULE = """
import os, time
import pytest

def _record(what):
    with open(os.environ["SETUP_LOG"], "a") as f:
        f.write(f"{{what}} {{os.getpid()}}\\n")

@pytest.fixture(scope="module")
def pipeline_run():
    _record("module {name}")
    time.sleep(0.3)

{tests}
"""


def test_each_module_and_each_shared_session_fixture_is_set_up_once(pytester, tmp_path,
                                                                  monkeypatch):
    pytester.makeconftest(
        "import os, pytest\n"
        "pytest_plugins = ['tests.xdist_groups']\n"
        "@pytest.fixture(scope='session')\n"
        "def demo_runs():\n"
        "    with open(os.environ['SETUP_LOG'], 'a') as f:\n"
        "        f.write(f'session demo_runs {os.getpid()}\\n')\n")
    plain = "\n".join(f"def test_{i}(pipeline_run): pass" for i in range(6))
    demo = "\n".join(f"def test_{i}(pipeline_run, demo_runs): pass" for i in range(3))
    pytester.makepyfile(**{f"test_plain_{m}": _MODULE.format(name=m, tests=plain)
                           for m in "abcd"},
                        **{f"test_demo_{m}": _MODULE.format(name=f"demo_{m}", tests=demo)
                           for m in "xy"})
    log = tmp_path / "setups.log"
    monkeypatch.setenv("SETUP_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO)] + sys.path))
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup",
                                           "-p", "no:randomly", "-q")
    result.assert_outcomes(passed=4 * 6 + 2 * 3)
    setups = collections.Counter()
    worker = {}
    for line in log.read_text().splitlines():
        what, pid = line.rsplit(" ", 1)
        setups[what] += 1
        worker[what] = pid
    assert set(setups.values()) == {1}, setups
    assert len(setups) == 4 + 2 + 1
    # Both readers of the shared session fixture ran where it was made.
    assert worker["module demo_x"] == worker["module demo_y"] == worker["session demo_runs"]


def test_groups_with_end_to_end_tests_are_handed_out_first(pytester, monkeypatch):
    pytester.makeconftest("pytest_plugins = ['tests.xdist_groups']\n")
    pytester.makeini("[pytest]\nmarkers =\n    e2e: slow\n")
    pytester.makepyfile(
        test_a_fast="def test_1(): pass\ndef test_2(): pass\n",
        test_z_slow="import pytest\npytestmark = pytest.mark.e2e\n"
                    "def test_1(): pass\ndef test_2(): pass\n",
        test_m_fast="def test_1(): pass\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO)] + sys.path))
    result = pytester.runpytest_subprocess("--collect-only", "-q", "-p", "no:randomly")
    ids = [line for line in result.outlines if "::" in line]
    assert ids == ["test_z_slow.py::test_1", "test_z_slow.py::test_2",
                   "test_a_fast.py::test_1", "test_a_fast.py::test_2",
                   "test_m_fast.py::test_1"]


def _makefile_xdist():
    """The pytest-xdist arguments `make test` gives (the Makefile's XDIST)."""
    with open(os.path.join(REPO, "Makefile")) as f:
        line = next(line for line in f if line.startswith("XDIST ?="))
    return line.split("?=", 1)[1].split()


def test_the_scheduler_starts_the_end_to_end_group_first(pytester, tmp_path, monkeypatch):
    # pytest-xdist reorders groups by their number of tests unless told not to: the
    # two-test end-to-end module would then start last.
    pytester.makeconftest("pytest_plugins = ['tests.xdist_groups']\n")
    pytester.makeini("[pytest]\nmarkers =\n    e2e: slow\n")
    plain = "\n".join(f"def test_{i}(pipeline_run): pass" for i in range(6))
    slow = "pytestmark = pytest.mark.e2e\n" + "\n".join(
        f"def test_{i}(pipeline_run): pass" for i in range(2))
    pytester.makepyfile(**{f"test_plain_{m}": _MODULE.format(name=m, tests=plain)
                           for m in "abcd"},
                        test_z_slow=_MODULE.format(name="z_slow", tests=slow))
    log = tmp_path / "setups.log"
    monkeypatch.setenv("SETUP_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO)] + sys.path))
    result = pytester.runpytest_subprocess(*_makefile_xdist(), "-p", "no:randomly", "-q")
    result.assert_outcomes(passed=4 * 6 + 2)
    order = [line.rsplit(" ", 1)[0] for line in log.read_text().splitlines()]
    assert "module z_slow" in order[:2], order
