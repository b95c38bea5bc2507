"""Which worker group a test file belongs to when the tests run in parallel (`make test`: pytest-xdist,
`-n 3 --dist loadfile`). A worker takes whole groups: one test file is one group, so a module's shared environment
(a sandbox, a wheel, a kind set-up) is built once, not once per worker; the real environment's tier is ONE group, so
its clusters (1.1 GiB each, and the programs they run) never run twice at once."""

from __future__ import annotations

REAL_TIER = ("test_real_", "test_contract_real")
REAL_GROUP = "real-environment"


def group_of(file_name: str) -> str:
    return REAL_GROUP if file_name.startswith(REAL_TIER) else file_name
