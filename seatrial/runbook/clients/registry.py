"""An OCI distribution (`/v2/`) client that speaks Harbor's token flow and proves content by digest.

Facts: reference/harbor-facts.md b. The registry answers 401 with a `Www-Authenticate` challenge; for
Bearer we fetch a token from the realm with Basic credentials and retry once. Harbor's token service hands
out an *anonymous* token for wrong credentials, so a bad password shows up as a 401 on `/v2`, not at the
token service. No cookies are kept: a kept Harbor `sid` cookie turns the next write into a CSRF failure.
Blobs are hashed while streaming, in constant memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import IO, Any, BinaryIO
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests

from seatrial.runbook import inflight, retry
from seatrial.runbook.errors import (
    ApiError,
    BadInput,
    DigestMismatch,
    Forbidden,
    NotFound,
    ProtocolError,
    Unauthorized,
    Unreachable,
)
from seatrial.runbook.secrets import Secret, redact, register

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MANIFEST_ACCEPT = ", ".join((OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST))
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)

# distribution's grammar (reference/reference.go), enough to refuse typos before any request
REPOSITORY_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
TAG_RE = re.compile(r"^\w[\w.-]{0,127}$")
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$")
CHALLENGE_PARAM_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')

TOKEN_EXPIRY_MARGIN_S = 10
DEFAULT_TOKEN_LIFETIME_S = 60  # distribution's token spec: assume 60 s when expires_in is absent
TIMEOUT_S = 60
MANIFEST_SIZE_LIMIT = 4 << 20  # distribution refuses larger manifests; anything bigger is not one


# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class Descriptor:
    digest: str
    size: int
    media_type: str = "application/octet-stream"

    def to_json(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class PushedArtifact:
    digest: str
    size: int  # as Harbor counts it: manifest length + config size + layer sizes
    manifest_media_type: str
    blobs: list[Descriptor]


@dataclass(frozen=True)
class PulledManifest:
    digest: str
    media_type: str
    body: bytes
    blobs: list[Descriptor]  # config + layers of an image manifest; empty for an index
    children: list[Descriptor] = field(default_factory=list)  # manifests an index refers to

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


@dataclass(frozen=True)
class VerifiedArtifact:
    digest: str
    media_type: str
    size: int  # Harbor's artifact size; for an index its own length plus the sum over its children
    blobs_verified: int
    manifests_verified: int


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lower case: "bearer" or "basic"
    params: dict[str, str]

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenge(header: str) -> Challenge:
    """`Bearer realm="..",service="..",scope=".."` -> Challenge; lenient about spaces and quoting."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for match in CHALLENGE_PARAM_RE.finditer(rest):
        key, quoted, bare = match.groups()
        params[key.lower()] = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
    return Challenge(scheme.lower(), params)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _digest_like(claimed: str, data: bytes, what: str) -> str:
    """`data`'s digest in the algorithm `claimed` uses."""
    hasher = _hasher_for(claimed, what)
    hasher.update(data)
    return f"{hasher.name}:{hasher.hexdigest()}"


def _hasher_for(digest: str, what: str) -> Any:
    algorithm = digest.partition(":")[0]
    if algorithm not in ("sha256", "sha512"):
        raise BadInput(f"{what}: digest algorithm {algorithm!r} is not supported", fix="use a sha256 or sha512 digest")
    return hashlib.new(algorithm)


def _check_repository(repo: str) -> None:
    if not REPOSITORY_RE.match(repo or ""):
        raise BadInput(
            f"repository name {repo!r} is not a valid OCI repository name",
            fix="use lower-case path components such as 'project/app' (letters, digits, '.', '_', '-')",
        )


def _check_reference(reference: str) -> None:
    if not (TAG_RE.match(reference or "") or DIGEST_RE.match(reference or "")):
        raise BadInput(
            f"reference {reference!r} is neither a tag nor a digest",
            fix="give a tag such as 'v1.2' or a digest such as 'sha256:<64 hex>'",
        )


def _is_digest(reference: str) -> bool:
    return bool(DIGEST_RE.match(reference))


# ---------------------------------------------------------------- auth


@dataclass
class _Token:
    value: str
    expires_at: float  # time.monotonic()

    def valid(self) -> bool:
        return time.monotonic() < self.expires_at


class TokenCache:
    """The registry's Bearer challenge and its tokens by scope, shareable by the clients of one pool of workers:
    each scope's token is fetched once, not once per worker (any worker may read any repository's manifests
    and blobs), and one 401 teaches every client the challenge."""

    def __init__(self) -> None:
        self.challenge: Challenge | None = None
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}

    def token(self, scope: str, *, fresh: bool, fetch: Callable[[], _Token]) -> _Token:
        """The valid token of `scope`, fetched (once, whoever asks meanwhile) when absent, expired or `fresh`."""
        with self._lock:
            lock = self._fetching.setdefault(scope, threading.Lock())
        with lock:
            token = self._tokens.get(scope)
            if fresh or token is None or not token.valid():
                token = self._tokens[scope] = fetch()
            return token


def _error_summary(response: requests.Response) -> tuple[str, str]:
    """(first error code, 'CODE: message; ...') from a distribution/Harbor error body."""
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        errors = []
    parts = [f"{e.get('code', '?')}: {e.get('message', '')}" for e in errors if isinstance(e, dict)]
    first_code = errors[0].get("code", "") if errors and isinstance(errors[0], dict) else ""
    if not parts:
        text = response.text.strip() if response.headers.get("Content-Length", "0") != "0" else ""
        parts = [text[:300]] if text else []
    return first_code, redact("; ".join(parts))


# ---------------------------------------------------------------- client


class RegistryClient:
    """Push and pull through `/v2/`, with Bearer (token service) or Basic authentication."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: Secret,
        *,
        verify: bool | str = True,
        chunk_size: int = 1 << 20,
        timeout: float = TIMEOUT_S,
    ):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadInput(f"registry URL {base_url!r} is not an http(s) URL", fix="give e.g. https://harbor.example.com")
        if not isinstance(password, Secret):
            raise BadInput("the registry password must be a Secret", fix="wrap it: Secret(value, 'harbor password')")
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.chunk_size = chunk_size
        self.timeout = timeout
        self._session = requests.Session()
        self._session.verify = verify
        # Harbor sets a `sid` cookie; sending it back makes writes fail CSRF checks
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self._session.trust_env = False  # loopback and explicit endpoints only; no proxies or .netrc
        self._basic = False
        self._tokens = TokenCache()

    def __repr__(self) -> str:
        return f"RegistryClient({self.base_url!r}, user={self.username!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ auth plumbing

    def _basic_credentials(self) -> tuple[str, str]:
        return (self.username, self._password.reveal())

    def _fetch_token(self, challenge: Challenge, scope: str | None) -> _Token:
        params: list[tuple[str, str]] = []
        if challenge.params.get("service"):
            params.append(("service", challenge.params["service"]))
        if scope:
            params.append(("scope", scope))
        realm = challenge.realm
        if not realm:
            raise Unauthorized(
                f"{self.base_url} asked for a Bearer token but named no realm (token service)",
                fix="check the registry's auth.token.realm setting",
            )
        if self.base_url.startswith("https:") and not realm.startswith("https:"):
            raise Unauthorized(
                f"{self.base_url} sends clients to the token service {realm}, which is not https; "
                "the password is not sent there in clear text",
                fix="set the registry's external URL (Harbor: externalURL) to https",
            )
        try:
            answer = self._session.get(
                realm, params=params, auth=self._basic_credentials(), timeout=self.timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise Unreachable(
                f"token service {realm} for {self.base_url} cannot be reached: {_describe(exc)}",
                fix="check that the registry's token realm is reachable from here",
            ) from None
        if answer.status_code != 200:
            _, detail = _error_summary(answer)
            error = Unauthorized if answer.status_code == 401 else ApiError
            raise error(
                f"token service {realm} refused a token for user {self.username!r} "
                f"(scope {scope or 'none'}): {answer.status_code} {detail}".rstrip(),
                status=answer.status_code,
                fix="check the username and password for the registry",
            )
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        value = body.get("token") or body.get("access_token")
        if not value:
            raise ApiError(
                f"token service {realm} answered 200 without a token", status=200, fix="check the token realm URL"
            )
        register(value)
        lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME_S)
        margin = min(TOKEN_EXPIRY_MARGIN_S, lifetime / 2)
        return _Token(value, time.monotonic() + lifetime - margin)

    def share_tokens(self, cache: TokenCache) -> None:
        """Use `cache` (shared with other clients of the same registry and user) for the challenge and tokens."""
        self._tokens = cache

    def _auth_header(self, scope: str | None, *, fresh: bool) -> dict[str, str]:
        if self._basic:
            return {}
        challenge = self._tokens.challenge
        if challenge is None:
            return {}
        token = self._tokens.token(scope or "", fresh=fresh, fetch=lambda: self._fetch_token(challenge, scope))
        return {"Authorization": f"Bearer {token.value}"}

    def _send(
        self,
        method: str,
        url: str,
        *,
        scope: str | None,
        fresh: bool,
        headers: dict[str, str] | None,
        data: Any,
        stream: bool,
    ) -> requests.Response:
        all_headers = dict(headers or {})
        all_headers.update(self._auth_header(scope, fresh=fresh))
        if hasattr(data, "seek"):
            data.seek(0)
        try:
            with inflight.awaiting(f"the registry at {self.base_url} to answer {method} {urlsplit(url).path}"):
                return self._session.request(
                    method,
                    url,
                    headers=all_headers,
                    data=data,
                    stream=stream,
                    auth=self._basic_credentials() if self._basic else None,
                    timeout=self.timeout,
                )
        except requests.RequestException as exc:
            failed = urlsplit(getattr(getattr(exc, "request", None), "url", None) or url)
            if failed.netloc and failed.netloc != urlsplit(url).netloc:  # a redirect was followed, and broke
                raise Unreachable(
                    f"{method} {urlsplit(url).path} on {self.base_url}: the registry redirected to its storage at "
                    f"{failed.scheme}://{failed.netloc}, which is not reachable from here: {_describe(exc)}",
                    fix="the registry's S3 storage hands out its own address (redirects on): reach that host from "
                        "here, or run seatrial where it resolves; this says nothing about the blob's data",
                ) from None
            raise Unreachable(
                f"{method} {urlsplit(url).path} on {self.base_url} failed: {_describe(exc)}",
                fix="check the registry URL, that it is up, and the TLS settings (CA bundle / insecure)",
            ) from None

    def _send_retrying(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        data = kwargs.get("data")
        replayable = data is None or isinstance(data, bytes | str) or hasattr(data, "seek")
        attempt = 0
        while True:
            attempt += 1
            response = self._send(method, url, **kwargs)
            if not replayable or not retry.again(attempt, dependency=f"registry at {self.base_url}",
                                                 status=response.status_code, method=method,
                                                 retry_after=response.headers.get("Retry-After")):
                return response
            response.close()

    def _request(
        self,
        method: str,
        url: str,
        *,
        scope: str | None,
        what: str,
        expected: tuple[int, ...],
        headers: dict[str, str] | None = None,
        data: Any = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send (again on 429/5xx, seatrial.runbook.retry); on a 401 challenge authenticate and send once more;
        map error statuses."""
        # sent without a token (the challenge unknown yet): after the 401, a token another client of the same
        # cache fetched meanwhile is as good as a fresh one
        tokenless = self._tokens.challenge is None and not self._basic
        response = self._send_retrying(method, url, scope=scope, fresh=False, headers=headers, data=data,
                                       stream=stream)
        if response.status_code == 401:
            challenge = parse_challenge(response.headers.get("Www-Authenticate", ""))
            if challenge.scheme == "bearer":
                self._tokens.challenge = challenge
                self._basic = False
                scope = scope or challenge.params.get("scope")
            elif challenge.scheme == "basic" and not self._basic:
                self._basic = True
            else:
                self._raise_for(response, what)
            response.close()
            response = self._send_retrying(method, url, scope=scope, fresh=not tokenless, headers=headers,
                                           data=data, stream=stream)
        if response.status_code not in expected:
            self._raise_for(response, what)
        return response

    def _raise_for(self, response: requests.Response, what: str) -> None:
        status = response.status_code
        code, detail = _error_summary(response)
        response.close()
        observed = f"{status} {detail}".rstrip()
        where = f"{what} on the registry at {self.base_url}"
        if status == 401:
            challenge = parse_challenge(response.headers.get("Www-Authenticate", ""))
            if challenge.params.get("error") == "insufficient_scope":
                observed += " (the token does not grant this action)"
            fix = f"check the password of user {self.username!r}" + (
                "" if self._basic else " (a wrong one silently gets an anonymous token)"
            )
            raise Unauthorized(
                f"{where} was refused: {observed}",
                status=status,
                fix=fix + " and that the user has push/pull rights on the project",
            )
        if status == 403:
            fix = (
                "the registry is read-only: clear it (Harbor: PUT /api/v2.0/configurations {\"read_only\": false})"
                if code == "DENIED" and ("read only" in detail.lower() or "read-only" in detail.lower())
                else f"give user {self.username!r} a role with this right on the project"
            )
            raise Forbidden(f"{where} was forbidden: {observed}", status=status, fix=fix)
        if status == 404:
            raise NotFound(
                f"{where}: not found: {observed}",
                status=status,
                fix="check the repository, tag or digest; for Harbor the project must exist",
            )
        if status == 405:
            raise ApiError(
                f"{where} is not allowed: {observed}",
                status=status,
                fix="the registry refuses this method: it is in read-only mode (distribution: "
                "storage.maintenance.readonly) or, for deletes, storage.delete is disabled",
            )
        if status in retry.RETRY_STATUSES:
            raise ApiError(f"{where} failed: {observed} (still, after {retry.attempts()} attempts)", status=status,
                           fix=f"the registry at {self.base_url} (or a proxy in front of it) is failing: check its "
                               "pod and logs, then resume")
        raise ApiError(f"{where} failed: {observed}", status=status, fix="see the registry's log for the cause")

    # ------------------------------------------------------------ urls and scopes

    def _url(self, path: str) -> str:
        return f"{self.base_url}/v2/{path}"

    @staticmethod
    def _scope(repo: str, actions: str) -> str:
        return f"repository:{repo}:{actions}"

    # ------------------------------------------------------------ api

    def ping(self) -> None:
        """Authenticate against `/v2/`; raises Unauthorized/Unreachable when that fails."""
        self._request("GET", self._url(""), scope=None, what="GET /v2/", expected=(200,)).close()

    def blob_exists(self, repo: str, digest: str, *, for_push: bool = False) -> bool:
        """HEAD the blob; `for_push` asks for the push scope so the upload that follows reuses the token."""
        _check_repository(repo)
        what = f"HEAD blob {digest} in {repo}"
        scope = self._scope(repo, "pull,push" if for_push else "pull")
        url = self._url(f"{repo}/blobs/{digest}")
        response = self._request("HEAD", url, scope=scope, what=what, expected=(200, 404))
        response.close()
        return response.status_code == 200

    def push_blob(
        self, repo: str, source: bytes | BinaryIO | Path, media_type: str = "application/octet-stream"
    ) -> Descriptor:
        """Upload a blob (monolithic PUT) unless the registry already has it; files are streamed twice
        (digest, then upload), never read whole."""
        _check_repository(repo)
        with self._blob_source(source) as (body, digest, size):
            descriptor = Descriptor(digest, size, media_type)
            scope = self._scope(repo, "pull,push")
            if self.blob_exists(repo, digest, for_push=True):
                return descriptor
            what = f"push of blob {digest} ({size} bytes) to {repo}"
            started = self._request(
                "POST", self._url(f"{repo}/blobs/uploads/"), scope=scope, what=what, expected=(202,)
            )
            started.close()
            location = started.headers.get("Location")
            if not location:
                raise ApiError(f"{what}: the registry gave no upload Location", status=202, fix="check the registry")
            upload_url = _with_query(urljoin(self._url(f"{repo}/blobs/uploads/"), location), digest=digest)
            stored = self._request(
                "PUT",
                upload_url,
                scope=scope,
                what=what,
                expected=(201,),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                data=body,
            )
            stored.close()
            echoed = stored.headers.get("Docker-Content-Digest")
            if echoed and echoed != digest:
                raise DigestMismatch(
                    f"{what}: the registry stored digest {echoed}, expected {digest}",
                    fix="the upload was altered on the way; retry, and check proxies between here and the registry",
                )
            return descriptor

    @contextmanager
    def _blob_source(self, source: bytes | BinaryIO | Path) -> Iterator[tuple[Any, str, int]]:
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            yield data, sha256_digest(data), len(data)
            return
        if isinstance(source, str | Path):
            path = Path(source)
            if not path.is_file():
                raise BadInput(f"blob source {path} is not a file", fix="give an existing file path")
            with path.open("rb") as stream:
                yield self._rewindable(stream)
            return
        if getattr(source, "seekable", lambda: False)():
            yield self._rewindable(source)
            return
        # a pipe cannot be read twice: spool it to disk (constant memory) and stream from there
        with tempfile.TemporaryFile() as spool:
            shutil.copyfileobj(source, spool, self.chunk_size)
            spool.seek(0)
            yield self._rewindable(spool)

    def _rewindable(self, stream: IO[bytes]) -> tuple[Any, str, int]:
        start = stream.tell()
        hasher = hashlib.sha256()
        size = 0
        while chunk := stream.read(self.chunk_size):
            hasher.update(chunk)
            size += len(chunk)
        stream.seek(start)
        return _FromOffset(stream, start), "sha256:" + hasher.hexdigest(), size

    def push_manifest(self, repo: str, reference: str, manifest: bytes, media_type: str) -> str:
        """PUT a manifest under a tag or digest; returns its digest, checked against the registry's."""
        _check_repository(repo)
        _check_reference(reference)
        digest = sha256_digest(manifest)
        what = f"push of manifest {repo}:{reference} ({digest})"
        response = self._request(
            "PUT",
            self._url(f"{repo}/manifests/{reference}"),
            scope=self._scope(repo, "pull,push"),
            what=what,
            expected=(201,),
            headers={"Content-Type": media_type},
            data=manifest,
        )
        response.close()
        echoed = response.headers.get("Docker-Content-Digest")
        if echoed and echoed != digest:
            raise DigestMismatch(
                f"{what}: the registry reports digest {echoed}, expected {digest}",
                fix="the manifest was altered on the way; retry and check proxies",
            )
        return digest

    def push_image(
        self, repo: str, tag: str, layers: list[bytes | Path], config: bytes | None = None
    ) -> PushedArtifact:
        """Push layers and config, then an OCI image manifest tagged `tag`."""
        _check_reference(tag)
        layer_descriptors = [self.push_blob(repo, layer, OCI_LAYER_TAR) for layer in layers]
        if config is None:
            config = json.dumps(
                {
                    "architecture": "amd64",
                    "os": "linux",
                    # uncompressed tar layers: the diff ID is the layer digest
                    "rootfs": {"type": "layers", "diff_ids": [d.digest for d in layer_descriptors]},
                },
                separators=(",", ":"),
            ).encode()
        config_descriptor = self.push_blob(repo, config, OCI_CONFIG)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": config_descriptor.to_json(),
                "layers": [d.to_json() for d in layer_descriptors],
            },
            separators=(",", ":"),
        ).encode()
        digest = self.push_manifest(repo, tag, manifest, OCI_MANIFEST)
        blobs = [config_descriptor, *layer_descriptors]
        return PushedArtifact(digest, len(manifest) + sum(b.size for b in blobs), OCI_MANIFEST, blobs)

    def pull_manifest(self, repo: str, reference: str) -> PulledManifest:
        """GET a manifest and prove its digest (against a digest reference and Docker-Content-Digest)."""
        _check_repository(repo)
        _check_reference(reference)
        what = f"pull of manifest {repo}:{reference}"
        response = self._request(
            "GET",
            self._url(f"{repo}/manifests/{reference}"),
            scope=self._scope(repo, "pull"),
            what=what,
            expected=(200,),
            headers={"Accept": MANIFEST_ACCEPT},
            stream=True,
        )
        body = _read_capped(response, MANIFEST_SIZE_LIMIT, f"{what} on {self.base_url}")
        if not _is_json_object(body):  # a proxy's page is not a damaged manifest: say what came back, not "corrupt"
            raise ProtocolError(
                f"{what} on {self.base_url}: the registry answered {response.status_code} "
                f"({response.headers.get('Content-Type') or 'no Content-Type'}) with a body that is not a manifest: "
                f"{_excerpt(body)}",
                status=response.status_code,
                fix="check that the URL reaches the registry itself (not a proxy, login or error page), then resume",
            )
        echoed = response.headers.get("Docker-Content-Digest")
        claims = [(reference, "the reference")] if _is_digest(reference) else []
        if echoed:
            claims.append((echoed, "the registry's Docker-Content-Digest"))
        for claimed, source in claims:
            observed = _digest_like(claimed, body, what)
            if observed != claimed:
                raise DigestMismatch(
                    f"manifest {repo}:{reference} on {self.base_url} does not match its digest: "
                    f"expected {claimed} (from {source}), observed {observed}",
                    fix="the registry storage is corrupt or incomplete: restore the registry volume and re-verify",
                )
        digest = reference if _is_digest(reference) else sha256_digest(body)
        return _parse_manifest(body, digest, response.headers.get("Content-Type", ""), what)

    def verify_blob(self, repo: str, digest: str, size: int | None = None) -> int:
        """Stream a blob through its hash in constant memory; returns the byte count.
        Raises DigestMismatch naming the blob when the content or the size is not what was expected."""
        _check_repository(repo)
        what = f"pull of blob {digest} from {repo}"
        if not DIGEST_RE.match(digest or ""):
            raise BadInput(f"{what}: {digest!r} is not a digest", fix="give a digest such as 'sha256:<64 hex>'")
        hasher = _hasher_for(digest, what)
        count = 0
        response = self._request(
            "GET", self._url(f"{repo}/blobs/{digest}"), scope=self._scope(repo, "pull"), what=what, expected=(200,),
            stream=True,
        )
        if (response.headers.get("Content-Type") or "").startswith("text/html"):
            response.close()
            raise ProtocolError(
                f"{what} on {self.base_url}: the registry answered {response.status_code} with an HTML page, "
                "not the blob's bytes",
                status=response.status_code,
                fix="check that the URL reaches the registry itself (not a proxy, login or error page), then resume",
            )
        with response:
            try:
                for chunk in response.iter_content(self.chunk_size):
                    hasher.update(chunk)
                    count += len(chunk)
            except requests.RequestException as exc:
                raise Unreachable(
                    f"{what} on {self.base_url} broke off after {count} bytes: {type(exc).__name__}",
                    fix="retry; if it repeats, check the registry's storage backend",
                ) from None
        observed = f"{hasher.name}:{hasher.hexdigest()}"
        if observed != digest:
            raise DigestMismatch(
                f"blob {digest} in {repo} on {self.base_url} does not match its digest: "
                f"expected {digest}, observed {observed} ({count} bytes)",
                fix="the registry storage is corrupt or incomplete: restore the registry volume and re-verify",
            )
        if size is not None and count != size:
            raise DigestMismatch(
                f"blob {digest} in {repo} on {self.base_url} has {count} bytes, expected {size}",
                fix="the manifest and the stored blob disagree: restore the registry volume and re-verify",
            )
        return count

    def verify_artifact(self, repo: str, reference: str) -> VerifiedArtifact:
        """Pull a manifest (and, for an index, every child) and verify every blob it names."""
        manifest = self.pull_manifest(repo, reference)
        if manifest.is_index:
            size = len(manifest.body)  # Harbor: the index manifest's own length plus every child's size
            blobs = manifests = 0
            for child in manifest.children:
                verified = self.verify_artifact(repo, child.digest)
                size += verified.size
                blobs += verified.blobs_verified
                manifests += verified.manifests_verified
            return VerifiedArtifact(manifest.digest, manifest.media_type, size, blobs, manifests + 1)
        size = len(manifest.body)
        for blob in manifest.blobs:
            size += self.verify_blob(repo, blob.digest, blob.size)
        return VerifiedArtifact(manifest.digest, manifest.media_type, size, len(manifest.blobs), 1)

    def tags(self, repo: str, page_size: int = 100) -> list[str]:
        """Every tag of `repo`, following `Link: <...>; rel="next"` pages."""
        _check_repository(repo)
        what = f"tag listing of {repo}"
        url: str | None = self._url(f"{repo}/tags/list") + "?" + urlencode({"n": page_size})
        found: list[str] = []
        while url:
            response = self._request("GET", url, scope=self._scope(repo, "pull"), what=what, expected=(200,))
            try:
                found.extend(response.json().get("tags") or [])
            except ValueError:
                raise ApiError(f"{what} on {self.base_url}: the answer is not JSON", status=200) from None
            following = response.links.get("next", {}).get("url")
            url = urljoin(self.base_url + "/", following) if following else None
        return found

    def delete_manifest(self, repo: str, digest: str) -> None:
        _check_repository(repo)
        if not _is_digest(digest):
            raise BadInput(f"delete of {repo}:{digest}: a manifest is deleted by digest", fix="pass its sha256 digest")
        self._request(
            "DELETE",
            self._url(f"{repo}/manifests/{digest}"),
            scope=self._scope(repo, "delete"),
            what=f"delete of manifest {repo}@{digest}",
            expected=(202,),
        ).close()


class _FromOffset(io.RawIOBase):
    """A read view of a stream from a fixed offset; `seek(0)` rewinds to that offset (for the 401 retry)."""

    def __init__(self, stream: IO[bytes], start: int):
        self._stream = stream
        self._start = start

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            return self._stream.seek(self._start + offset) - self._start
        return self._stream.seek(offset, whence) - self._start

    def tell(self) -> int:
        return self._stream.tell() - self._start

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _describe(exc: BaseException) -> str:
    """A connection error in a line, scrubbed of secrets."""
    return redact(f"{type(exc).__name__}: {exc}")[:300]


def _with_query(url: str, **extra: str) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(extra.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def _read_capped(response: requests.Response, limit: int, what: str) -> bytes:
    with response:
        body = bytearray()
        for chunk in response.iter_content(64 * 1024):
            body += chunk
            if len(body) > limit:
                raise ApiError(
                    f"{what}: the manifest is larger than {limit} bytes",
                    status=response.status_code,
                    fix="check that the URL points at an OCI registry and the reference at a manifest",
                )
    return bytes(body)


def _is_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body), dict)
    except ValueError:
        return False


def _excerpt(body: bytes, limit: int = 120) -> str:
    text = " ".join(body[:1000].decode("utf-8", "replace").split())
    return redact(repr(text[:limit] + ("..." if len(text) > limit else "")))


def _parse_manifest(body: bytes, digest: str, content_type: str, what: str) -> PulledManifest:
    try:
        document = json.loads(body)
    except ValueError:
        raise ApiError(f"{what}: the manifest is not JSON", status=200, fix="check the reference") from None
    media_type = document.get("mediaType") or content_type.split(";")[0].strip()

    def descriptors(items: Any) -> list[Descriptor]:
        return [
            Descriptor(d["digest"], int(d["size"]), d.get("mediaType", ""))
            for d in items or []
            if isinstance(d, dict) and "digest" in d and "size" in d
        ]

    if media_type in INDEX_TYPES or "manifests" in document:
        return PulledManifest(digest, media_type or OCI_INDEX, body, [], descriptors(document.get("manifests")))
    blobs = descriptors([document["config"]] if "config" in document else [])
    blobs += descriptors(document.get("layers")) + descriptors(document.get("blobs"))
    return PulledManifest(digest, media_type, body, blobs)
