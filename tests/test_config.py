"""seatrial.yaml: the example loads; every bad input gets one ConfigError naming the key and the fix."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from seatrial.runbook.config import Config, load_config, render_name
from seatrial.runbook.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "seatrial.yaml"

# Recognisable planted values: tests/test_secrets.py asserts none of them leaks anywhere.
ACCESS_KEY = "AKIAPLANTEDACCESS0001"
SECRET_KEY = "planted-S3-secret+Key/0001"
HARBOR_PASSWORD_ENV = "planted-harbor-pass-env-0001"
HARBOR_PASSWORD_FILE = "planted-harbor-pass-file-0001"
INLINE_PASSWORD = "planted-inline-pass-0001"
REPO_PASSWORD = "planted-repo-pass-0001"
BUCKET_LINE = EXAMPLE.read_text().splitlines().index(next(
    line for line in EXAMPLE.read_text().splitlines() if line.startswith("  bucket:"))) + 1
PLANTED = (ACCESS_KEY, SECRET_KEY, HARBOR_PASSWORD_ENV, HARBOR_PASSWORD_FILE, INLINE_PASSWORD, REPO_PASSWORD)

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: old
  cluster: {server: "https://127.0.0.1:1"}
- name: new
  cluster: {server: "https://127.0.0.1:2"}
users:
- name: admin
  user: {token: not-used}
contexts:
- name: onprem-old
  context: {cluster: old, user: admin}
- name: onprem-new
  context: {cluster: new, user: admin}
current-context: onprem-old
"""


class Workspace:
    """A copy of examples/seatrial.yaml in a temporary directory, with a kubeconfig and credentials file."""

    def __init__(self, root: Path):
        self.root = root
        self.environ = {"HARBOR_PASSWORD": HARBOR_PASSWORD_ENV, "HOME": str(root), "REPO_PASSWORD": REPO_PASSWORD}
        (root / "kubeconfig").write_text(KUBECONFIG)
        (root / "credentials-velero").write_text(
            f"[default]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        )
        (root / "harbor-password").write_text(HARBOR_PASSWORD_FILE + "\n")
        (root / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n")
        self.text = EXAMPLE.read_text().replace("~/.kube/config", "./kubeconfig")
        self.path = root / "seatrial.yaml"

    def data(self) -> dict[str, Any]:
        return yaml.safe_load(self.text)

    def write(self, data: dict[str, Any] | str) -> Path:
        self.path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return self.path

    def load(self, **kwargs: Any) -> Config:
        return load_config(self.path, environ=self.environ, **kwargs)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


# --------------------------------------------------------------------------- the good file


def test_example_loads_with_its_values(workspace: Workspace) -> None:
    workspace.write(workspace.text)
    config = workspace.load()
    assert config.source.context == "onprem-old" and config.target.context == "onprem-new"
    assert config.source.kubeconfig == workspace.root / "kubeconfig"
    assert config.storage.bucket == "velero" and config.storage.prefix == "harbor-move"
    assert config.storage.path_style is True and config.storage.verify is True
    assert config.storage.access_key.reveal() == ACCESS_KEY
    assert config.storage.secret_key.reveal() == SECRET_KEY
    assert config.storage.credentials_file == workspace.root / "credentials-velero"
    assert config.velero.uploader == "kopia" and config.velero.storage_location == "default"
    assert config.harbor.password.reveal() == HARBOR_PASSWORD_ENV
    assert config.harbor.verify_fraction == 1.0 and config.harbor.canary_project == "seatrial-canary"
    assert config.harbor.verify_workers == 4
    assert config.volumes.exclude == tuple(workspace.data()["volumes"]["exclude"])
    assert config.fixup.mode == "resource-modifier"
    assert config.fixup.services["my-harbor"].load_balancer_ip == "192.0.2.10"
    assert config.run_dir == workspace.root / "run"
    assert config.path == workspace.path
    assert not config.run_dir.exists(), "loading must change nothing"
    assert {s.reveal() for s in config.secrets()} == {ACCESS_KEY, SECRET_KEY, HARBOR_PASSWORD_ENV}


def test_csi_directories_are_read_per_cluster_relative_to_the_file(workspace: Workspace) -> None:
    (workspace.root / "target-pv").mkdir()
    (workspace.root / "source-pv").mkdir()
    data = workspace.data()
    data["volumes"]["csi_directories"] = {"target": "target-pv", "source": str(workspace.root / "source-pv")}
    workspace.write(data)
    config = workspace.load()
    assert config.volumes.csi_directories == {"target": workspace.root / "target-pv",
                                              "source": workspace.root / "source-pv"}
    assert config.describe()["volumes"]["csi_directories"]["target"] == str(workspace.root / "target-pv")


def test_optional_sections_get_defaults(workspace: Workspace) -> None:
    data = workspace.data()
    for section in ("velero", "volumes", "fixup", "run_dir"):
        del data[section]
    for key in ("prefix", "region", "path_style", "ca_bundle", "insecure"):
        del data["storage"][key]
    for key in ("username", "ca_bundle", "insecure", "canary_project", "verify_fraction"):
        del data["harbor"][key]
    workspace.write(data)
    config = workspace.load()
    assert (config.velero.namespace, config.velero.uploader, config.velero.storage_location) == (
        "velero",
        "kopia",
        "default",
    )
    assert config.velero.timeout_seconds == 3600 and config.velero.repository_password is None
    assert config.volumes.exclude == () and config.volumes.storage_class_mapping == {}
    assert config.volumes.csi_directories == {}
    assert config.fixup.mode == "resource-modifier" and config.fixup.services == {}
    assert config.run_dir == workspace.root / "run"
    assert config.storage.prefix == "" and config.storage.path_style is True
    assert config.harbor.username == "admin" and config.harbor.verify_fraction == 1.0


def test_paths_expand_home_and_variables_and_resolve_against_the_file(workspace: Workspace) -> None:
    (workspace.root / "secrets").mkdir()
    (workspace.root / "secrets" / "creds").write_text((workspace.root / "credentials-velero").read_text())
    data = workspace.data()
    data["source"]["kubeconfig"] = "~/kubeconfig"
    data["target"]["kubeconfig"] = "${KUBEDIR}/kubeconfig"
    data["storage"]["credentials_file"] = "secrets/creds"
    data["run_dir"] = "out/run"
    workspace.environ["KUBEDIR"] = str(workspace.root)
    workspace.write(data)
    config = workspace.load()
    assert config.source.kubeconfig == workspace.root / "kubeconfig"
    assert config.target.kubeconfig == workspace.root / "kubeconfig"
    assert config.storage.credentials_file == workspace.root / "secrets" / "creds"
    assert config.run_dir == workspace.root / "out" / "run"


def test_kubeconfig_defaults_to_the_first_kubeconfig_variable_entry(workspace: Workspace) -> None:
    data = workspace.data()
    del data["source"]["kubeconfig"], data["target"]["kubeconfig"]
    workspace.write(data)
    workspace.environ["KUBECONFIG"] = f"{workspace.root / 'kubeconfig'}:/elsewhere/config"
    assert workspace.load().target.kubeconfig == workspace.root / "kubeconfig"
    del workspace.environ["KUBECONFIG"]
    (workspace.root / ".kube").mkdir()
    (workspace.root / "kubeconfig").rename(workspace.root / ".kube" / "config")  # HOME is the workspace
    assert workspace.load().source.kubeconfig == workspace.root / ".kube" / "config"


def test_password_file_ca_bundle_insecure_and_repository_password(workspace: Workspace) -> None:
    data = workspace.data()
    del data["harbor"]["password_env"]
    data["harbor"]["password_file"] = "harbor-password"
    data["harbor"]["ca_bundle"] = "ca.pem"
    data["storage"]["insecure"] = True
    data["velero"]["repository_password_env"] = "REPO_PASSWORD"
    workspace.write(data)
    config = workspace.load()
    assert config.harbor.password.reveal() == HARBOR_PASSWORD_FILE  # trailing newline dropped
    assert config.harbor.verify == str(workspace.root / "ca.pem")
    assert config.storage.verify is False
    assert config.velero.repository_password is not None
    assert config.velero.repository_password.reveal() == REPO_PASSWORD


def test_check_contexts_false_reads_no_kubeconfig(workspace: Workspace) -> None:
    data = workspace.data()
    data["source"]["kubeconfig"] = "./not-yet-there"
    data["source"]["context"] = "created-later"
    workspace.write(data)
    config = workspace.load(check_contexts=False)
    assert config.source.context == "created-later"


def test_render_name_fills_placeholders_into_a_kubernetes_name() -> None:
    now = datetime(2026, 11, 25, 21, 7, 40, tzinfo=UTC)
    name = render_name("Seatrial-{release}-{namespace}-{timestamp}", release="my-harbor", namespace="harbor", now=now)
    assert name == "seatrial-my-harbor-harbor-20261125210740"
    first = render_name("s-{random}", release="r", namespace="n", now=now)
    second = render_name("s-{random}", release="r", namespace="n", now=now)
    assert first != second and len(first) == len("s-") + 6


@pytest.mark.parametrize(
    ("template", "phrase"),
    [
        ("seatrial-{date}", "unknown placeholder {date}"),
        ("seatrial-{release", "unbalanced brace"),
        ("x" * 50 + "-{timestamp}", "Kubernetes allows 63"),
        ("seatrial_{release}", "not a valid Kubernetes name"),
    ],
)
def test_render_name_refuses_bad_templates_naming_the_key(template: str, phrase: str) -> None:
    with pytest.raises(ConfigError) as caught:
        render_name(template, release="my-harbor", namespace="harbor", key="velero.restore_name")
    assert caught.value.key == "velero.restore_name"
    assert phrase in caught.value.message and caught.value.fix


# --------------------------------------------------------------------------- bad files, one error each


@dataclass(frozen=True)
class Bad:
    id: str
    change: Callable[[Workspace], None]  # edits the workspace: files, environment, the YAML
    key: str  # the dotted key the error must name
    fix: str  # a phrase the fix line must hold
    message: str = ""  # a phrase the message must hold


def edit(function: Callable[[dict[str, Any]], None]) -> Callable[[Workspace], None]:
    def change(workspace: Workspace) -> None:
        data = workspace.data()
        function(data)
        workspace.write(data)

    return change


def files(function: Callable[[Workspace], None]) -> Callable[[Workspace], None]:
    def change(workspace: Workspace) -> None:
        workspace.write(workspace.text)
        function(workspace)

    return change


def _set(section: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        data[section][key] = value

    return apply


def _delete(section: str, key: str) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        del data[section][key]

    return apply


def _all(*functions: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        for function in functions:
            function(data)

    return apply


def _rename(section: str, old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        data[section][new] = data[section].pop(old)

    return apply


def _top(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        data[key] = value

    return apply


def _write(name: str, text: str) -> Callable[[Workspace], None]:
    return lambda w: (w.root / name).write_text(text) and None


def _remove(name: str) -> Callable[[Workspace], None]:
    return lambda w: (w.root / name).unlink()


def _unset(variable: str) -> Callable[[Workspace], None]:
    return lambda w: w.environ.pop(variable) and None


def _raw(text_edit: Callable[[str], str]) -> Callable[[Workspace], None]:
    return lambda w: w.write(text_edit(w.text)) and None


BAD_CONFIGS = [
    Bad("typo-key", edit(_rename("storage", "bucket", "bukcet")), "storage.bukcet", "rename it to storage.bucket",
        "did you mean storage.bucket?"),
    Bad("typo-section", edit(_top("harbour", {})), "harbour", "rename it to harbor"),
    Bad("unknown-key-far", edit(_set("velero", "colour", "blue")), "velero.colour", "known keys here"),
    Bad("missing-key", edit(_delete("storage", "endpoint")), "storage.endpoint", "set storage.endpoint"),
    Bad("missing-section", edit(lambda d: d.pop("harbor")), "harbor", "add a `harbor:` section"),
    Bad("wrong-type-bool", edit(_set("storage", "path_style", "yes")), "storage.path_style",
        "storage.path_style: true or", "expected a boolean, got a string"),
    Bad("wrong-type-int", edit(_set("velero", "timeout_seconds", "1h")), "velero.timeout_seconds", "as a whole number"),
    Bad("wrong-type-float", edit(_set("velero", "timeout_seconds", 1.5)), "velero.timeout_seconds", "whole number",
        "got a decimal number"),
    Bad("wrong-type-section", edit(_top("storage", "s3://velero")), "storage", "with keys below", "got a string"),
    Bad("no-config-file", lambda w: None, "config", "SEATRIAL_CONFIG", "not found"),
    Bad("malformed-yaml", _raw(lambda t: t.replace("  bucket: velero", "  bucket: [velero")), "config",
        "YAML syntax", f"flow sequence that starts at line {BUCKET_LINE}"),
    Bad("not-utf8", lambda w: w.path.write_bytes(b"source:\n  context: \xff\xfe\n") and None, "config",
        "save it as UTF-8", "UnicodeDecodeError"),
    Bad("duplicate-key", _raw(lambda t: t.replace("  bucket: velero", "  bucket: velero\n  bucket: other")),
        "storage.bucket", "keep one", f"given twice (lines {BUCKET_LINE} and {BUCKET_LINE + 1})"),
    Bad("kubeconfig-missing", files(_remove("kubeconfig")), "source.kubeconfig", "existing kubeconfig"),
    Bad("unknown-context", edit(_set("target", "context", "onprem-nwe")), "target.context", "get-contexts",
        "contexts there: onprem-old, onprem-new"),
    Bad("url-no-scheme", edit(_set("storage", "endpoint", "minio.example.internal:9000")), "storage.endpoint",
        "https://host", "http:// or https://"),
    Bad("url-no-host", edit(_set("harbor", "target_url", "https://")), "harbor.target_url", "https://host"),
    Bad("url-ftp", edit(_set("harbor", "source_url", "ftp://harbor.example")), "harbor.source_url", "https://host"),
    Bad("url-with-credentials", edit(_set("harbor", "source_url", f"https://admin:{INLINE_PASSWORD}@h.example")),
        "harbor.source_url", "remove user:password@"),
    Bad("http-with-ca", edit(_all(_set("storage", "endpoint", "http://minio:9000"), _set("storage", "ca_bundle",
        "ca.pem"))), "storage.ca_bundle", "use https://"),
    Bad("bucket-with-slash", edit(_set("storage", "bucket", "velero/harbor")), "storage.bucket",
        "put the prefix in storage.prefix", "contains '/'"),
    Bad("bucket-bad-name", edit(_set("storage", "bucket", "Velero_Backups")), "storage.bucket", "3-63 lower-case"),
    Bad("credentials-missing", files(_remove("credentials-velero")), "storage.credentials_file", "create it"),
    Bad("credentials-no-header", files(_write("credentials-velero", f"aws_access_key_id={ACCESS_KEY}\n")),
        "storage.credentials_file", "[default]", "line 1"),
    Bad("credentials-no-secret", files(_write("credentials-velero", f"[default]\naws_access_key_id={ACCESS_KEY}\n")),
        "storage.credentials_file", "aws_secret_access_key", "no aws_secret_access_key"),
    Bad("credentials-garbage", files(_write("credentials-velero", f"[default]\n{SECRET_KEY}\n")),
        "storage.credentials_file", "[default]", "lines that are not"),
    Bad("inline-password", edit(_set("harbor", "password", INLINE_PASSWORD)), "harbor.password", "password_env",
        "must not be written"),
    Bad("inline-s3-key", edit(_set("storage", "secret_key", INLINE_PASSWORD)), "storage.secret_key",
        "credentials_file"),
    Bad("password-env-unset", files(_unset("HARBOR_PASSWORD")), "harbor.password_env", "export HARBOR_PASSWORD"),
    Bad("password-env-and-file", edit(_set("harbor", "password_file", "harbor-password")), "harbor.password_file",
        "only one"),
    Bad("password-none", edit(_delete("harbor", "password_env")), "harbor.password_env", "password_file"),
    Bad("password-file-missing", edit(_all(_delete("harbor", "password_env"), _set("harbor", "password_file",
        "nope"))), "harbor.password_file", "create it"),
    Bad("repo-password-env-unset", edit(_set("velero", "repository_password_env", "NOT_SET_ANYWHERE")),
        "velero.repository_password_env", "export NOT_SET_ANYWHERE"),
    Bad("uploader", edit(_set("velero", "uploader", "velero")), "velero.uploader", "restic or kopia"),
    Bad("fraction-zero", edit(_set("harbor", "verify_fraction", 0)), "harbor.verify_fraction", "1.0"),
    Bad("fraction-text", edit(_set("harbor", "verify_fraction", "all")), "harbor.verify_fraction", "as a number",
        "expected a number, got a string"),
    Bad("fraction-big", edit(_set("harbor", "verify_fraction", 1.5)), "harbor.verify_fraction", "1.0"),
    Bad("workers-zero", edit(_set("harbor", "verify_workers", 0)), "harbor.verify_workers", "4 is the default",
        "from 1 to 64"),
    Bad("workers-many", edit(_set("harbor", "verify_workers", 1000)), "harbor.verify_workers", "4 is the default",
        "from 1 to 64"),
    Bad("workers-text", edit(_set("harbor", "verify_workers", "eight")), "harbor.verify_workers", "whole number"),
    Bad("workers-fraction", edit(_set("harbor", "verify_workers", 2.5)), "harbor.verify_workers", "whole number"),
    Bad("insecure-and-ca", edit(_all(_set("harbor", "insecure", True), _set("harbor", "ca_bundle", "ca.pem"))),
        "harbor.insecure", "harbor.insecure: false"),
    Bad("load-balancer-ip", edit(lambda d: d["fixup"]["services"]["my-harbor"].update(loadBalancerIP="10.0.0.300")),
        "fixup.services.my-harbor.loadBalancerIP", "IPv4"),
    Bad("fixup-mode", edit(_set("fixup", "mode", "later")), "fixup.mode", "resource-modifier"),
    Bad("same-cluster", edit(_set("target", "context", "onprem-old")), "target.context", "point target"),
    Bad("template-placeholder", edit(_set("velero", "backup_name", "bk-{date}")), "velero.backup_name",
        "{timestamp}", "unknown placeholder {date}"),
    Bad("template-too-long", edit(_set("velero", "restore_name", "r" * 50 + "-{release}-{timestamp}")),
        "velero.restore_name", "shorten"),
    Bad("namespace-invalid", edit(_set("source", "namespace", "Harbor_NS")), "source.namespace", "lower-case"),
    Bad("exclude-entry", edit(_set("volumes", "exclude", ["redis:"])), "volumes.exclude", "my-harbor-redis:data"),
    Bad("unset-variable-in-path", edit(_set("storage", "credentials_file", "$NO_SUCH_DIR/creds")),
        "storage.credentials_file", "export NO_SUCH_DIR"),
    Bad("csi-directories-list", edit(_set("volumes", "csi_directories", ["pv"])), "volumes.csi_directories",
        "mapping", "expected a mapping"),
    Bad("csi-directories-side", edit(_set("volumes", "csi_directories", {"targt": "."})),
        "volumes.csi_directories.targt", "rename it to volumes.csi_directories.target"),
    Bad("csi-directories-context", edit(_set("volumes", "csi_directories", {"onprem-new": "."})),
        "volumes.csi_directories.onprem-new", "known keys here: source, target"),
    Bad("csi-directories-missing", edit(_set("volumes", "csi_directories", {"target": "no-such-pv"})),
        "volumes.csi_directories.target", "CSI volumes, one directory per volumeHandle", "not found"),
    Bad("csi-directories-file", edit(_set("volumes", "csi_directories", {"source": "kubeconfig"})),
        "volumes.csi_directories.source", "point it at the directory", "is not a directory"),
    Bad("csi-directories-empty", edit(_set("volumes", "csi_directories", {"target": " "})),
        "volumes.csi_directories.target", "set volumes.csi_directories.target", "must not be empty"),
]


def apply(workspace: Workspace, bad: Bad) -> ConfigError:
    bad.change(workspace)
    with pytest.raises(ConfigError) as caught:
        workspace.load()
    return caught.value


@pytest.mark.parametrize("bad", BAD_CONFIGS, ids=[b.id for b in BAD_CONFIGS])
def test_bad_config_names_the_key_and_the_fix(workspace: Workspace, bad: Bad) -> None:
    error = apply(workspace, bad)
    assert error.key == bad.key, error.render()
    assert error.message.startswith(f"{bad.key}: "), error.render()
    assert bad.message in error.message, error.render()
    assert error.fix and bad.fix in error.fix, error.render()
    assert error.exit_code == 2
    assert error.__suppress_context__ or error.__context__ is None  # no chained traceback to print
    assert not (workspace.root / "run").exists(), "a bad configuration must change nothing"


def test_the_table_is_big_enough() -> None:
    assert len({b.key for b in BAD_CONFIGS}) >= 14


def test_cli_on_a_bad_config_exits_2_with_one_error_line(workspace: Workspace) -> None:
    edit(_rename("storage", "bucket", "bukcet"))(workspace)
    result = subprocess.run(
        [sys.executable, "-m", "seatrial.runbook.cli", "-c", str(workspace.path), "plan"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **workspace.environ},
        cwd=workspace.root,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == "seatrial: error: storage.bukcet: unknown key; did you mean storage.bucket?"
    assert lines[1:] == ["  fix: rename it to storage.bucket (see docs/troubleshooting.md#configuration-errors-exit-2)"]
    assert "Traceback" not in result.stderr and result.stdout == ""
