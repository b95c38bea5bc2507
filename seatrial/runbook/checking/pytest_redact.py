"""pytest plugin: scrub known secrets from every test and collection report.

Reports are scrubbed as they are made, before any reporter sees them, so the terminal, the short
summary, `--junitxml` and `--showlocals` output all carry the mask instead of a secret value
(an assertion like `assert password.reveal() == ...` otherwise prints the value).

As a last pass, the `--junitxml` file is scrubbed once more after pytest wrote it (it also holds
session-level properties from `record_testsuite_property`, which no report carries).

Load it with `-p seatrial.runbook.checking.pytest_redact` or `pytest_plugins =
["seatrial.runbook.checking.pytest_redact"]`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from seatrial.runbook.secrets import redact


def scrub(value: Any) -> Any:
    """Redact every string inside `value` (strings, lists, tuples, dicts, dataclasses, in place)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        value[:] = [scrub(item) for item in value]
        return value
    if isinstance(value, tuple):
        return type(value)(*[scrub(item) for item in value]) if hasattr(value, "_fields") else tuple(
            scrub(item) for item in value
        )
    if isinstance(value, dict):
        for key in list(value):
            value[key] = scrub(value[key])
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for item in dataclasses.fields(value):
            object.__setattr__(value, item.name, scrub(getattr(value, item.name)))
        return value
    return value


def scrub_report(report: pytest.TestReport | pytest.CollectReport) -> None:
    if report.longrepr is not None:
        report.longrepr = scrub(report.longrepr)
        text = str(report.longrepr)
        if redact(text) != text:  # a representation the walk did not reach: keep only the scrubbed text
            report.longrepr = redact(text)
    report.sections = [(title, redact(content)) for title, content in report.sections]
    if isinstance(report, pytest.TestReport):
        report.user_properties = [(name, scrub(value)) for name, value in report.user_properties]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    scrub_report(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    report = yield
    scrub_report(report)
    return report


def redact_file(path: str | Path) -> bool:
    """Rewrite a text file with every known secret masked; True if something was masked."""
    file = Path(path)
    if not file.is_file():
        return False
    text = file.read_text(encoding="utf-8")
    clean = redact(text)
    if clean != text:
        file.write_text(clean, encoding="utf-8")
    return clean != text


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    # Runs after the junitxml plugin wrote its file in pytest_sessionfinish.
    xmlpath = getattr(config.option, "xmlpath", None)
    if xmlpath:
        redact_file(xmlpath)
