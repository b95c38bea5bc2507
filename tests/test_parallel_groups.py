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


def test_the_groups_started_first_are_files_that_exist():
    from tests.parallel_groups import LONGEST_FIRST, start_rank

    files = {path.name for path in TESTS.glob("test_*.py")}
    assert LONGEST_FIRST[0] == REAL_GROUP and start_rank(REAL_GROUP) == 0
    assert set(LONGEST_FIRST[1:]) <= files, set(LONGEST_FIRST[1:]) - files
    assert start_rank("test_report.py") == len(LONGEST_FIRST)


def test_a_long_group_starts_before_one_with_more_tests():
    """The scheduler hook (tests/conftest.py) through a real xdist run: test_restic.py is in LONGEST_FIRST,
    test_ports.py is not and (as selected) has more tests, which xdist alone would start first."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "1", "--dist", "loadfile",
                           "-v", "tests/test_ports.py", "tests/test_restic.py", "-k",
                           "ports or (could_not_read_is_a_dependency_fault and stderr0)"],
                          cwd=TESTS.parent, capture_output=True, text=True, timeout=300, check=False)
    ran = re.findall(r"PASSED (tests/\w+\.py)::", done.stdout)
    assert done.returncode == 0 and ran, done.stdout[-3000:]
    assert ran.count("tests/test_ports.py") > ran.count("tests/test_restic.py"), ran
    assert ran[0] == "tests/test_restic.py", ran
