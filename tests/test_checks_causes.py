"""The root-cause registry (checks/causes.py) in itself: a fact is probed once per session, a probe that
cannot read what it needs is a cause that says so, and a fact that stands on a false one returns that
cause unchanged (one root cause, never a second guess about its consequences)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_config import Workspace

from seatrial.checks.causes import PREREQUISITES, Cause, cause_of, prerequisite
from seatrial.checks.context import CheckContext
from seatrial.runbook.errors import ApiError


@pytest.fixture
def ctx(tmp_path: Path):
    workspace = Workspace(tmp_path)
    workspace.write(workspace.text)
    yield CheckContext(workspace.load())
    for key in [k for k in PREREQUISITES if k.startswith("test-")]:
        del PREREQUISITES[key]


def test_a_fact_is_probed_once_per_session(ctx: CheckContext) -> None:
    calls = []

    @prerequisite("test-once", "the probe is counted")
    def _probe(ctx_):
        calls.append(1)
        return Cause("test-once", "it is false", "seen", "fix it")

    assert cause_of(ctx, "test-once") is cause_of(ctx, "test-once")
    assert len(calls) == 1


def test_a_probe_that_cannot_read_is_a_cause_naming_what_it_tried(ctx: CheckContext) -> None:
    @prerequisite("test-broken", "the thing answers")
    def _probe(ctx_):
        raise ApiError("GET /api/v2.0/users/current answered 502 Bad Gateway", status=502, fix="check the proxy")

    cause = cause_of(ctx, "test-broken")
    assert cause.what == "could not find out whether the thing answers"
    assert cause.observed == "GET /api/v2.0/users/current answered 502 Bad Gateway" and cause.fix == "check the proxy"
    assert cause.not_judged() == "not judged: could not find out whether the thing answers"


def test_a_fact_standing_on_a_false_one_returns_that_cause(ctx: CheckContext) -> None:
    probed = []
    root = Cause("test-parent", "the parent is false", "seen", "fix the parent")

    @prerequisite("test-parent", "the parent holds")
    def _parent(ctx_):
        return root

    @prerequisite("test-child", "the child holds", after=("test-parent",))
    def _child(ctx_):
        probed.append(1)
        return Cause("test-child", "a consequence", "seen", "a guess")

    assert cause_of(ctx, "test-child") is root
    assert not probed, "the child's own probe must not run when what it stands on is false"


def test_a_true_fact_is_no_cause(ctx: CheckContext) -> None:
    @prerequisite("test-true", "it holds")
    def _probe(ctx_):
        return None

    assert cause_of(ctx, "test-true") is None
