"""Logging for seatrial, with every known secret scrubbed before a line is written.

`setup_logging(verbosity, log_file)` installs handlers on the root logger (so that library logs,
e.g. botocore's signed headers at debug level, pass the same filter) and puts a `RedactingFilter`
on each handler. The filter replaces every value registered in seatrial.runbook.secrets, in the message,
its arguments, the formatted exception and the stack, with the mask.

Verbosity: 0 = seatrial INFO, libraries WARNING; 1 = seatrial DEBUG; 2+ = everything DEBUG.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path

from seatrial.runbook.secrets import redact

ROOT = "seatrial"
FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
CONSOLE_FORMAT = "%(levelname)s %(name)s: %(message)s"
_MARK = "_seatrial_handler"


def get_logger(name: str) -> logging.Logger:
    """A logger under the `seatrial` hierarchy: get_logger(__name__) -> seatrial.runbook.steps.backup."""
    return logging.getLogger(name if name == ROOT or name.startswith(ROOT + ".") else f"{ROOT}.{name}")


class RedactingFilter(logging.Filter):
    """Scrubs secrets from a record in place; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not hide the line (nor its secrets)
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingFormatter(logging.Formatter):
    """Belt and braces: the formatted line is scrubbed again (a handler may add text of its own)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class LibraryLevelFilter(logging.Filter):
    """Below `level`, only seatrial's own records pass: a library that sets its own logger to INFO (werkzeug
    does, on its first line) must not reach the console of a verbosity that promises libraries at WARNING."""

    def __init__(self, level: int):
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= self.level or record.name == ROOT or record.name.startswith(ROOT + ".")


def redacting_handler(handler: logging.Handler, fmt: str = FORMAT) -> logging.Handler:
    """Put the redaction filter and formatter on any handler (e.g. one a test or a runner adds)."""
    handler.addFilter(RedactingFilter())
    handler.setFormatter(RedactingFormatter(fmt))
    return handler


def setup_logging(verbosity: int = 0, log_file: str | Path | None = None) -> None:
    """Console on stderr at the verbosity's level; `log_file` (if given) always at DEBUG for seatrial."""
    reset_logging()
    root = logging.getLogger()
    console_level = logging.DEBUG if verbosity >= 1 else logging.INFO
    handlers: list[logging.Handler] = []
    console = redacting_handler(logging.StreamHandler(sys.stderr), CONSOLE_FORMAT)
    console.setLevel(console_level)
    handlers.append(console)
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        file_handler = redacting_handler(logging.FileHandler(log_file, encoding="utf-8"))
        file_handler.setLevel(logging.DEBUG)
        handlers.append(file_handler)
    for handler in handlers:
        setattr(handler, _MARK, True)
        if verbosity < 2:
            handler.addFilter(LibraryLevelFilter(logging.WARNING))
        root.addHandler(handler)

    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    logging.getLogger(ROOT).setLevel(logging.DEBUG if (verbosity >= 1 or log_file is not None) else logging.INFO)
    # urllib3 logs each connection retry as a WARNING; seatrial's own error already says the endpoint is down.
    logging.getLogger("urllib3").setLevel(logging.DEBUG if verbosity >= 2 else logging.ERROR)


def reset_logging() -> None:
    """Remove the handlers setup_logging installed (tests, or a caller that embeds seatrial)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
        handler.close()
