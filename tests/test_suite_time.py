"""The end-of-run summary of test time by kind (tests/suite_time.py), in one process and
on two pytest-xdist workers."""
import os
import re
import sys

import pytest

from tests.paths import REPO

pytest_plugins = ["pytester"]

_TESTS = """
import time
import pytest

@pytest.fixture
def slow_setup():
    time.sleep(0.4)

@pytest.mark.e2e
def test_end_to_end(slow_setup):
    time.sleep(0.2)

@pytest.mark.e2e
def test_end_to_end_too():
    pass

def test_unit():
    time.sleep(0.1)
"""


def _parts(lines):
    found = {}
    for line in lines:
        m = re.match(r"(e2e|other)\s+(\d+) tests\s+(\d+\.\d) s of test time,\s+(\d+\.\d) s on "
                     r"each of (\d+) worker", line)
        if m:
            found[m.group(1)] = (int(m.group(2)), float(m.group(3)), float(m.group(4)),
                                 int(m.group(5)))
    return found


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["one process", "two workers"])
def test_e2e_and_other_tests_are_summed_apart(pytester, monkeypatch, xdist):
    pytester.makeconftest("pytest_plugins = ['tests.suite_time']\n")
    pytester.makeini("[pytest]\nmarkers =\n    e2e: slow\n")
    pytester.makepyfile(test_kinds=_TESTS)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO)] + sys.path))
    result = pytester.runpytest_subprocess("-p", "no:randomly", *xdist)
    result.assert_outcomes(passed=3)
    parts = _parts(result.outlines)
    e2e_tests, e2e_seconds, e2e_each, workers = parts["e2e"]
    other_tests, other_seconds, _, _ = parts["other"]
    assert (e2e_tests, other_tests) == (2, 1)
    assert workers == (2 if xdist else 1)
    assert 0.6 <= e2e_seconds < 0.6 + 1.0  # the fixture's setup counts with its test
    assert e2e_each == pytest.approx(e2e_seconds / workers, abs=0.06)
    assert 0.1 <= other_seconds < 0.5
