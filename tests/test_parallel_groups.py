"""The tests' worker groups: every file of the real environment's tier shares one group (two real environments at
once would compete for the machine), and every other file is a group of its own (its module fixtures built once)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.parallel_groups import REAL_GROUP, group_of

TESTS = Path(__file__).resolve().parent
REAL_MARK = re.compile(r"^pytestmark = pytest\.mark\.real|^@pytest\.mark\.real", re.M)


def test_every_file_marked_real_is_in_the_real_group():
    marked = [path.name for path in TESTS.glob("test_*.py") if REAL_MARK.search(path.read_text())]
    assert marked, "no test file carries the real marker: the pattern above no longer finds them"
    assert {name: group_of(name) for name in marked} == dict.fromkeys(marked, REAL_GROUP)


def test_any_other_file_is_a_group_of_its_own():
    others = [path.name for path in TESTS.glob("test_*.py") if group_of(path.name) != REAL_GROUP]
    assert len(set(map(group_of, others))) == len(others) > 50
    assert group_of("test_wheel.py") == "test_wheel.py" and group_of("test_real_env.py") == REAL_GROUP
