"""A sandbox and a real environment side by side, for the contract tests that compare what the checks say on
both (tests/test_contract_real_checks.py, tests/test_contract_real_steps.py). Without the real binaries or the
real Velero it fails in CI and skips on a workstation, as every test of the real tier does."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from seatrial.fixtures.real.environment import RealEnvironment
from seatrial.fixtures.real.fixture import require_real_binaries
from seatrial.fixtures.real.velero_build import velero_binaries
from seatrial.fixtures.sandbox.environment import Sandbox
from seatrial.fixtures.tools import tools_required


def both_environments(request, tmp_path_factory) -> Iterator[dict]:
    require_real_binaries(request.config)
    if velero_binaries() is None:
        missing = "the real Velero is not built: make real-binaries"
        if tools_required():
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)
    sandbox = Sandbox(tmp_path_factory.mktemp("sandbox")).start()
    real = None
    try:
        real = RealEnvironment(tmp_path_factory.mktemp("real")).start()
        yield {"sandbox": sandbox, "real": real}
    finally:
        if real is not None:
            real.stop()
        sandbox.stop()
