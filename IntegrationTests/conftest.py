"""Fixtures every integration test shares, and the bookkeeping of counted checks.

  berth_binary   the release `berth` (--berth PATH or BERTH_BIN; default .build/release/berth)
  repo_root      the repository, for scripts and the Swift package
  work           a fresh folder for the test, kept when the test fails (its path is printed)
  berth          a factory: berth(name, config="", ...) -> harness.berth.Berth in `work`, stopped after the test
  checks         harness.checks.Checks: the test fails when any check failed; the count reaches the summary

Areas are markers (pytest.ini); every test module marks its area and its xdist group, so `pytest -m gc` runs one
area and `pytest -n 3 --dist loadgroup` runs areas side by side, each group on one worker (a group shares a
session fixture such as the scale-out rig, or must not overlap with itself).
"""
import os, shutil, sys, tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from harness import berth as berth_module  # noqa: E402
from harness.checks import Checks  # noqa: E402
from harness import scheduling  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--berth", default=os.environ.get("BERTH_BIN", os.path.join(REPO, ".build/release/berth")),
                     help="the berth binary under test (default: BERTH_BIN or .build/release/berth)")


def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") == "loadgroup":
        return scheduling.AreaScheduling(config, log)
    return None


def pytest_collection_modifyitems(items):
    """Longest areas first, so with areas side by side the slowest one starts at once (stable within a group)."""
    def group(item):
        mark = item.get_closest_marker("xdist_group")
        return scheduling.rank(mark.args[0] if mark and mark.args else "")
    items.sort(key=group)


@pytest.fixture(scope="session")
def repo_root():
    return REPO


@pytest.fixture(scope="session")
def berth_binary(request):
    path = os.path.abspath(request.config.getoption("--berth"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"no berth binary at {path}: build it (swift build -c release) or pass --berth")
    return path


@pytest.fixture
def work(request):
    """A folder outside pytest's own temporary tree (PostgreSQL's user must be able to enter it, and Unix
    socket paths must stay short); removed after a passing test, kept after a failing one."""
    name = request.node.name.replace("/", "_")[:40]
    path = tempfile.mkdtemp(prefix=f"berth-it-{name}-")
    os.chmod(path, 0o755)
    yield path
    berth_module.stop_all()  # before its folder goes
    if getattr(request.node, "failed_phase", False):
        print(f"\n(work folder kept: {path})")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def berth(berth_binary, work):
    """Makes Berths in the test's folder; stops every one after the test."""
    def make(name, config="", **kwargs):
        return berth_module.Berth(berth_binary, work, name, config, **kwargs)
    return make


@pytest.fixture(autouse=True)
def _stop_berths():
    """Whatever a test started, however it ended, stops after it (also Berths made without the fixture)."""
    yield
    berth_module.stop_all()


@pytest.fixture
def checks():
    return Checks()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After the test body: each Berth it started must not have crashed, then the test fails when any counted
    check failed (its failed checks listed); the number of checks goes to the summary."""
    result = yield
    c = item.funcargs.get("checks")
    if c is not None:
        c.section = "logs"
        for b in berth_module.BERTHS:
            if os.path.exists(b.dir):
                c(not b.crashed(), f"no crash in {os.path.basename(b.dir)}'s log")
        item.user_properties.append(("checks", c.total))
        if c.failed:
            shown = "\n  ".join(c.failed[:40])
            more = f"\n  ... and {len(c.failed) - 40} more" if len(c.failed) > 40 else ""
            raise AssertionError(f"{len(c.failed)} of {c.total} checks failed:\n  {shown}{more}\n"
                                 f"by section: {c.sections()}")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        item.failed_phase = True
    return report


_counts = {}  # test module -> checks made, gathered from every worker's reports (xdist carries user_properties)


def pytest_runtest_logreport(report):
    if report.when == "call":
        for key, value in report.user_properties:
            if key == "checks":
                area = report.nodeid.split("::")[0]
                _counts[area] = _counts.get(area, 0) + value


def pytest_terminal_summary(terminalreporter):
    if _counts:
        terminalreporter.section("counted checks")
        for area, n in sorted(_counts.items()):
            terminalreporter.write_line(f"{n:6d}  {area}")
        terminalreporter.write_line(f"{sum(_counts.values()):6d}  in all")
