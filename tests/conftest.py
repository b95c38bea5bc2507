"""Gives every test its worker group (tests/parallel_groups.py) when it runs on an xdist worker."""

from __future__ import annotations

import pytest

from tests.parallel_groups import group_of


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not hasattr(config, "workerinput"):  # not an xdist worker: nothing is shared with another process
        return
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(group_of(item.path.name)))
