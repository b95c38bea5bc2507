"""Bounded exponential backoff for 429 and 5xx answers, shared by every client (Kubernetes, S3, Harbor API,
registry), honouring `Retry-After`, and saying so on the progress line.

After the last attempt the client raises its typed error: a 5xx or 429 left over is a dependency fault
(exit 3, seatrial.runbook.errors). A POST is re-sent only for 429 and 503, the answers that say the request was
not acted on; any other 5xx to a POST may have created the object, so it is not repeated blindly.

`SEATRIAL_RETRY_ATTEMPTS` and `SEATRIAL_RETRY_BASE_S` tune the bound (tests make it short).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from seatrial.runbook.secrets import redact

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
NOT_ACTED_ON = frozenset({429, 503})
CAP_S = 8.0
RETRY_AFTER_CAP_S = 30.0


def attempts() -> int:
    return max(1, int(os.environ.get("SEATRIAL_RETRY_ATTEMPTS", "5")))


def base_seconds() -> float:
    return max(0.0, float(os.environ.get("SEATRIAL_RETRY_BASE_S", "0.5")))


def _stderr(line: str) -> None:
    print(redact(line), file=sys.stderr, flush=True)


_reporter: Callable[[str], None] = _stderr


def set_reporter(reporter: Callable[[str], None] | None) -> None:
    """Where retry notices go (a step's progress output); None restores stderr."""
    global _reporter
    _reporter = reporter or _stderr


def retry_after_seconds(header: str | None) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def delay(attempt: int, retry_after: str | None = None) -> float:
    """Seconds to wait before attempt `attempt + 1`: the server's Retry-After (capped), else exponential."""
    asked = retry_after_seconds(retry_after)
    if asked is not None:
        return min(asked, RETRY_AFTER_CAP_S)
    return min(CAP_S, base_seconds() * 2 ** (attempt - 1))


def again(attempt: int, *, dependency: str, status: int, method: str = "GET", retry_after: str | None = None,
          sleep: Callable[[float], None] = time.sleep) -> bool:
    """After attempt number `attempt` (1-based) got `status`: whether to send again. If so, it says so
    on the progress line and sleeps first."""
    if status not in RETRY_STATUSES or attempt >= attempts():
        return False
    if method.upper() == "POST" and status not in NOT_ACTED_ON:
        return False
    wait = delay(attempt, retry_after)
    hint = f", Retry-After {retry_after}" if retry_after else ""
    _reporter(f"  {dependency} answered {status}{hint}; retrying in {wait:.1f}s "
              f"(attempt {attempt + 1} of {attempts()})")
    sleep(wait)
    return True
