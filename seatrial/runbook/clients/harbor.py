"""A client for Harbor's REST API (`/api/v2.0`), for the checks and steps of a migration.

Lists page with page_size=100 (Harbor's maximum) by following `Link rel="next"`, and cross-check
`X-Total-Count`. Error bodies (`{"errors":[{"code","message"}]}`) become typed errors that name the
URL path, Harbor's code and message, and a fix. The password never appears in any message.
"""

from __future__ import annotations

from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from seatrial.runbook import inflight, retry
from seatrial.runbook.errors import (
    ApiError,
    BadInput,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    ProtocolError,
    ReadOnlyRefused,
    Unauthorized,
    Unreachable,
)
from seatrial.runbook.secrets import Secret, redact

API = "/api/v2.0"
PAGE_SIZE = 100
READ_ONLY_MESSAGE = "read only mode"


class HarborClient:
    """Basic auth on every request; no session cookies (see __init__)."""

    def __init__(self, url: str, username: str, password: Secret, *, verify: bool | str = True, timeout: float = 30,
                 retries: bool = True):
        """`retries=False`: one attempt per request (a 5xx is raised at once), for a look that may not wait."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BadInput(f"Harbor URL {url!r} is not an http(s) URL", fix="give e.g. https://harbor.example.com")
        if not isinstance(password, Secret):
            raise BadInput("the Harbor password must be a Secret", fix="wrap it: Secret(value, 'harbor password')")
        self.url = url.rstrip("/")
        self.username = username
        self._password = password
        self.timeout = timeout
        self.retries = retries
        self._session = requests.Session()
        self._session.verify = verify
        # Harbor answers Basic-auth requests with a `sid` session cookie. A client that sends it back is
        # treated as a browser session, and its next POST/PUT/DELETE fails the CSRF check (403 "CSRF token
        # invalid"). Keeping no cookies at all is the maintainers' advice (goharbor/harbor#12455, #13570).
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self._session.trust_env = False  # explicit endpoints only; no proxies or .netrc credentials

    def __repr__(self) -> str:
        return f"HarborClient({self.url!r}, user={self.username!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> HarborClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ plumbing
    def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                 headers: dict[str, str] | None = None, expected: tuple[int, ...] = (200,),
                 absolute: str | None = None) -> requests.Response:
        url = absolute or f"{self.url}{API}{path}"
        attempt = 0
        while True:
            attempt += 1
            try:
                with inflight.awaiting(f"Harbor API at {self.url} to answer {method} {urlsplit(url).path}"):
                    response = self._session.request(method, url, params=params, json=json, headers=headers,
                                                     auth=(self.username, self._password.reveal()),
                                                     timeout=self.timeout, allow_redirects=False)
            except requests.Timeout:
                raise Unreachable(f"Harbor at {self.url} did not answer {method} {urlsplit(url).path} within "
                                  f"{self.timeout:.0f} s", fix="check that Harbor is up and the URL is right") from None
            except requests.ConnectionError as exc:
                raise Unreachable(f"Harbor at {self.url} cannot be reached ({method} {urlsplit(url).path}): "
                                  f"{_describe(exc)}", fix="check the URL, that Harbor is up, and the TLS settings "
                                  "(CA bundle / insecure)") from None
            if not self.retries or not retry.again(attempt, dependency=f"Harbor API at {self.url}",
                                                   status=response.status_code, method=method,
                                                   retry_after=response.headers.get("Retry-After")):
                break
        if response.status_code not in expected:
            self._raise_for(response, method)
        return response

    def _raise_for(self, response: requests.Response, method: str) -> None:
        status = response.status_code
        path = urlsplit(response.url).path
        code, message = _error_summary(response)
        where = f"Harbor at {self.url}: {method} {path} answered {status}"
        observed = f"{where} {code}: {message}".rstrip(": ")
        if status == 403 and code == "DENIED" and READ_ONLY_MESSAGE in message:
            raise ReadOnlyRefused(f"Harbor at {self.url} is read-only: {method} {path} was refused ({code}: {message})",
                            status=status, fix="run the thaw step or PUT read_only=false on /api/v2.0/configurations")
        if status == 403 and "CSRF" in message:
            raise Forbidden(observed, status=status, fix="do not send Harbor's `sid` cookie back (no cookie jar)")
        if status == 401:
            raise Unauthorized(observed, status=status,
                               fix=f"check the username {self.username!r} and the password for {self.url}")
        if status == 403:
            raise Forbidden(observed, status=status, fix=f"user {self.username!r} needs the system admin role")
        if status == 404:
            raise NotFound(observed, status=status, fix="check the project, repository or reference name")
        if status in (409, 412):
            raise Conflict(observed, status=status, fix="see Harbor's message: the object exists or is not empty")
        if status in (400, 422):
            raise Invalid(observed, status=status, fix="fix the request parameters named in Harbor's message")
        if status in retry.RETRY_STATUSES:
            tries = f"still, after {retry.attempts()} attempts" if self.retries else "one attempt, no retries"
            raise ApiError(f"{observed} ({tries})", status=status,
                           fix=f"Harbor at {self.url} (or a proxy in front of it) is failing or not ready: check "
                               "its core pod and logs (kubectl logs deploy/<release>-core), then resume")
        raise ApiError(observed, status=status, fix="see the Harbor core log (kubectl logs deploy/<release>-core)")

    def _get(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        response = self._request("GET", path, params=params, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ProtocolError(f"Harbor API at {self.url}: GET {API}{path} answered {response.status_code} with a "
                                f"body that is not JSON: {_excerpt(response)}", status=response.status_code,
                                fix=f"check that {self.url} is Harbor (not a proxy or login page)") from None

    def _paged(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every item of a list endpoint: page_size=100, following `Link rel="next"`."""
        items: list[dict[str, Any]] = []
        response = self._request("GET", path, params={**(params or {}), "page": 1, "page_size": PAGE_SIZE})
        seen: set[str] = set()
        while True:
            try:
                page = response.json()
            except ValueError:
                raise ProtocolError(f"Harbor API at {self.url}: GET {urlsplit(response.url).path} answered "
                                    f"{response.status_code} with a body that is not JSON: {_excerpt(response)}",
                                    status=response.status_code,
                                    fix=f"check that {self.url} is Harbor (not a proxy or login page)") from None
            if not isinstance(page, list):
                raise ProtocolError(f"Harbor at {self.url}: GET {urlsplit(response.url).path} did not answer a list",
                               status=response.status_code, fix=f"check that {self.url} is Harbor")
            items.extend(page)
            following = response.links.get("next", {}).get("url")
            if not following:
                break
            following = urljoin(self.url + "/", following)
            if following in seen:
                raise ApiError(f"Harbor at {self.url}: the Link header of {path} points back to {following}",
                               fix="report this Harbor version's paging bug; the listing cannot be trusted")
            seen.add(following)
            response = self._request("GET", path, absolute=following)
        total = response.headers.get("X-Total-Count")
        if total is not None and total.isdigit() and int(total) != len(items):
            raise ApiError(f"Harbor at {self.url}: {API}{path} listed {len(items)} items but X-Total-Count "
                           f"says {total}",
                           fix="the content changed while listing: set Harbor read-only (freeze) and list again")
        return items

    # ------------------------------------------------------------ system
    def verify_credentials(self) -> dict[str, Any]:
        """The current user; Unauthorized for wrong credentials (list endpoints would not tell)."""
        try:
            return self._get("/users/current")
        except Unauthorized:
            raise Unauthorized(
                f"wrong username or password for {self.url}: GET {API}/users/current answered 401 for user "
                f"{self.username!r}. List endpoints such as /projects would silently fall back to anonymous and "
                "show only public projects", status=401,
                fix="fix the Harbor username and password (harbor.username, harbor.password_env/password_file)",
            ) from None

    def health(self) -> dict[str, Any]:
        return self._get("/health")

    def systeminfo(self) -> dict[str, Any]:
        return self._get("/systeminfo")

    def read_only(self) -> bool:
        info = self.systeminfo()
        if "read_only" not in info:
            raise Unauthorized(f"Harbor at {self.url} did not show read_only in /systeminfo: it shows it only to "
                               "authenticated callers", status=200,
                               fix=f"check the username {self.username!r} and the password")
        return bool(info["read_only"])

    def read_only_reading(self) -> tuple[bool, str]:
        """(read_only, the server's time of the answer): Harbor's HTTP Date header, as ISO 8601 UTC."""
        from datetime import UTC, datetime
        from email.utils import parsedate_to_datetime

        response = self._request("GET", "/systeminfo")
        try:
            info = response.json()
        except ValueError:
            raise ProtocolError(f"Harbor API at {self.url}: GET {API}/systeminfo answered {response.status_code} "
                                f"with a body that is not JSON: {_excerpt(response)}", status=response.status_code,
                                fix=f"check that {self.url} is Harbor (not a proxy or login page)") from None
        if not isinstance(info, dict) or "read_only" not in info:
            raise Unauthorized(f"Harbor at {self.url} did not show read_only in /systeminfo: it shows it only to "
                               "authenticated callers", status=200,
                               fix=f"check the username {self.username!r} and the password")
        try:
            when = parsedate_to_datetime(response.headers.get("Date", ""))
        except (TypeError, ValueError):
            when = datetime.now(UTC)  # no Date header: our own clock, said so by the +00:00 suffix only
        return bool(info["read_only"]), when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def set_read_only(self, flag: bool) -> None:
        self._request("PUT", "/configurations", json={"read_only": bool(flag)})

    def statistics(self) -> dict[str, Any]:
        return self._get("/statistics")

    # ------------------------------------------------------------ projects
    def projects(self) -> list[dict[str, Any]]:
        return self._paged("/projects", {"with_detail": "false"})

    def project(self, name: str) -> dict[str, Any] | None:
        """The project, or None when it does not exist. Harbor before 2.2 has no `X-Is-Resource-Name` and reads
        the path as a project id (400/422 for a name): then the list filtered by name, matched exactly (the
        filter is a substring match)."""
        try:
            return self._get(f"/projects/{_segment(name)}", headers={"X-Is-Resource-Name": "true"})
        except NotFound:
            return None
        except Invalid:
            return next((p for p in self._paged("/projects", {"name": name}) if p.get("name") == name), None)

    def create_project(self, name: str, public: bool = False) -> None:
        self._request("POST", "/projects", expected=(201,),
                      json={"project_name": name, "metadata": {"public": "true" if public else "false"}})

    def delete_project(self, name: str) -> None:
        self._request("DELETE", f"/projects/{_segment(name)}", headers={"X-Is-Resource-Name": "true"})

    # ------------------------------------------------------------ repositories and artifacts
    def repositories(self, project: str) -> list[dict[str, Any]]:
        """Repositories of a project; each `name` includes the project (`library/busybox`)."""
        return self._paged(f"/projects/{_segment(project)}/repositories")

    def delete_repository(self, project: str, repo: str) -> None:
        self._request("DELETE", f"/projects/{_segment(project)}/repositories/{repository_path(repo)}")

    def artifacts(self, project: str, repo: str) -> list[dict[str, Any]]:
        """Artifacts of `repo` (name without the project), with their tags and, nested in each as `accessories`,
        its signatures and SBOMs (the default listing leaves those out)."""
        return self._paged(f"/projects/{_segment(project)}/repositories/{repository_path(repo)}/artifacts",
                           {"with_tag": "true", "with_label": "false", "with_scan_overview": "false",
                            "with_accessory": "true"})

    def delete_artifact(self, project: str, repo: str, reference: str) -> None:
        self._request("DELETE", f"/projects/{_segment(project)}/repositories/{repository_path(repo)}/artifacts/"
                                f"{_segment(reference)}")


def repository_path(repo: str) -> str:
    """Harbor wants a repository name with '/' encoded twice in paths: `a/b` -> `a%252Fb`."""
    return quote(quote(repo, safe=""), safe="")


def _segment(value: str) -> str:
    return quote(value, safe="")


def _error_summary(response: requests.Response) -> tuple[str, str]:
    """(code, message) of Harbor's error body, or ("", a short excerpt of whatever came back)."""
    try:
        body = response.json()
        first = body["errors"][0]
        return str(first.get("code", "")), redact(str(first.get("message", "")))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return "", redact(response.text[:200].strip())


def _excerpt(response: requests.Response, limit: int = 120) -> str:
    text = " ".join(response.text[:1000].split())
    return redact(repr(text[:limit] + ("..." if len(text) > limit else "")))


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    return redact(type(exc).__name__ + (f": {text[:200]}" if text else ""))
