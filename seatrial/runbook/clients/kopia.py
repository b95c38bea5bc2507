"""Velero's kopia repositories from outside Velero, at three levels (fidelity-audit.md section 4):

1. `open_format`: the repository password opens `kopia.repository` (pure Python: scrypt or PBKDF2, HKDF-SHA256,
   AES-256-GCM, as kopia's internal/crypto does). Proves the password and reads the format; no snapshot.
2. `writes_in_window`: index (`xn*`, legacy `n*`) and pack (`p*`, `q*`) blobs written during a PodVolumeBackup.
   Proves the node-agent wrote into this repository during this backup; not that the manifest still exists.
3. `KopiaCli`: the real `kopia` CLI when it is on PATH (`repository connect s3 --readonly`, then `snapshot list
   --all --json`): the snapshot manifests themselves, found by ID (a PodVolumeBackup's `status.snapshotID` is the
   manifest ID). Not by the backup's tag: Velero 1.17+ writes its kopia snapshots with no `backup` tag (its
   data-path pods pass empty tags, pkg/podvolume/backup_micro_service.go; seen on the real Velero 1.18.3).

Secrets (the repository password, the S3 keys) travel only in the child's environment, never in argv.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from seatrial.runbook.errors import ApiError, SeatrialError, Unauthorized, Unreachable
from seatrial.runbook.secrets import Secret, redact

FORMAT_BLOB = "kopia.repository"
INDEX_PREFIXES = ("xn", "n")  # epoch-manager index blobs, legacy v0 index blobs
PACK_PREFIXES = ("p", "q")  # data packs, metadata packs (directories, manifests)
CLOCK_SLACK = timedelta(seconds=5)  # S3 LastModified and the PVB timestamps come from different clocks
_SCRYPT_MAXMEM = 256 * 1024 * 1024


class WrongPassword(Unauthorized):
    """The password does not open the repository's format blob (the GCM tag does not verify)."""


@dataclass(frozen=True)
class KopiaFormat:
    """What opening `kopia.repository` tells, without its secrets (master key, HMAC secret)."""

    unique_id: str
    build_version: str
    key_algo: str
    hash: str
    encryption: str
    splitter: str
    version: int | None
    index_version: int | None


def _derive_key(password: str, salt: bytes, key_algo: str) -> bytes:
    """kopia's internal/crypto key derivers: `scrypt-N-r-p` and `pbkdf2-sha256-<iterations>`."""
    parts = key_algo.split("-")
    if parts[0] == "scrypt" and len(parts) == 4:
        n, r, p = (int(x) for x in parts[1:])
        return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=_SCRYPT_MAXMEM)
    if parts[0] == "pbkdf2" and len(parts) == 3 and parts[1] == "sha256":
        return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, int(parts[2]), dklen=32)
    raise ApiError(f"{FORMAT_BLOB}: unknown key derivation {key_algo!r}",
                   fix="a newer kopia wrote this repository; verify it with the kopia CLI (put kopia on PATH)")


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(key)


def open_format(blob: bytes, password: Secret, where: str = FORMAT_BLOB) -> KopiaFormat:
    """Decrypt a `kopia.repository` blob with the repository password; WrongPassword if it does not open."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        document = json.loads(blob)
        unique_id = base64.b64decode(document["uniqueID"])
        key_algo = document["keyAlgo"]
        encrypted = base64.b64decode(document["encryptedBlockFormat"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(f"{where} is not a kopia format blob ({type(exc).__name__}: {exc})",
                       fix="the repository's format blob is damaged or this is no kopia repository") from None
    if document.get("encryption") != "AES256_GCM" or len(encrypted) < 12 + 16:
        raise ApiError(f"{where}: format blob encryption {document.get('encryption')!r} is not readable here",
                       fix="verify the repository with the kopia CLI (put kopia on PATH)")
    master = _derive_key(password.reveal(), unique_id, key_algo)
    aes_key, associated = _hkdf(master, unique_id, b"AES"), _hkdf(master, unique_id, b"CHECKSUM")
    try:
        plain = AESGCM(aes_key).decrypt(encrypted[:12], encrypted[12:], associated)
    except InvalidTag:
        raise WrongPassword(f"the repository password does not open {where}",
                            fix="set velero.repository_password_env to the password of Velero's Secret "
                                "velero-repo-credentials (key repository-password) on the cluster that wrote it") \
            from None
    fmt = (json.loads(plain).get("format") or {})
    return KopiaFormat(unique_id=document["uniqueID"], build_version=str(document.get("buildVersion", "")),
                       key_algo=key_algo, hash=str(fmt.get("hash", "")), encryption=str(fmt.get("encryption", "")),
                       splitter=str(fmt.get("splitter", "")), version=fmt.get("version"),
                       index_version=fmt.get("indexVersion"))


@dataclass(frozen=True)
class RepositoryBlob:
    name: str  # relative to the repository root: "xn0_...", "p0123...", "kopia.repository"
    last_modified: datetime
    size: int


@dataclass(frozen=True)
class WindowWrites:
    """Blobs of one repository written inside one PodVolumeBackup's time window."""

    index: tuple[str, ...]
    packs: tuple[str, ...]


def writes_in_window(blobs: Iterable[RepositoryBlob], start: datetime, end: datetime,
                     slack: timedelta = CLOCK_SLACK) -> WindowWrites:
    low, high = start - slack, end + slack
    inside = [b for b in blobs if low <= b.last_modified <= high]
    return WindowWrites(index=tuple(sorted(b.name for b in inside if b.name.startswith(INDEX_PREFIXES))),
                        packs=tuple(sorted(b.name for b in inside if b.name.startswith(PACK_PREFIXES))))


def parse_time(value: str | None) -> datetime | None:
    """A Kubernetes timestamp (`2026-11-28T22:50:25Z`) as an aware datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


class KopiaCli:
    """The real kopia CLI, connected read-only to one repository in a private config directory.

    `KopiaCli(bucket, prefix, endpoint, password, access_key, secret_key)`; `snapshot_ids()` lists the ids of
    every snapshot in the repository, `restore(id, dir)` reads one back. Never writes to the repository
    (`--readonly`)."""

    def __init__(self, bucket: str, prefix: str, endpoint: str, password: Secret, access_key: Secret,
                 secret_key: Secret, *, region: str = "", verify: bool | str = True, timeout: float = 300,
                 binary: str | None = None):
        self.binary = binary or shutil.which("kopia")
        if self.binary is None:
            raise Unreachable("kopia is not on PATH", fix="install kopia to verify snapshot manifests")
        self.bucket, self.prefix, self.endpoint = bucket, prefix.rstrip("/") + "/", endpoint
        self.region, self.verify, self.timeout = region, verify, timeout
        self._env: dict[str, Secret | str] = {"KOPIA_PASSWORD": password, "AWS_ACCESS_KEY_ID": access_key,
                                              "AWS_SECRET_ACCESS_KEY": secret_key}
        self._dir = Path(tempfile.mkdtemp(prefix="seatrial-kopia-"))
        self._connected = False

    @property
    def name(self) -> str:
        return f"kopia s3://{self.bucket}/{self.prefix} at {self.endpoint}"

    def connect_args(self) -> list[str]:
        url = urlsplit(self.endpoint if "://" in self.endpoint else f"https://{self.endpoint}")
        args = ["repository", "connect", "s3", "--readonly", f"--bucket={self.bucket}", f"--prefix={self.prefix}",
                f"--endpoint={url.netloc}", *self._common()]
        if url.scheme == "http":
            args.append("--disable-tls")
        elif self.verify is False:
            args.append("--disable-tls-verification")
        elif isinstance(self.verify, str):
            args.append(f"--root-ca-pem-path={self.verify}")
        if self.region:
            args.append(f"--region={self.region}")
        return args

    def _common(self) -> list[str]:
        return [f"--config-file={self._dir / 'repository.config'}", f"--cache-directory={self._dir / 'cache'}",
                f"--log-dir={self._dir / 'logs'}", "--no-persist-credentials"]

    def _connect(self) -> list[str]:
        """Connects once; the options every later command needs to use that connection."""
        if not self._connected:
            self._run(self.connect_args())
            self._connected = True
        return [f"--config-file={self._dir / 'repository.config'}", f"--log-dir={self._dir / 'logs'}"]

    def snapshot_ids(self) -> set[str]:
        out = self._run(["snapshot", "list", "--all", "--json", *self._connect()])
        try:
            listed = json.loads(out or "[]")
        except ValueError:
            raise ApiError(f"{self.name}: `kopia snapshot list --json` did not print JSON",
                           fix="check the kopia version (0.16 or later)") from None
        return {str(item.get("id")) for item in listed or [] if item.get("id")}

    def restore(self, snapshot_id: str, target_dir: str | Path) -> None:
        """The snapshot's files, modes and times into `target_dir` (read-only on the repository)."""
        self._run(["snapshot", "restore", snapshot_id, str(target_dir), *self._connect()])

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def _run(self, args: list[str]) -> str:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KOPIA_", "AWS_"))}
        env.update({k: v.reveal() if isinstance(v, Secret) else v for k, v in self._env.items()})
        try:
            done = subprocess.run([self.binary, *args], env=env, capture_output=True, text=True,  # noqa: S603
                                  timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise Unreachable(f"{self.name}: kopia {args[0]} {args[1]} did not answer in {self.timeout:.0f}s",
                              fix="check that the bucket is reachable from here") from None
        if done.returncode != 0:
            message = redact(done.stderr.strip()[-600:])
            error: type[SeatrialError] = Unauthorized if "invalid repository password" in message else ApiError
            if any(hint in message.lower() for hint in ("no such host", "connection refused", "i/o timeout")):
                error = Unreachable
            raise error(f"{self.name}: kopia {' '.join(args[:2])} failed: {message}",
                        fix="check the repository password and the S3 endpoint and keys")
        return done.stdout
