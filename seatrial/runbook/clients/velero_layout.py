"""Velero's object-store layout: the keys it writes, the paths inside a backup tarball, and a store over S3.

Mirrors `pkg/persistence/object_store_layout.go`, `pkg/archive/filesystem.go` and `persistBackup`
(reference/velero-facts.md sections a and b). `BackupStore` reads a bucket the way Velero's
object-store plugin does; `write_backup` / `write_restore_files` write what Velero writes, for the
sandbox's Velero. Tarballs are streamed both ways, never held whole in memory.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from seatrial.runbook.clients.s3 import ObjectBody, call, check_bucket
from seatrial.runbook.errors import ApiError, BadInput, NotFound, ProtocolError

VALID_TOP_LEVEL = frozenset({"backups", "restores", "restic", "kopia", "metadata", "plugins"})
FORMAT_VERSION = "1.1.0"
PREFERRED_SUFFIX = "-preferredversion"
SPOOL_BYTES = 8 * 1024 * 1024
UPLOADERS = ("restic", "kopia")


class Layout:
    """Keys under `<bucket>/<prefix>/`; an empty prefix puts them at the bucket root."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix.strip("/")

    def __repr__(self) -> str:
        return f"Layout(prefix={self.prefix!r})"

    def key(self, *parts: str) -> str:
        return "/".join([self.prefix, *parts] if self.prefix else list(parts))

    def root(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    # -- backups ------------------------------------------------------------------------------------
    def backups_dir(self) -> str:
        return self.key("backups", "")

    def backup_dir(self, name: str) -> str:
        return self.key("backups", name, "")

    def _backup(self, name: str, file: str) -> str:
        return self.key("backups", name, file)

    def backup_metadata(self, name: str) -> str:
        return self._backup(name, "velero-backup.json")

    def backup_tarball(self, name: str) -> str:
        return self._backup(name, f"{name}.tar.gz")

    def backup_logs(self, name: str) -> str:
        return self._backup(name, f"{name}-logs.gz")

    def pod_volume_backups(self, name: str) -> str:
        return self._backup(name, f"{name}-podvolumebackups.json.gz")

    def volume_snapshots(self, name: str) -> str:
        return self._backup(name, f"{name}-volumesnapshots.json.gz")

    def item_operations(self, name: str) -> str:
        return self._backup(name, f"{name}-itemoperations.json.gz")

    def resource_list(self, name: str) -> str:
        return self._backup(name, f"{name}-resource-list.json.gz")

    def results(self, name: str) -> str:
        return self._backup(name, f"{name}-results.gz")  # no ".json", as in Velero

    def volume_info(self, name: str) -> str:
        return self._backup(name, f"{name}-volumeinfo.json.gz")

    def backup_required_keys(self, name: str) -> list[str]:
        """What `persistBackup` always writes (the log is best effort; CSI files depend on the version)."""
        return [self.backup_metadata(name), self.backup_tarball(name), self.pod_volume_backups(name),
                self.volume_snapshots(name), self.item_operations(name), self.resource_list(name),
                self.results(name), self.volume_info(name)]

    # -- restores -----------------------------------------------------------------------------------
    def restores_dir(self) -> str:
        return self.key("restores", "")

    def restore_dir(self, name: str) -> str:
        return self.key("restores", name, "")

    def restore_logs(self, name: str) -> str:
        return self.key("restores", name, f"restore-{name}-logs.gz")

    def restore_results(self, name: str) -> str:
        return self.key("restores", name, f"restore-{name}-results.gz")

    def restore_resource_list(self, name: str) -> str:
        return self.key("restores", name, f"restore-{name}-resource-list.json.gz")

    def restore_item_operations(self, name: str) -> str:
        return self.key("restores", name, f"restore-{name}-itemoperations.json.gz")

    def restore_volume_info(self, name: str) -> str:
        return self.key("restores", name, f"{name}-volumeinfo.json.gz")  # no "restore-": getRestoreVolumeInfoKey

    def restore_required_keys(self, name: str) -> list[str]:
        return [self.restore_logs(name), self.restore_results(name), self.restore_resource_list(name),
                self.restore_item_operations(name), self.restore_volume_info(name)]

    # -- repositories -------------------------------------------------------------------------------
    def restic_repo(self, namespace: str) -> str:
        return self.key("restic", namespace)

    def kopia_repo(self, namespace: str) -> str:
        return self.key("kopia", namespace, "")  # kopia needs the trailing "/" (velero-facts.md e)

    def repo(self, uploader: str, namespace: str) -> str:
        if uploader not in UPLOADERS:
            raise BadInput(f"uploader {uploader!r} is not restic or kopia", fix="use restic or kopia")
        return self.restic_repo(namespace) if uploader == "restic" else self.kopia_repo(namespace)


# -- tarball paths ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ItemRef:
    """One file of the tarball: `resources/<groupResource>/[<versionDir>/]<scope>/[<ns>/]<name>.json`.

    `preferred` is True for the `<version>-preferredversion` copy; `version` is the version of any
    version directory (None for the plain, backward-compatible copy).
    """

    group_resource: str
    namespace: str | None
    name: str
    preferred: bool = False
    version: str | None = None

    def plain(self) -> ItemRef:
        return ItemRef(self.group_resource, self.namespace, self.name)


@dataclass(frozen=True, slots=True)
class TarItem:
    path: str
    size: int
    ref: ItemRef | None  # None for files that are not items, e.g. metadata/version
    object: dict | None = None


def group_resource(api_version: str, plural: str) -> str:
    """`pods` for the core group, `deployments.apps` otherwise."""
    group = api_version.rpartition("/")[0]
    return f"{plural}.{group}" if group else plural


def preferred_version_dir(version: str) -> str:
    return f"{version}{PREFERRED_SUFFIX}"


def item_path(group_resource: str, namespace: str | None, name: str, version_dir: str | None = None) -> str:
    """The tarball path of an item; `version_dir` is a directory name such as `v1-preferredversion`."""
    scope = f"namespaces/{namespace}" if namespace else "cluster"
    version = f"{version_dir}/" if version_dir else ""
    return f"resources/{group_resource}/{version}{scope}/{name}.json"


def parse_item_path(path: str) -> ItemRef | None:
    """The item a tarball path names, or None for anything else (Velero's parser ignores those too)."""
    parts = path.removeprefix("./").split("/")
    if len(parts) < 4 or parts[0] != "resources" or not parts[-1].endswith(".json") or not parts[1]:
        return None
    rest, version_dir = parts[2:], None
    if rest[0] not in ("namespaces", "cluster"):
        version_dir, rest = rest[0], rest[1:]
    name = rest[-1][: -len(".json")]
    if not name:
        return None
    if rest[0] == "namespaces" and len(rest) == 3:
        namespace: str | None = rest[1]
    elif rest[0] == "cluster" and len(rest) == 2:
        namespace = None
    else:
        return None
    preferred = bool(version_dir and version_dir.endswith(PREFERRED_SUFFIX))
    version = version_dir.removesuffix(PREFERRED_SUFFIX) if version_dir else None
    return ItemRef(parts[1], namespace, name, preferred, version)


# -- reading ----------------------------------------------------------------------------------------

class BackupStore:
    """One bucket and prefix as a BackupStorageLocation sees it. S3 failures raise seatrial errors."""

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self.client, self.bucket = client, bucket
        self.layout = Layout(prefix)
        self.endpoint = str(getattr(getattr(client, "meta", None), "endpoint_url", "") or "")

    @property
    def prefix(self) -> str:
        return self.layout.prefix

    @property
    def where(self) -> str:
        location = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"{location} at {self.endpoint}" if self.endpoint else location

    def __repr__(self) -> str:
        return f"BackupStore({self.where})"

    def check(self) -> None:
        check_bucket(self.client, self.bucket, self.endpoint or "the S3 endpoint")

    # -- backups ------------------------------------------------------------------------------------
    def list_backups(self) -> list[str]:
        return self._subdirs(self.layout.backups_dir())

    def has_backup(self, name: str) -> bool:
        return self._exists(self.layout.backup_metadata(name))

    def backup_metadata(self, name: str) -> dict:
        key = self.layout.backup_metadata(name)
        body = self._get(key)
        with body:
            try:
                return json.load(body)
            except ValueError as exc:
                raise ApiError(f"{key} in {self.where} is not JSON: {exc}",
                               fix="the backup metadata is damaged: back up again") from None

    def pod_volume_backups(self, name: str) -> list[dict] | None:
        """The PodVolumeBackups (`null` in the file gives []); None when the file is missing."""
        return self._side(self.layout.pod_volume_backups(name), [])

    def volume_info(self, name: str) -> list[dict] | None:
        return self._side(self.layout.volume_info(name), [])

    def results(self, name: str) -> dict | None:
        return self._side(self.layout.results(name), {})

    def resource_list(self, name: str) -> dict | None:
        return self._side(self.layout.resource_list(name), {})

    def missing_backup_keys(self, name: str) -> list[str]:
        present = set(self._keys(self.layout.backup_dir(name)))
        return [key for key in self.layout.backup_required_keys(name) if key not in present]

    # -- the tarball --------------------------------------------------------------------------------
    def tarball_items(self, name: str, with_objects: bool = False) -> Iterator[TarItem]:
        """Every regular file of `<name>.tar.gz`, streamed member by member from the bucket."""
        key = self.layout.backup_tarball(name)
        body = self._get(key)
        try:
            with tarfile.open(fileobj=body, mode="r|gz") as archive:
                while (member := archive.next()) is not None:
                    archive.members.clear()  # TarFile keeps every header it read; memory would grow per item
                    if not member.isfile():
                        continue
                    ref = parse_item_path(member.name)
                    obj = None
                    if with_objects and ref is not None:
                        stream = archive.extractfile(member)
                        obj = json.load(stream) if stream is not None else None
                    yield TarItem(member.name, member.size, ref, obj)
        except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
            raise ApiError(f"{key} in {self.where} is not a readable tar.gz: {type(exc).__name__}: {exc}",
                           fix="the backup tarball is damaged: back up again") from None
        finally:
            body.close()

    def tarball_index(self, name: str) -> dict[ItemRef, int]:
        """Every item of the tarball (plain and preferred-version copies) and its size in bytes."""
        return {item.ref: item.size for item in self.tarball_items(name) if item.ref is not None}

    # -- restores -----------------------------------------------------------------------------------
    def list_restores(self) -> list[str]:
        return self._subdirs(self.layout.restores_dir())

    def restore_results(self, name: str) -> dict | None:
        return self._side(self.layout.restore_results(name), {})

    def restore_resource_list(self, name: str) -> dict | None:
        """`{"<group/version>/<Kind>": ["ns/name(created|updated|skipped|failed)", ...]}`; None when missing."""
        return self._side(self.layout.restore_resource_list(name), {})

    def missing_restore_keys(self, name: str) -> list[str]:
        present = set(self._keys(self.layout.restore_dir(name)))
        return [key for key in self.layout.restore_required_keys(name) if key not in present]

    # -- the root and the repositories ----------------------------------------------------------------
    def top_level_dirs(self) -> set[str]:
        """Directories directly under the prefix (Velero's BSL validation ignores plain files)."""
        return set(self._subdirs(self.layout.root()))

    def invalid_top_level_dirs(self) -> list[str]:
        """Directories that make Velero mark the BSL Unavailable ("invalid top-level directories")."""
        return sorted(self.top_level_dirs() - VALID_TOP_LEVEL)

    def repo_has_data(self, uploader: str, namespace: str) -> bool:
        base = self.layout.repo(uploader, namespace).rstrip("/") + "/"
        page = call(lambda: self.client.list_objects_v2(Bucket=self.bucket, Prefix=base, MaxKeys=1),
                    f"LIST {base}", self.where)
        return bool(page.get("Contents"))

    def kopia_blobs(self, namespace: str) -> list:
        """Every blob directly under the namespace's kopia repository root, with its LastModified (one LIST,
        paginated; kopia keeps its blobs flat: `kopia.repository`, `xn*`, `p*`, `q*`, ...)."""
        from seatrial.runbook.clients.kopia import RepositoryBlob

        base = self.layout.kopia_repo(namespace)
        return [RepositoryBlob(obj["Key"][len(base):], obj["LastModified"], int(obj.get("Size") or 0))
                for page in self._pages(base, Delimiter="/") for obj in page.get("Contents") or []]

    def kopia_format_blob(self, namespace: str) -> bytes:
        """`<prefix>/kopia/<ns>/kopia.repository` (a few hundred bytes); NotFound when the repository is absent."""
        body = self._get(self.layout.kopia_repo(namespace) + "kopia.repository")
        with body:
            return body.read(1 << 20)

    # -- any gzipped JSON file ------------------------------------------------------------------------
    def read_gz_json(self, key: str) -> Any:
        body = self._get(key)
        with body:
            try:
                return json.load(gzip.GzipFile(fileobj=body))
            except (OSError, ValueError, EOFError) as exc:
                raise ApiError(f"{key} in {self.where} is not gzipped JSON: {type(exc).__name__}",
                               fix="the file is damaged: back up (or restore) again") from None

    # -- plumbing -----------------------------------------------------------------------------------
    def _side(self, key: str, empty: Any) -> Any:
        try:
            value = self.read_gz_json(key)
        except NotFound:
            return None
        return empty if value is None else value

    def _get(self, key: str):
        answer = call(lambda: self.client.get_object(Bucket=self.bucket, Key=key), f"GET {key}", self.where)
        if str(answer.get("ContentType") or "").startswith("text/html"):  # Velero never writes a web page
            answer["Body"].close()
            raise ProtocolError(f"GET {key} at {self.where}: the object store answered an HTML page "
                                f"(Content-Type {answer['ContentType']}), not the object's bytes",
                                status=200, fix="check that storage.endpoint is the object store itself, not a "
                                                "proxy or login page, then resume")
        return ObjectBody(answer["Body"], what=f"GET {key}", where=self.where, length=answer.get("ContentLength"))

    def _exists(self, key: str) -> bool:
        try:
            call(lambda: self.client.head_object(Bucket=self.bucket, Key=key), f"HEAD {key}", self.where)
        except NotFound:
            return False
        return True

    def _pages(self, base: str, **extra: Any) -> Iterator[dict]:
        # One request per page, each retried on its own (seatrial.runbook.retry): a paginator's generator cannot be
        # resumed after an error, and a retried `next()` on it would end the listing early, silently.
        token: str | None = None
        while True:
            arguments = {"Bucket": self.bucket, "Prefix": base, **extra}
            if token:
                arguments["ContinuationToken"] = token
            page = call(lambda arguments=arguments: self.client.list_objects_v2(**arguments), f"LIST {base or '/'}",
                        self.where)
            yield page
            token = page.get("NextContinuationToken") if page.get("IsTruncated") else None
            if not token:
                return

    def _keys(self, base: str) -> list[str]:
        return [obj["Key"] for page in self._pages(base) for obj in page.get("Contents") or []]

    def _subdirs(self, base: str) -> list[str]:
        return [p["Prefix"][len(base):].rstrip("/")
                for page in self._pages(base, Delimiter="/") for p in page.get("CommonPrefixes") or []]


# -- writing (the sandbox's Velero) -----------------------------------------------------------------

def gzip_json(value: Any) -> bytes:
    """`encode.ToJSONGzip`: JSON with a trailing newline (json.Encoder), gzipped."""
    return gzip.compress((json.dumps(value) + "\n").encode())


def _add_file(archive: tarfile.TarFile, path: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(path)
    info.size, info.mode, info.mtime = len(data), 0o644, mtime
    archive.addfile(info, io.BytesIO(data))


def _both_paths(path: str, obj: dict) -> tuple[str, str]:
    ref = parse_item_path(path)
    if ref is None:
        raise BadInput(f"{path!r} is not an item path (resources/<groupResource>/<scope>/[<ns>/]<name>.json)",
                       fix="build it with seatrial.runbook.clients.velero_layout.item_path")
    version = ref.version or str(obj.get("apiVersion", "")).rpartition("/")[2]
    if not version:
        raise BadInput(f"the object for {path} has no apiVersion", fix="set apiVersion on the object")
    return (item_path(ref.group_resource, ref.namespace, ref.name),
            item_path(ref.group_resource, ref.namespace, ref.name, preferred_version_dir(version)))


def write_tarball(items: Iterable[tuple[str, dict]], fileobj: Any) -> int:
    """Write the backup tarball to `fileobj` as a stream; every item twice. Returns the item count."""
    mtime, count = int(time.time()), 0
    with tarfile.open(fileobj=fileobj, mode="w|gz") as archive:
        _add_file(archive, "metadata/version", f"{FORMAT_VERSION}\n".encode(), mtime)
        for path, obj in items:
            data = json.dumps(obj).encode()
            for target in _both_paths(path, obj):
                _add_file(archive, target, data, mtime)
            count += 1
    return count


def write_backup(client: Any, bucket: str, layout: Layout, name: str, *, metadata: dict,
                 items: Iterable[tuple[str, dict]], pod_volume_backups: list | None, volume_info: list | None,
                 results: dict, resource_list: dict, logs: str, volume_snapshots: list | None = None,
                 item_operations: list | None = None) -> None:
    """What `persistBackup` uploads: velero-backup.json, the tarball and every side file gzipped.

    As in Velero, if a side file fails to upload the metadata and the tarball are deleted again.
    """
    where = f"s3://{bucket}/{layout.prefix}"
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        write_tarball(items, spool)
        spool.seek(0)
        _put(client, bucket, layout.backup_metadata(name), json.dumps(metadata).encode(), where)
        tarball = layout.backup_tarball(name)
        call(lambda: client.upload_fileobj(spool, bucket, tarball, Config=_transfer_config()), f"PUT {tarball}", where)
    side = {
        layout.backup_logs(name): gzip.compress(logs.encode()),
        layout.pod_volume_backups(name): gzip_json(pod_volume_backups or None),
        layout.volume_snapshots(name): gzip_json(volume_snapshots or None),
        layout.item_operations(name): gzip_json(item_operations or None),
        layout.resource_list(name): gzip_json(resource_list),
        layout.results(name): gzip_json(results),
        layout.volume_info(name): gzip_json(volume_info or []),
    }
    try:
        for key, body in side.items():
            _put(client, bucket, key, body, where)
    except Exception:
        for key in (layout.backup_metadata(name), tarball):
            client.delete_object(Bucket=bucket, Key=key)
        raise


def write_restore_files(client: Any, bucket: str, layout: Layout, name: str, *, logs: str, results: dict,
                        resource_list: dict, volume_info: list | None = None,
                        item_operations: list | None = None) -> None:
    """The five files the restore controller uploads under restores/<name>/."""
    where = f"s3://{bucket}/{layout.prefix}"
    files = {
        layout.restore_logs(name): gzip.compress(logs.encode()),
        layout.restore_results(name): gzip_json(results),
        layout.restore_resource_list(name): gzip_json(resource_list),
        layout.restore_item_operations(name): gzip_json(item_operations or None),
        layout.restore_volume_info(name): gzip_json(volume_info or []),
    }
    for key, body in files.items():
        _put(client, bucket, key, body, where)


def _transfer_config():
    """Multipart upload with few parts in flight: memory stays near two chunks."""
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_chunksize=SPOOL_BYTES, max_concurrency=2)


def _put(client: Any, bucket: str, key: str, body: bytes, where: str) -> None:
    call(lambda: client.put_object(Bucket=bucket, Key=key, Body=body), f"PUT {key}", where)
