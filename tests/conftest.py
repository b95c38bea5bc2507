"""How the tests share the xdist workers (`make test`: `-n 3 --dist loadfile`): by the groups of
tests/parallel_groups.py, a file each and the real environment's tier as one."""

from __future__ import annotations

import pytest

from tests.parallel_groups import group_of, start_rank


# Not `--dist loadgroup` with xdist_group marks: xdist 3.8 applies a mark by rewriting `item._nodeid`, which pytest 9
# no longer reads, so every test became a group of its own and a module's tests ran on both workers.
@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid.split("::", 1)[0].rsplit("/", 1)[-1])

        def _assign_work_unit(self, node) -> None:
            # the long groups go out first; among the rest, xdist's own order (by number of tests). Only the choice of
            # the next group changes: the indexes sent to a worker stay those of its own collection
            first = min(self.workqueue, key=start_rank)
            self.workqueue.move_to_end(first, last=False)
            super()._assign_work_unit(node)

    return ByGroup(config, log)
