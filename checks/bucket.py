"""What the checks read of Velero's object layout in the bucket (reference/velero-facts.md a, b).

A reader for the checks only, over boto3 with path-style addressing: whether a backup's files are all
there, its results and volume info, a restore's results, and the index of the backup tarball, read as
a stream (never the whole tarball in memory). Every S3 failure becomes a typed seatrial error.
"""

from __future__ import annotations

import gzip
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

from runbook.errors import ApiError, NotFound, SeatrialError, Unauthorized, Unreachable
from runbook.secrets import Secret

MISSING = ("404", "NoSuchKey", "NotFound", "NoSuchBucket")
DENIED = ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")


def backup_files(name: str) -> tuple[str, ...]:
    """The files `persistBackup` always writes under backups/<name>/ (the log is best effort, the CSI
    files depend on the Velero version: neither is required)."""
    return ("velero-backup.json", f"{name}.tar.gz", f"{name}-podvolumebackups.json.gz",
            f"{name}-volumesnapshots.json.gz", f"{name}-itemoperations.json.gz", f"{name}-resource-list.json.gz",
            f"{name}-results.gz", f"{name}-volumeinfo.json.gz")


@dataclass(frozen=True)
class ItemRef:
    """An object in the tarball: `resources/<groupResource>/[<version>-preferredversion/]<scope>/[<ns>/]<name>.json`."""

    group_resource: str
    namespace: str | None
    name: str


def parse_item_path(path: str) -> ItemRef | None:
    parts = path.split("/")
    if len(parts) < 4 or parts[0] != "resources" or not parts[-1].endswith(".json"):
        return None
    rest = parts[2:]
    if rest and rest[0] not in ("namespaces", "cluster"):
        rest = rest[1:]  # a version directory
    name = parts[-1][: -len(".json")]
    if rest[:1] == ["namespaces"] and len(rest) == 3:
        return ItemRef(parts[1], rest[1], name)
    if rest[:1] == ["cluster"] and len(rest) == 2:
        return ItemRef(parts[1], None, name)
    return None


def s3_client(endpoint: str, *, region: str, access_key: Secret, secret_key: Secret, path_style: bool,
              verify: bool | str):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name=region or "us-east-1", verify=verify,
                        aws_access_key_id=access_key.reveal(), aws_secret_access_key=secret_key.reveal(),
                        config=Config(s3={"addressing_style": "path" if path_style else "auto"},
                                      retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=5,
                                      read_timeout=60))


class VeleroBucket:
    """One bucket and prefix, as both clusters' BackupStorageLocations see it."""

    def __init__(self, client, bucket: str, prefix: str, endpoint: str = ""):
        self.client, self.bucket, self.endpoint = client, bucket, endpoint
        self.prefix = prefix.strip("/")

    def __repr__(self) -> str:
        return f"VeleroBucket({self.where})"

    @property
    def where(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" + (f" at {self.endpoint}" if self.endpoint else "")

    def key(self, *parts: str) -> str:
        return "/".join([self.prefix, *parts] if self.prefix else list(parts))

    # -- reachability --------------------------------------------------------------------------------
    def check(self) -> None:
        """The bucket answers and exists (HEAD bucket)."""
        self._call(lambda: self.client.head_bucket(Bucket=self.bucket), "HEAD bucket")

    # -- backups ---------------------------------------------------------------------------------------
    def has_backup(self, name: str) -> bool:
        return self._exists(self.key("backups", name, "velero-backup.json"))

    def backup_keys(self, name: str) -> set[str]:
        base = self.key("backups", name, "")
        return {key[len(base):] for key in self._keys(base)}

    def missing_backup_keys(self, name: str) -> list[str]:
        present = self.backup_keys(name)
        return [self.key("backups", name, file) for file in backup_files(name) if file not in present]

    def results(self, name: str) -> dict | None:
        return self._gzip_json(self.key("backups", name, f"{name}-results.gz"))

    def volume_info(self, name: str) -> list[dict] | None:
        return self._gzip_json(self.key("backups", name, f"{name}-volumeinfo.json.gz"))

    def tarball_items(self, name: str) -> Iterator[ItemRef]:
        """Every object file in `<name>.tar.gz`, streamed from the bucket member by member."""
        key = self.key("backups", name, f"{name}.tar.gz")
        body = self._call(lambda: self.client.get_object(Bucket=self.bucket, Key=key), f"GET {key}")["Body"]
        try:
            with tarfile.open(fileobj=body, mode="r|gz") as archive:
                for member in archive:
                    ref = parse_item_path(member.name) if member.isfile() else None
                    if ref is not None:
                        yield ref
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ApiError(f"{key} in {self.where} is not a readable tar.gz: {type(exc).__name__}: {exc}",
                           fix="the backup tarball is damaged: back up again") from None
        finally:
            body.close()

    # -- restores --------------------------------------------------------------------------------------
    def list_restores(self) -> set[str]:
        base = self.key("restores", "")
        names: set[str] = set()
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base, Delimiter="/")
        for page in self._call(lambda: list(pages), f"LIST {base}"):
            names.update(p["Prefix"][len(base):].rstrip("/") for p in page.get("CommonPrefixes") or [])
        return names

    def restore_results(self, name: str) -> dict | None:
        return self._gzip_json(self.key("restores", name, f"restore-{name}-results.gz"))

    # -- repositories ----------------------------------------------------------------------------------
    def has_objects_under(self, *parts: str) -> bool:
        base = self.key(*parts, "")
        page = self._call(lambda: self.client.list_objects_v2(Bucket=self.bucket, Prefix=base, MaxKeys=1),
                          f"LIST {base}")
        return bool(page.get("Contents"))

    # -- plumbing --------------------------------------------------------------------------------------
    def _keys(self, base: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
        listed = self._call(lambda: list(pages), f"LIST {base}")
        return [o["Key"] for page in listed for o in page.get("Contents") or []]

    def _exists(self, key: str) -> bool:
        try:
            self._call(lambda: self.client.head_object(Bucket=self.bucket, Key=key), f"HEAD {key}")
            return True
        except NotFound:
            return False

    def _gzip_json(self, key: str):
        try:
            body = self._call(lambda: self.client.get_object(Bucket=self.bucket, Key=key), f"GET {key}")["Body"]
        except NotFound:
            return None
        with body:
            try:
                return json.load(gzip.GzipFile(fileobj=body))
            except (OSError, ValueError, EOFError) as exc:
                raise ApiError(f"{key} in {self.where} is not gzipped JSON: {type(exc).__name__}",
                               fix="the file is damaged: back up (or restore) again") from None

    def _call(self, action, what: str):
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        try:
            return action()
        except ClientError as exc:
            error = exc.response.get("Error") or {}
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            text = f"{what} in {self.where}: {code} {error.get('Message', '')}".strip()
            if code in MISSING:
                raise NotFound(text, status=404, fix="check storage.bucket and storage.prefix") from None
            if code in DENIED:
                raise Unauthorized(text, status=403, fix="check the keys in storage.credentials_file") from None
            raise ApiError(text, status=status, fix="see the object store's message") from None
        except (EndpointConnectionError, BotoCoreError) as exc:
            raise Unreachable(f"cannot reach the bucket {self.where}: {type(exc).__name__}: {exc}",
                              fix="check storage.endpoint, that the object store runs, and its TLS settings") from None
        except SeatrialError:
            raise
