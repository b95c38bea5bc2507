"""The checks' pytest wiring: configuration, the live context, dependency probes, ordering,
parametrization from the live clusters, root causes (one failure first, the checks it explains
"not judged"), the report header and JUnit properties."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from seatrial.checks.causes import Cause, cause_of
from seatrial.checks.context import NEEDS_NO_CONFIG, REQUIRES, CheckContext, describe_side
from seatrial.checks.verdict import Nothing, Unavailable, message
from seatrial.runbook.checking.check_options import add_options
from seatrial.runbook.errors import SeatrialError
from seatrial.runbook.migration.steps import STEP_ORDER, check_module
from seatrial.runbook.secrets import redact

CONTEXT_KEY = pytest.StashKey[CheckContext]()
ROOT_CAUSE = pytest.StashKey[Cause]()
MODULE_ORDER = [check_module(step)[:-3] for step in STEP_ORDER]


def pytest_addoption(parser):
    add_options(parser)  # idempotent: the root plugin (seatrial.fixtures.checks_plugin) may have added them


def pytest_configure(config):
    config.addinivalue_line("markers", "seatrial_live(argname, factory, ids, allow_empty, empty): "
                                       "parametrize a check from the live clusters")
    config.addinivalue_line("markers",
                            "seatrial_needs(*keys): the prerequisites (seatrial.checks.causes) a check stands on")
    config.addinivalue_line("markers", "seatrial_establishes(key): the check whose subject is that prerequisite")


def context(config) -> CheckContext:
    if CONTEXT_KEY not in config.stash:
        from seatrial.runbook.config import load_config

        path = config.getoption("seatrial_config") or os.environ.get("SEATRIAL_CONFIG")
        if not path:
            raise pytest.UsageError("checks need a configuration: pass --seatrial-config PATH "
                                    "or set SEATRIAL_CONFIG")
        try:
            cfg = load_config(path)
        except SeatrialError as exc:
            raise pytest.UsageError(redact(exc.render())) from None
        config.stash[CONTEXT_KEY] = CheckContext(cfg, backup_option=config.getoption("seatrial_backup"),
                                                 restore_option=config.getoption("seatrial_restore"))
    return config.stash[CONTEXT_KEY]


@pytest.fixture(scope="session")
def ctx(request) -> CheckContext:
    return context(request.config)


def _selected_modules(config) -> set[str]:
    """The check modules this session runs (from its path arguments), to probe what they need."""
    here = Path(__file__).parent.resolve()
    modules: set[str] = set()
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if path == here:
            modules |= {p.stem for p in here.glob("test_*.py")}
        elif path.parent == here and path.suffix == ".py":
            modules.add(path.stem)
    return modules - NEEDS_NO_CONFIG


def pytest_collection(session):
    modules = _selected_modules(session.config)
    if not modules:
        return
    ctx_ = context(session.config)
    needed = {dep for module in modules for dep in REQUIRES.get(module, ())}
    failures = ctx_.unreachable(needed)
    if failures:
        lines = [f"seatrial: {len(failures)} dependenc{'y' if len(failures) == 1 else 'ies'} unreachable; "
                 "no check was run:"]
        lines += [f"  {name}: {reason}" for name, reason in failures.items()]
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            for line in lines:
                reporter.write_line(redact(line), red=line.startswith("  "), bold=not line.startswith("  "))
            pytest.exit(redact(lines[0].rstrip(":")), returncode=3)
        pytest.exit(redact("\n".join(lines)), returncode=3)


def pytest_generate_tests(metafunc):
    for mark in metafunc.definition.iter_markers("seatrial_live"):
        argname = mark.kwargs["argname"]
        what = mark.kwargs["empty"] or argname
        try:
            values = list(mark.kwargs["factory"](context(metafunc.config)))
        except SeatrialError as exc:
            if exc.exit_code == 3:
                _record_dependency_fault(metafunc.config, exc)
            values = [Unavailable(f"the {what} list to check could not be read", exc.message,
                                  exc.fix or "see the message")]
        if not values:
            values = [Nothing(what)] if mark.kwargs["allow_empty"] else \
                [Unavailable(f"no {what} found to check: the check cannot pass on nothing", "an empty list",
                             "check the namespaces and names in the configuration")]
        ids = [repr(v) if isinstance(v, Unavailable | Nothing) else mark.kwargs["ids"](v) for v in values]
        metafunc.parametrize(argname, values, ids=ids)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A client error inside a check (a 404, a refused connection) is a failure that says what and the fix,
    not a traceback through the clients."""
    try:
        return (yield)
    except SeatrialError as exc:
        if exc.exit_code == 3:  # a dependency fault: the session exits 3, the check is not judged
            _record_dependency_fault(item.config, exc)
            raise pytest.fail.Exception(message(f"{item.name} not judged: a dependency failed while it read",
                                                exc.message, exc.fix or "see the message"), pytrace=False) from None
        raise pytest.fail.Exception(message(f"{item.name} could not read what it checks", exc.message,
                                            exc.fix or "see the message"), pytrace=False) from None


DEPENDENCY_FAULTS = pytest.StashKey[list]()


def _record_dependency_fault(config, exc: SeatrialError) -> None:
    config.stash.setdefault(DEPENDENCY_FAULTS, []).append(" ".join(exc.message.split()))


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """A dependency fault met by any check (5xx, 401/403, an answer outside its protocol, after the clients'
    retries) makes the session exit 3, as an unreachable one does: a fault is never a check's verdict."""
    if session.config.stash.get(DEPENDENCY_FAULTS, None) and exitstatus in (0, 1):
        session.exitstatus = 3


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    faults = config.stash.get(DEPENDENCY_FAULTS, None)
    if faults:
        terminalreporter.write_line(redact(f"seatrial: a dependency fault left {len(faults)} check(s) not judged "
                                           f"(exit 3): {faults[0][:400]}"), red=True, bold=True)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """A stand-in parameter never reaches the check: `Unavailable` fails it with its reason, `Nothing`
    (an empty set the check allows) passes it."""
    cause = pyfuncitem.stash.get(ROOT_CAUSE, None)
    if cause is not None:
        raise pytest.fail.Exception(message(cause.what, cause.observed, cause.fix), pytrace=False)
    callspec = getattr(pyfuncitem, "callspec", None)
    values = list(callspec.params.values()) if callspec else []
    for value in values:
        if isinstance(value, Unavailable):
            raise pytest.fail.Exception(message(value.what, value.observed, value.fix), pytrace=False)
    if any(isinstance(value, Nothing) for value in values):
        return True
    return None


def _in_step_order(items) -> None:
    def order(item) -> tuple[int, int]:
        stem = Path(str(item.fspath)).stem
        return (MODULE_ORDER.index(stem) if stem in MODULE_ORDER else len(MODULE_ORDER), 0)

    items.sort(key=order)  # stable: keeps each module's own order


class RootCause(pytest.Item):
    """A false prerequisite that no check of this session establishes: reported by itself, once, first."""

    def __init__(self, *, cause: Cause, **kwargs):
        super().__init__(**kwargs)
        self.cause = cause

    def runtest(self) -> None:
        raise pytest.fail.Exception(message(self.cause.what, self.cause.observed, self.cause.fix), pytrace=False)

    def reportinfo(self):
        return self.path, None, self.name


def _keys(item, marker: str) -> list[str]:
    return [key for mark in item.iter_markers(marker) for key in mark.args]


@pytest.hookimpl(trylast=True)  # after --deselect: only the checks that run decide what is probed
def pytest_collection_modifyitems(session, config, items):
    """One false fact, one failure: the prerequisites the selected checks need are probed once; a false one
    is reported first (by the check that establishes it, or a root_cause item), the checks it explains are
    "not judged: <cause>"."""
    _in_step_order(items)
    needed = {key for item in items for key in _keys(item, "seatrial_needs") + _keys(item, "seatrial_establishes")}
    if not needed:
        return
    ctx_ = context(config)
    failed = {key: cause for key in sorted(needed) if (cause := cause_of(ctx_, key)) is not None}
    if not failed:
        return
    config.stash.setdefault(DEPENDENCY_FAULTS, []).extend(
        f"{cause.what}: {cause.observed}" for cause in failed.values() if cause.dependency_fault)
    reported: set[str] = set()
    blocking: set[str] = set()
    for item in items:
        own = next((failed[key] for key in _keys(item, "seatrial_establishes") if key in failed), None)
        if own is not None and own.key not in reported:
            item.stash[ROOT_CAUSE] = own
            reported.add(own.key)
            continue
        blocked = own or next((failed[key] for key in _keys(item, "seatrial_needs") if key in failed), None)
        if blocked is not None:
            item.add_marker(pytest.mark.skip(reason=redact(blocked.not_judged())))
            blocking.add(blocked.key)
    # a false fact that no check waits on (each waits on an earlier one) explains nothing here: not a second cause
    causes = {cause.key: cause for cause in failed.values() if cause.key not in reported and cause.key in blocking}
    module = items[0].getparent(pytest.Module) or items[0].parent
    roots = [RootCause.from_parent(module, name=f"root_cause[{key}]", cause=cause) for key, cause in causes.items()]
    established = [item for item in items if ROOT_CAUSE in item.stash]
    rest = [item for item in items if ROOT_CAUSE not in item.stash]
    items[:] = roots + established + rest


def pytest_report_header(config):
    if not _selected_modules(config):
        return None
    ctx_ = context(config)  # the header comes before collection: a bad configuration stops here
    return [f"seatrial: source {describe_side(ctx_.config, 'source')} -> target "
            f"{describe_side(ctx_.config, 'target')}",
            f"seatrial: backup {ctx_.backup_name or '(unknown)'}, restore {ctx_.restore_name or '(unknown)'}"]


@pytest.fixture(scope="session", autouse=True)
def _seatrial_junit_properties(request, record_testsuite_property):
    if CONTEXT_KEY not in request.config.stash:
        return
    ctx_ = request.config.stash[CONTEXT_KEY]
    record_testsuite_property("seatrial.source", describe_side(ctx_.config, "source"))
    record_testsuite_property("seatrial.target", describe_side(ctx_.config, "target"))
    record_testsuite_property("seatrial.backup", ctx_.backup_name or "")
    record_testsuite_property("seatrial.restore", ctx_.restore_name or "")


@pytest.fixture
def record_fact(request, record_testsuite_property):
    """Record a fact of this check (a snapshot ID, a digest) in the JUnit file. Suite-level properties
    named `<test id>.<name>`: per-test properties are not allowed by junit_family xunit2, which the runner uses."""

    def record(name: str, value: object) -> None:
        record_testsuite_property(f"{request.node.name}.{name}", redact(str(value)))

    return record
