"""The real restic CLI, used to read (and in the sandbox, write) Velero's restic repositories.

Secrets travel only in the child's environment (RESTIC_PASSWORD, AWS_*), never in argv; no shell.
Errors name the repository with any credentials stripped from its URL, and pass through `redact`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seatrial.runbook.errors import ProtocolError, SeatrialError, Unauthorized, Unreachable
from seatrial.runbook.secrets import Secret, redact

# Variables of the caller that must not leak into restic's behaviour (we pass our own).
_INHERITED_DROP = re.compile(r"^(RESTIC_|AWS_|B2_|AZURE_|GOOGLE_)")
_URL_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")
WRONG_PASSWORD = "wrong password or no key found"
NO_REPOSITORY = ("Is there a repository at the following location?", "repository does not exist",
                 "unable to open config file")
UNREACHABLE_HINTS = ("connection refused", "no such host", "i/o timeout", "dial tcp", "context deadline exceeded")
# What the object store says of a repository that is not there (restic 0.14: "Stat: The specified key does not
# exist."; 0.16+: "repository does not exist"). restic asks NO_REPOSITORY's question after ANY failure to open the
# config file -- an answer cut short ("Stat: unexpected EOF") or not S3's ("XML syntax error") too.
ABSENT_HINTS = ("does not exist", "nosuchkey", "nosuchbucket")
# restic's own retries of a backend operation (then its Fatal line): the object store kept failing its reads.
BACKEND_RETRIED = "returned error, retrying"


@dataclass(frozen=True)
class SnapshotResult:
    snapshot_id: str
    total_bytes: int
    files: int


def public_repository(repository: str) -> str:
    """The repository address with any `user:password@` removed from its URL."""
    return _URL_CREDENTIALS.sub(r"\1", repository)


class Restic:
    def __init__(self, repository: str, password: Secret, *, env: dict[str, Secret | str] | None = None,
                 binary: str = "restic", timeout: float = 600, cache_dir: Path | None = None,
                 options: tuple[str, ...] = ()):
        """`cache_dir`: restic's local cache (snapshots, index, tree packs), kept between runs so that a
        repeated read costs only what is new in the bucket; without it `--no-cache` (nothing kept)."""
        self.repository = repository
        self.password = password
        self.extra_env = dict(env or {})
        self.binary = binary
        self.timeout = timeout
        self.cache_dir = cache_dir
        self.options = tuple(options)  # global flags, e.g. --insecure-tls

    def __repr__(self) -> str:
        return f"Restic({public_repository(self.repository)})"

    @property
    def name(self) -> str:
        return public_repository(self.repository)

    # -- commands -----------------------------------------------------------------------------------
    def init(self) -> None:
        self._run(["init"], what="init")

    def is_initialized(self) -> bool:
        """True when the repository exists and opens with the password; a wrong password raises."""
        result = self._run(["cat", "config"], what="open", check=False)
        if result.returncode == 0:
            return True
        if _no_repository(result.stderr) and WRONG_PASSWORD not in result.stderr:
            return False
        raise self._error("open", result)

    def backup(self, path: str | Path, tags: dict[str, str] | None = None, host: str = "velero") -> SnapshotResult:
        """Back up the contents of `path` as `.` (relative paths, as Velero does) with `key=value` tags."""
        args = ["backup", "--json", "--host", host]
        for key, value in (tags or {}).items():
            args += ["--tag", f"{key}={value}"]
        result = self._run([*args, "."], what="backup", cwd=Path(path))
        for line in reversed(result.stdout.splitlines()):
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and message.get("message_type") == "summary":
                return SnapshotResult(snapshot_id=message["snapshot_id"],
                                      total_bytes=int(message.get("total_bytes_processed", 0)),
                                      files=int(message.get("total_files_processed", 0)))
        raise SeatrialError(redact(f"restic backup of {path} into {self.name} printed no summary"),
                            fix="run the same restic backup by hand with --verbose to see why")

    def snapshots(self, tags: dict[str, str] | None = None) -> list[dict]:
        """Snapshots carrying all of `tags` (restic ANDs comma-separated tags within one --tag)."""
        args = ["--no-lock", "snapshots", "--json"]  # a read: leave no lock file in the bucket
        if tags:
            args += ["--tag", ",".join(f"{key}={value}" for key, value in tags.items())]
        result = self._run(args, what="snapshots")
        try:
            return json.loads(result.stdout or "[]") or []
        except ValueError:
            raise SeatrialError(f"restic snapshots for {self.name} printed no JSON",
                                fix="check the restic version (0.14 or later)") from None

    def restore(self, snapshot_id: str, target_dir: str | Path) -> None:
        self._run(["restore", snapshot_id, "--target", str(target_dir)], what="restore")

    def check(self) -> None:
        self._run(["check"], what="check")

    # -- plumbing -----------------------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not _INHERITED_DROP.match(key)}
        for key, value in self.extra_env.items():
            env[key] = value.reveal() if isinstance(value, Secret) else str(value)
        env["RESTIC_REPOSITORY"] = self.repository
        env["RESTIC_PASSWORD"] = self.password.reveal()
        return env

    def _run(self, args: list[str], *, what: str, cwd: Path | None = None,
             check: bool = True) -> subprocess.CompletedProcess[str]:
        cache = ["--cache-dir", str(self.cache_dir)] if self.cache_dir is not None else ["--no-cache"]
        command = [self.binary, *self.options, *cache, *args]
        try:
            result = subprocess.run(command, env=self._env(), cwd=cwd, capture_output=True, text=True,
                                    timeout=self.timeout, check=False)
        except FileNotFoundError:
            raise SeatrialError(f"the restic binary {self.binary!r} was not found",
                                fix="install restic (apt-get install restic) or pass binary=<path>") from None
        except subprocess.TimeoutExpired:
            raise Unreachable(f"restic {what} on {self.name} did not finish within {self.timeout:.0f}s",
                              fix="check that the object store answers") from None
        if check and result.returncode != 0:
            raise self._error(what, result)
        return result

    def _error(self, what: str, result: subprocess.CompletedProcess[Any]) -> SeatrialError:
        stderr = _last_lines(redact(result.stderr.replace(self.repository, self.name)))
        if WRONG_PASSWORD in result.stderr:
            return Unauthorized(f"wrong repository password for {self.name}",
                                fix="use the password in the Secret velero-repo-credentials, key repository-password "
                                    "(Velero's default is static-passw0rd)")
        lowered = result.stderr.lower()
        if any(hint in lowered for hint in UNREACHABLE_HINTS):
            return Unreachable(f"restic {what}: cannot reach the repository {self.name}: {stderr}",
                               fix="check the S3 endpoint in the repository address and that it runs")
        if _no_repository(result.stderr):
            return SeatrialError(f"restic {what}: there is no restic repository at {self.name}",
                                 fix="check the bucket, prefix and namespace (BackupRepository.spec.resticIdentifier)")
        if BACKEND_RETRIED in result.stderr or any(hint in result.stderr for hint in NO_REPOSITORY):
            return ProtocolError(f"restic {what}: the object store failed restic's reads of {self.name}: {stderr}",
                                 fix="the object store (or a proxy in front of it) cut its answers short or answered "
                                     "out of its protocol: check it, then resume; the repository itself was not "
                                     "judged")
        return SeatrialError(f"restic {what} on {self.name} failed (exit {result.returncode}): {stderr}",
                             fix="see restic's message above")


def _no_repository(stderr: str) -> bool:
    """restic said the repository is not there, and the object store said so too (see ABSENT_HINTS)."""
    lowered = stderr.lower()
    return any(hint in stderr for hint in NO_REPOSITORY) and any(hint in lowered for hint in ABSENT_HINTS)


def _last_lines(text: str, count: int = 5) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "no output"
