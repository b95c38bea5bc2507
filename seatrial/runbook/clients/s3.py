"""S3 access for Velero's bucket (MinIO, moto, AWS): the client, the bucket check, the credentials file.

The client fails fast: a short connect timeout and one attempt, so an endpoint that does not answer
is reported as `Unreachable` in seconds instead of after minutes of retries. Every botocore error
goes through `translate`, which turns it into a typed seatrial error that names the endpoint and
bucket and never a key.
"""

from __future__ import annotations

import configparser
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from seatrial.runbook import inflight, retry
from seatrial.runbook.errors import (
    ApiError,
    ConfigError,
    Forbidden,
    NotFound,
    ProtocolError,
    SeatrialError,
    Unreachable,
)
from seatrial.runbook.secrets import Secret, redact

T = TypeVar("T")

MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})
DENIED_CODES = frozenset({"401", "403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                          "InvalidToken", "ExpiredToken"})
READ_PIECE = 1 << 16
CREDENTIALS_FIX = ("write it as:\n    [default]\n    aws_access_key_id = <key id>\n"
                   "    aws_secret_access_key = <secret key>")


def s3_client(endpoint: str, *, region: str, access_key: Secret, secret_key: Secret, path_style: bool = True,
              verify: bool | str = True, connect_timeout: float = 3, read_timeout: float = 60):
    """A boto3 S3 client for `endpoint`; `verify` is True, False or the path of a CA bundle."""
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path" if path_style else "auto"},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        signature_version="s3v4",
    )
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region or "us-east-1",
        aws_access_key_id=access_key.reveal(),
        aws_secret_access_key=secret_key.reveal(),
        verify=verify,
        config=config,
    )


def translate(exc: Exception, what: str, where: str) -> SeatrialError:
    """The seatrial error for a botocore exception raised while doing `what` against `where`."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error") or {}
        code = str(error.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        text = redact(f"{what} at {where}: {code} {error.get('Message', '')}".strip())
        if code in MISSING_CODES:
            return NotFound(text, status=404, fix="check storage.bucket and storage.prefix")
        if code in DENIED_CODES:
            return Forbidden(text, status=status or 403,
                             fix="check the access key and secret key in storage.credentials_file, "
                                 "and that the key may read and write this bucket")
        if status in retry.RETRY_STATUSES:
            return ApiError(f"{text} (HTTP {status}, still after {retry.attempts()} attempts)", status=status,
                            fix="the object store is failing: check it and anything in front of it, then resume")
        if status and not code.isalpha() and not error.get("Message"):
            return ProtocolError(f"{text} (HTTP {status}, not an S3 error document)", status=status,
                                 fix="check that storage.endpoint is the object store itself, not a proxy")
        return ApiError(text, status=status, fix="see the object store's message and its logs")
    if isinstance(exc, BotoCoreError):
        return Unreachable(redact(f"cannot reach the object store at {where} ({what}): {type(exc).__name__}: {exc}"),
                           fix="check storage.endpoint, that the object store runs, and its TLS settings "
                               "(storage.ca_bundle / storage.insecure)")
    raise exc


def call(action: Callable[[], T], what: str, where: str) -> T:
    """Run one S3 request, again on 429/5xx (seatrial.runbook.retry); botocore errors become seatrial errors
    (see `translate`)."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    attempt = 0
    while True:
        attempt += 1
        try:
            with inflight.awaiting(f"the object store at {where} to answer {what}"):
                return action()
        except ClientError as exc:
            meta = exc.response.get("ResponseMetadata") or {}
            status = meta.get("HTTPStatusCode") or 0
            retry_after = (meta.get("HTTPHeaders") or {}).get("retry-after")
            if retry.again(attempt, dependency=f"object store at {where}", status=status, retry_after=retry_after):
                continue
            raise translate(exc, what, where) from None
        except ResponseParserError:
            raise ProtocolError(f"{what} at {where}: the answer is not S3's (it could not be parsed)",
                                fix="check that storage.endpoint is the object store itself, not a proxy or "
                                    "login page") from None
        except BotoCoreError as exc:
            raise translate(exc, what, where) from None


class ObjectBody:
    """An object's body as it streams in. A read that breaks off (fewer bytes than the answer's Content-Length),
    or bytes that do not match the checksum the object store sent with them, is a fault of the object store or of
    the way to it: a ProtocolError (exit 3) naming what came back -- never a verdict on the object, whose bytes
    were not all seen."""

    def __init__(self, body: Any, *, what: str, where: str, length: int | None):
        self._body = body
        self.what, self.where, self.length = what, where, length
        self.received = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:  # in pieces, so that a break says how much had come
            return b"".join(iter(lambda: self._read(READ_PIECE), b""))
        return self._read(size)

    def _read(self, size: int) -> bytes:
        from botocore.exceptions import BotoCoreError, FlexibleChecksumError

        try:
            data = self._body.read(size)
        except FlexibleChecksumError as exc:
            raise ProtocolError(
                redact(f"{self.what} at {self.where}: the object store answered 200, but the {self.received} bytes "
                       f"that came do not match the checksum it sent with them ({exc})"), status=200,
                fix="the answer changed on its way (a proxy, the network) or in the object store: resume to read "
                    "it again; the object itself was not judged") from None
        except (BotoCoreError, OSError) as exc:
            expected = f"of the {self.length} announced " if self.length is not None else ""
            raise ProtocolError(
                redact(f"{self.what} at {self.where}: the object store answered 200, but the body broke off after "
                       f"{self.received} bytes {expected}({type(exc).__name__})"), status=200,
                fix="the object store (or a proxy in front of it) cut the answer short: check it and the network, "
                    "then resume; the object itself was not judged") from None
        self.received += len(data)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._body.close()

    def __enter__(self) -> ObjectBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_bucket(client: Any, bucket: str, endpoint: str) -> None:
    """The bucket answers (HEAD): Unreachable, NotFound (with how to create it) or Forbidden otherwise."""
    where = f"{endpoint} bucket {bucket}"
    try:
        call(lambda: client.head_bucket(Bucket=bucket), "HEAD bucket", where)
    except NotFound:
        raise NotFound(f"bucket {bucket!r} does not exist at {endpoint}", status=404,
                       fix=f"create it (mc mb <alias>/{bucket}, or aws --endpoint-url {endpoint} s3 mb s3://{bucket}) "
                           "or correct storage.bucket") from None
    except Forbidden as exc:
        raise Forbidden(f"access to bucket {bucket!r} at {endpoint} is denied (HTTP {exc.status})", status=exc.status,
                        fix="check the keys in storage.credentials_file and the bucket policy for them") from None


def parse_credentials_file(path: Path | str, *, key: str = "storage.credentials_file") -> tuple[Secret, Secret]:
    """(access key, secret key) from Velero's `credentials-velero` INI file.

    Errors name the file, the section, the option or the line number, never a value.
    """
    path = Path(path)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(key, f"cannot read {path}: {type(exc).__name__}",
                          fix="check that the file exists and is readable") from None
    except configparser.MissingSectionHeaderError as exc:
        raise ConfigError(key, f"{path} line {exc.lineno}: there is no [default] section header before it",
                          fix=CREDENTIALS_FIX) from None
    except configparser.ParsingError as exc:
        lines = ", ".join(str(lineno) for lineno, _ in exc.errors)
        raise ConfigError(key, f"{path}: lines that are not `name = value`: {lines}", fix=CREDENTIALS_FIX) from None
    except configparser.Error as exc:  # duplicate sections/options; their messages may quote values
        raise ConfigError(key, f"{path} is malformed: {type(exc).__name__}", fix=CREDENTIALS_FIX) from None
    if not parser.has_section("default"):
        raise ConfigError(key, f"{path} has no [default] section", fix=CREDENTIALS_FIX)
    values = {}
    for option in ("aws_access_key_id", "aws_secret_access_key"):
        value = parser.get("default", option, fallback="").strip()
        if not value:
            raise ConfigError(key, f"{path}: section [default] has no {option}", fix=CREDENTIALS_FIX)
        values[option] = value
    return (Secret(values["aws_access_key_id"], "aws_access_key_id"),
            Secret(values["aws_secret_access_key"], "aws_secret_access_key"))
