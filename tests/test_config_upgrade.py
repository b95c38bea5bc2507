"""The `upgrade:` section of seatrial.yaml: the example's entry loads; bad input names the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from seatrial.runbook.errors import ConfigError
from tests.test_config import Workspace

CHART = "harbor-1.19.1.tgz"


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return Workspace(tmp_path)


def test_the_examples_upgrade_entry_loads(workspace):
    workspace.write(workspace.text)
    upgrade = workspace.load().upgrade
    assert upgrade.enabled and upgrade.chart == "harbor" and upgrade.repo == "https://helm.goharbor.io"
    assert upgrade.version == "1.19.1" and upgrade.values == () and upgrade.rollback_on_failure is False


def test_no_upgrade_section_means_no_upgrade(workspace):
    data = workspace.data()
    del data["upgrade"]
    workspace.write(data)
    assert not workspace.load().upgrade.enabled


def test_a_local_chart_and_values_resolve_next_to_the_file(workspace):
    (workspace.root / CHART).write_bytes(b"not read at load")
    (workspace.root / "values.yaml").write_text("updateStrategy: {type: Recreate}\n")
    data = workspace.data()
    data["upgrade"] = {"chart": CHART, "values": ["values.yaml"], "set": ["a.b=c"], "accept_removed": ["chartmuseum"],
                       "rollback_on_failure": True, "timeout_seconds": 60, "reuse_values": True}
    workspace.write(data)
    upgrade = workspace.load().upgrade
    assert upgrade.chart == str(workspace.root / CHART) and upgrade.values == (workspace.root / "values.yaml",)
    assert upgrade.set == ("a.b=c",) and upgrade.accept_removed == ("chartmuseum",) and upgrade.rollback_on_failure
    assert upgrade.reuse_values


@pytest.mark.parametrize(("section", "key", "says"), [
    ({"chart": "missing.tgz"}, "upgrade.chart", "chart not found"),
    ({"chart": "harbor", "repo": "https://x", "values": ["nope.yaml"]}, "upgrade.values[0]", "values file not found"),
    ({"chart": "harbor", "repo": "https://x", "set": ["novalue"]}, "upgrade.set[0]", "KEY=VALUE"),
    ({"chart": "harbor", "repo": "https://x", "timeout_seconds": 0}, "upgrade.timeout_seconds", "positive"),
    ({"chart": "harbor", "repo": "https://x", "rollback_on_failure": "yes"}, "upgrade.rollback_on_failure", "true"),
    ({"chart": "harbor", "repo": "https://x", "force": True}, "upgrade.force", "spec is immutable after creation"),
    ({"chart": "harbor", "repo": "https://x", "wait": True}, "upgrade.wait", "unknown key"),
    ({"repo": "https://x"}, "upgrade.chart", "missing required key"),
    ({"chart": "harbor", "repo": "https://x", "timeout_seconds": 10**400}, "upgrade.timeout_seconds", "a day"),
    ({"chart": "oci://"}, "upgrade.chart", "not an OCI chart reference"),
    ({"chart": "harbor", "repo": "not a url"}, "upgrade.repo", "malformed URL"),
    ({"chart": "harbor", "repo": "https://x", "values": ["/etc"]}, "upgrade.values[0]", "/etc is a directory"),
])
def test_bad_upgrade_sections_name_the_key(workspace, section, key, says):
    data = workspace.data()
    data["upgrade"] = section
    workspace.write(data)
    with pytest.raises(ConfigError) as raised:
        workspace.load()
    assert raised.value.key == key and says in raised.value.render()


def test_a_version_for_a_local_chart_is_refused(workspace):
    (workspace.root / CHART).write_bytes(b"")
    data = workspace.data()
    data["upgrade"] = {"chart": CHART, "version": "1.19.1"}
    workspace.write(data)
    with pytest.raises(ConfigError) as raised:
        workspace.load()
    assert raised.value.key == "upgrade.version"


def test_a_chart_name_and_version_without_a_repo_is_the_chart_seatrial_ships(workspace):
    from seatrial.charts import chart_path

    data = workspace.data()
    data["upgrade"] = {"chart": "harbor", "version": "1.19.1"}
    workspace.write(data)
    upgrade = workspace.load().upgrade
    assert Path(upgrade.chart) == chart_path("harbor", "1.19.1") and upgrade.version is None and upgrade.repo is None
    data["upgrade"] = {"chart": "harbor", "version": "1.99.0"}
    workspace.write(data)
    with pytest.raises(ConfigError) as raised:
        workspace.load()
    assert raised.value.key == "upgrade.version" and "upgrade.repo" in raised.value.render()


def test_rollback_on_failure_from_the_command_line_reaches_the_step(workspace):
    from seatrial.runbook.cli import build_parser
    from seatrial.runbook.commands import _context

    workspace.write(workspace.text)
    config = workspace.load()
    for argv in (["run", "--from", "upgrade", "--rollback-on-failure"], ["step", "upgrade", "--rollback-on-failure"]):
        assert _context(build_parser().parse_args(argv), config).rollback_on_failure
    from seatrial.runbook.migration.steps import upgrade

    ctx = _context(build_parser().parse_args(["step", "upgrade", "--rollback-on-failure"]), config)
    assert upgrade.plan(ctx)[-1].endswith("roll back on failure")
    assert not _context(build_parser().parse_args(["step", "upgrade"]), config).rollback_on_failure


# ------------------------------------------------------------------- validated at load: nothing runs on bad input

REMOTE = {"chart": "harbor", "repo": "https://helm.goharbor.io", "version": "1.19.1"}


@pytest.mark.parametrize(("values_text", "says"), [
    ("expose: [type: clusterIP\n", "not valid YAML at line"),
    ("expose:\n\ttype: clusterIP\n", "TAB indents the line"),
    ("- a list\n- not a map\n", "holds a list, not a map of values"),
])
def test_a_values_file_helm_cannot_read_is_refused_at_load(workspace, values_text, says):
    (workspace.root / "values.yaml").write_text(values_text)
    data = workspace.data()
    data["upgrade"] = {**REMOTE, "values": ["values.yaml"]}
    workspace.write(data)
    with pytest.raises(ConfigError) as raised:
        workspace.load()
    assert raised.value.key == "upgrade.values[0]" and says in raised.value.render(), raised.value.render()


def test_a_tab_after_a_value_is_legal_yaml_as_helm_reads_it(workspace):
    (workspace.root / "values.yaml").write_text("expose:\n  type: clusterIP\t# a comment after a TAB\n")
    data = workspace.data()
    data["upgrade"] = {**REMOTE, "values": ["values.yaml"]}
    workspace.write(data)
    assert workspace.load().upgrade.values == (workspace.root / "values.yaml",)


def test_an_upgrade_section_without_a_chart_is_refused(workspace):
    data = workspace.data()
    data["upgrade"] = {}
    workspace.write(data)
    with pytest.raises(ConfigError) as raised:
        workspace.load()
    assert raised.value.key == "upgrade.chart" and "missing required key" in raised.value.render()


@pytest.mark.parametrize("accepted", [["nosuchthing"], ["chartmuseum", "chartmusem"]])
def test_an_unknown_accept_removed_component_is_refused(workspace, accepted):
    data = workspace.data()
    data["upgrade"] = {**REMOTE, "accept_removed": accepted}
    workspace.write(data)
    with pytest.raises(ConfigError) as raised:
        workspace.load()
    assert raised.value.key == "upgrade.accept_removed" and accepted[-1] in raised.value.message
    assert "registry" in raised.value.fix


@pytest.mark.parametrize(("expression", "says"), [
    ("a[=1", "malformed list index"),
    ("x[y]=1", "malformed list index"),
    ("=1", "no key before '='"),
])
def test_a_set_helm_would_misread_is_refused(workspace, expression, says):
    data = workspace.data()
    data["upgrade"] = {**REMOTE, "set": ["a.b=c", expression]}
    workspace.write(data)
    with pytest.raises(ConfigError) as raised:
        workspace.load()
    assert raised.value.key == "upgrade.set[1]" and says in raised.value.render(), raised.value.render()
