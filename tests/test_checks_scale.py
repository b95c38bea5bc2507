"""A check's requests do not grow with the number of objects: the annotate, backup and restore checks run as
the runner runs them against a scene with 4 and with 40 PVCs (real test API servers, moto behind a counting
proxy) and make the same LIST calls and S3 requests. Counted, not timed."""

from __future__ import annotations

import re

import pytest

from seatrial.fixtures.scale_scene import STEPS, measure


@pytest.fixture(scope="module")
def scenes() -> dict[int, dict]:
    return {count: measure(count) for count in (4, 40)}


@pytest.mark.parametrize("step", STEPS)
def test_checks_make_the_same_requests_for_ten_times_the_objects(scenes: dict[int, dict], step: str):
    small, large = scenes[4][step], scenes[40][step]
    small_kube, small_pages, small_s3, _, small_summary = small
    large_kube, large_pages, large_s3, _, large_summary = large
    for summary in (small_summary, large_summary):  # a scene where checks fail measures the wrong path
        assert re.search(r" passed(, \d+ deselected)? in ", summary), summary
        assert "failed" not in summary and "error" not in summary, summary
    assert small_pages == large_pages == 0  # 40 objects fit in one page
    assert large_kube == small_kube, (step, small_kube, large_kube)
    assert large_s3 == small_s3, (step, small_s3, large_s3)
