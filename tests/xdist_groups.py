"""Groups for pytest-xdist's `--dist loadgroup` (make test): a group runs on one worker,
so a module's tests share its module-scoped fixtures (one pipeline run, not one per
worker), and the modules that read a shared session fixture (the demo runs) share it.

The marks must be in place before pytest-xdist's own collection hook turns them into the
node-id suffix its scheduler groups by, hence `tryfirst`; and that suffix is only read by
pytest < 9 (pyproject.toml pins it). tests/test_xdist_groups.py checks both.

The scheduler hands groups out in collection order when told not to reorder them
(`--no-loadscope-reorder`, the Makefile's XDIST; by default it sorts them by their number
of tests, which puts an end-to-end module of two tests last). The groups holding
end-to-end tests (minutes each) go first: started last, one of them would keep a worker
busy alone at the end while the other has long finished."""
import pytest

# Session fixtures whose users all run on one worker, so each is made once.
SHARED_SESSION_FIXTURES = ("demo_runs", "lm_trained")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    del config
    shared = {}
    for item in items:
        for name in SHARED_SESSION_FIXTURES:
            if name in getattr(item, "fixturenames", ()):
                shared.setdefault(item.module.__name__, name)
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            module = item.module.__name__
            item.add_marker(pytest.mark.xdist_group(shared.get(module, module)))
    slow = {_group(item) for item in items if item.get_closest_marker("e2e")}
    slow |= {_group(item) for item in items if _group(item) in SHARED_SESSION_FIXTURES}
    items.sort(key=lambda item: _group(item) not in slow)  # stable: file order otherwise


def _group(item) -> str:
    mark = item.get_closest_marker("xdist_group")
    return str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
