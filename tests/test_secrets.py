"""Planted secret values appear in no output: errors, describe(), repr, logs, the CLI, pytest and JUnit."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_config import (  # the table and the workspace with planted values live there
    ACCESS_KEY,
    BAD_CONFIGS,
    HARBOR_PASSWORD_ENV,
    HARBOR_PASSWORD_FILE,
    PLANTED,
    REPO_PASSWORD,
    SECRET_KEY,
    Bad,
    Workspace,
    apply,
)

from seatrial.runbook import cli
from seatrial.runbook.config import Config
from seatrial.runbook.errors import Unreachable
from seatrial.runbook.log import get_logger, reset_logging, setup_logging
from seatrial.runbook.secrets import MASK


def assert_clean(text: str, where: str) -> None:
    leaked = [value for value in PLANTED if value in text]
    assert not leaked, f"{where} leaks {len(leaked)} planted secret(s)"


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


@pytest.fixture
def loaded(workspace: Workspace) -> Config:
    """The example with every secret source in use: S3 keys, Harbor password from a file, repo password from env."""
    data = workspace.data()
    del data["harbor"]["password_env"]
    data["harbor"]["password_file"] = "harbor-password"
    data["velero"]["repository_password_env"] = "REPO_PASSWORD"
    workspace.write(data)
    return workspace.load()


@pytest.fixture
def logging_reset():
    yield
    reset_logging()


@pytest.mark.parametrize("bad", BAD_CONFIGS, ids=[b.id for b in BAD_CONFIGS])
def test_no_error_message_holds_a_secret(workspace: Workspace, bad: Bad) -> None:
    error = apply(workspace, bad)
    assert_clean(str(error), f"error {bad.id}")
    assert_clean(repr(error), f"repr of error {bad.id}")


def test_describe_and_repr_mask_every_secret(loaded: Config) -> None:
    assert {s.reveal() for s in loaded.secrets()} == {ACCESS_KEY, SECRET_KEY, HARBOR_PASSWORD_FILE, REPO_PASSWORD}
    described = loaded.describe()
    assert_clean(str(described), "describe()")
    assert_clean(repr(loaded), "repr(config)")
    assert_clean(str(loaded), "str(config)")
    assert described["storage"]["secret_key"] == MASK and described["harbor"]["password"] == MASK


def test_logs_at_debug_hold_no_secret(loaded: Config, tmp_path: Path, capsys, logging_reset) -> None:
    log_file = tmp_path / "logs" / "seatrial.log"
    setup_logging(2, log_file)
    log = get_logger("test")
    password = loaded.harbor.password.reveal()
    log.debug("configuration: %s", loaded)
    log.debug("described: %s", loaded.describe())
    log.info("careless: key=%s secret=%s", loaded.storage.access_key.reveal(), loaded.storage.secret_key.reveal())
    log.warning(f"careless f-string: {password} and {loaded.velero.repository_password.reveal()}")
    logging.getLogger("botocore.auth").debug("Authorization: AWS4 Credential=%s/...", ACCESS_KEY)
    try:
        raise Unreachable(f"cannot log in with {password}")
    except Unreachable:
        log.exception("while talking to Harbor")
    stderr = capsys.readouterr().err
    written = log_file.read_text()
    for text, where in ((stderr, "console log"), (written, "log file")):
        assert_clean(text, where)
        assert "careless: key=***" in text and "while talking to Harbor" in text and "Traceback" in text
    assert "Credential=***" in written  # library loggers pass the same filter


@pytest.mark.parametrize("verbosity", [0, 1])
def test_a_library_that_sets_its_own_logger_to_info_stays_quiet_below_debug_verbosity(capsys, logging_reset,
                                                                                       monkeypatch, verbosity):
    """werkzeug sets its logger to INFO on its first access line: a server thread of the same process (the
    sandbox's S3) then printed 'INFO werkzeug: ... HEAD /velero' into a CLI's one-line error."""
    setup_logging(verbosity)
    library = logging.getLogger("werkzeug")
    monkeypatch.setattr(library, "level", logging.INFO)
    library.info('127.0.0.1 - - "HEAD /velero HTTP/1.1" 200 -')
    library.warning("a library warning")
    get_logger("test").info("seatrial's own line")
    err = capsys.readouterr().err
    assert "HEAD /velero" not in err and "a library warning" in err and "seatrial's own line" in err


def _env(workspace: Workspace) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **workspace.environ}


def test_cli_output_holds_no_secret(loaded: Config, workspace: Workspace) -> None:
    good = subprocess.run(
        [sys.executable, "-m", "seatrial.runbook.cli", "-vv", "-c", str(workspace.path), "plan"],
        capture_output=True, text=True, env=_env(workspace), timeout=60,
    )
    assert good.returncode == 3, good.stderr  # its clusters are unreachable: a clean one-line error
    assert "configuration" in good.stderr and "loaded" in good.stderr  # the debug line ran
    bad_runs = []
    for bad in BAD_CONFIGS:
        if bad.id in ("inline-password", "inline-s3-key", "url-with-credentials", "credentials-garbage"):
            bad.change(workspace)
            bad_runs.append(subprocess.run(
                [sys.executable, "-m", "seatrial.runbook.cli", "-vv", "-c", str(workspace.path), "run", "--dry-run"],
                capture_output=True, text=True, env=_env(workspace), timeout=60,
            ))
    assert [r.returncode for r in bad_runs] == [2, 2, 2, 2]
    for result in (good, *bad_runs):
        assert_clean(result.stdout + result.stderr, "CLI output")
        assert "Traceback" not in result.stderr


def test_cli_unexpected_error_is_one_redacted_line(loaded: Config, workspace: Workspace, monkeypatch, capsys,
                                                    logging_reset) -> None:
    def leaky(args, config):
        raise RuntimeError(f"boom with {config.harbor.password.reveal()}\nsecond line {SECRET_KEY}")

    monkeypatch.setitem(cli.COMMANDS, "status", leaky)
    monkeypatch.setenv("HARBOR_PASSWORD", HARBOR_PASSWORD_ENV)
    monkeypatch.setenv("REPO_PASSWORD", REPO_PASSWORD)
    assert cli.main(["-c", str(workspace.path), "status"]) == cli.INTERNAL_ERROR
    quiet = capsys.readouterr()
    assert quiet.err.splitlines() == [
        f"seatrial: internal error: RuntimeError: boom with {MASK} (run with -v for the traceback)"
    ]
    assert cli.main(["-v", "-c", str(workspace.path), "status"]) == cli.INTERNAL_ERROR
    loud = capsys.readouterr()
    assert "Traceback" in loud.err and f"second line {MASK}" in loud.err
    assert_clean(quiet.out + quiet.err + loud.out + loud.err, "CLI internal error")


INNER_TEST = '''
import logging
import os
from seatrial.runbook.config import load_config

def test_leaks_everything_it_can():
    config = load_config(os.environ["SEATRIAL_CONFIG"])
    password = config.harbor.password.reveal()
    print("stdout:", config.storage.access_key.reveal())
    logging.getLogger("inner").warning("log: %s", config.storage.secret_key.reveal())
    assert password == "not-the-password", f"config {config.describe()} key {config.storage.secret_key.reveal()}"

def test_records_a_suite_property(record_testsuite_property):
    record_testsuite_property("endpoint_key", load_config(os.environ["SEATRIAL_CONFIG"]).storage.access_key.reveal())

def test_skips_with_a_reason_that_leaks():
    import pytest
    pytest.skip("skipped for " + load_config(os.environ["SEATRIAL_CONFIG"]).storage.access_key.reveal())
'''


def _inner_pytest(workspace: Workspace, *plugins: str) -> tuple[subprocess.CompletedProcess, str]:
    test_file = workspace.root / "inner" / "test_inner.py"
    test_file.parent.mkdir(exist_ok=True)
    test_file.write_text(textwrap.dedent(INNER_TEST))
    junit = workspace.root / "inner" / "junit.xml"
    plugin_args = [arg for plugin in plugins for arg in ("-p", plugin)]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(test_file), "-l", "-rA", "-p", "no:cacheprovider", "-o", "addopts=",
         "-o", "junit_logging=all", "--rootdir", str(test_file.parent), f"--junitxml={junit}", *plugin_args],
        capture_output=True, text=True, timeout=120, cwd=test_file.parent,
        env={**_env(workspace), "SEATRIAL_CONFIG": str(workspace.path)},
    )
    return result, junit.read_text()


def test_pytest_redact_keeps_terminal_and_junit_clean(loaded: Config, workspace: Workspace) -> None:
    result, junit = _inner_pytest(workspace, "seatrial.runbook.checking.pytest_redact")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 1 passed, 1 skipped" in result.stdout
    assert_clean(result.stdout + result.stderr, "inner pytest terminal")
    assert_clean(junit, "JUnit XML")
    assert "<failure" in junit and "AssertionError" in junit and f"skipped for {MASK}" in junit
    assert re.search(r"password\s+= '\*\*\*'", result.stdout)  # --showlocals ran, masked
    assert f"stdout: {MASK}" in junit and f"log: {MASK}" in junit  # captured output kept, masked
    assert f'name="endpoint_key" value="{MASK}"' in junit  # the suite property, masked after the file was written


def test_without_the_plugin_the_inner_run_does_leak(loaded: Config, workspace: Workspace) -> None:
    """The control: the planted failure really exposes the values, so the test above can fail."""
    result, junit = _inner_pytest(workspace)
    assert result.returncode == 1
    assert HARBOR_PASSWORD_FILE in result.stdout and SECRET_KEY in junit and ACCESS_KEY in junit


def test_short_values_stay_masked_but_do_not_garble_every_message() -> None:
    from seatrial.runbook.secrets import MIN_SCRUBBED_LENGTH, Secret, redact

    short = Secret("q" * (MIN_SCRUBBED_LENGTH - 1), "short")
    assert "q" not in repr(short) and "q" not in f"{short}"
    assert redact("a quick question") == "a quick question"
    long_enough = Secret("long-" + "z" * MIN_SCRUBBED_LENGTH, "long")
    assert redact(f"value {long_enough.reveal()} here") == "value *** here"


# --------------------------------------------------------------------------- Helm values: --set and upgrade.set

SET_SECRETS = ("Planted-Set-Admin-0001", "ghp_plantedGitHubToken0001", "pw12")  # the last too short to be scrubbed
CHARTS = Path(__file__).resolve().parent.parent / "seatrial" / "charts"


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
def test_upgrade_set_values_under_secret_keys_are_masked_in_the_configuration_dump(workspace: Workspace,
                                                                                     verbosity) -> None:
    data = workspace.data()
    data["upgrade"]["set"] = [f"harborAdminPassword={SET_SECRETS[0]}", f"trivy.gitHubToken={SET_SECRETS[1]}",
                              f"core.secret={SET_SECRETS[2]},core.replicas=2"]
    workspace.write(data)
    done = subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", *verbosity, "-c", str(workspace.path),
                           "plan"], capture_output=True, text=True, env=_env(workspace), timeout=60)
    output = done.stdout + done.stderr
    assert not [value for value in SET_SECRETS if value in output], output
    if verbosity:
        assert "'harborAdminPassword=***'" in output and "'trivy.gitHubToken=***'" in output, output
        assert "'core.secret=***,core.replicas=2'" in output, output


def test_describe_masks_upgrade_set_values_under_secret_keys(workspace: Workspace) -> None:
    data = workspace.data()
    data["upgrade"]["set"] = [f"credentials.secretContents.cloud={SET_SECRETS[0]}", "existingSecret=my-secret"]
    workspace.write(data)
    described = workspace.load().describe()
    assert described["upgrade"]["set"] == ["credentials.secretContents.cloud=***", "existingSecret=my-secret"]


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
@pytest.mark.parametrize("option", ["--set", "--from-set"])
def test_a_set_that_cannot_be_parsed_is_shown_with_its_secrets_masked(tmp_path: Path, verbosity, option) -> None:
    chart = str(CHARTS / "harbor-1.18.4.tgz")
    for secret in SET_SECRETS:
        done = subprocess.run([sys.executable, "-m", "seatrial.runbook.cli", *verbosity, "upgrade-plan", "--release",
                               "my-harbor", "-n", "harbor", "--chart", chart, "--from-chart", chart, option,
                               f"harborAdminPassword={secret},x[y]=1", "--out", str(tmp_path / "out")],
                              capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
        assert done.returncode == 2, done.stdout + done.stderr
        assert secret not in done.stdout + done.stderr, done.stderr
        assert f"{option} 'harborAdminPassword=***,x[y]=1' cannot be parsed" in done.stderr, done.stderr
