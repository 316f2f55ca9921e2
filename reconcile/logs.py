"""Logging for people and for log collectors: text lines or JSON lines, on stderr.

``reconcile --log-format json run ...`` (or ``RECONCILE_LOG_FORMAT=json``)
writes one JSON object per line: ``time`` (UTC, ISO 8601), ``level``,
``logger``, ``message``, any structured fields the message carries (such as
``run_id`` and ``counts``), and ``exception`` with the traceback when there
is one. Text lines read ``2026-11-01T06:00:02Z INFO reconcile.store: run 42 started``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import IO, Any, Literal

from reconcile.secrets import RedactingFilter
from reconcile.store._json import json_safe

__all__ = ["LOG_FORMATS", "JsonFormatter", "TextFormatter", "configure_logging"]

LOG_FORMATS = ("text", "json")

# Attributes every LogRecord has; anything else was passed with extra={...}.
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "taskName"}


def _time(record: logging.LogRecord) -> str:
    moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = json_safe(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message``, the time in UTC."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_time(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler configure_logging installs (and replaces when called again).

    Without a stream of its own it writes to whatever ``sys.stderr`` is at
    the time of each record (a test runner or a host program may swap it).
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        super().__init__(stream or sys.stderr)
        self._follow = stream is None

    def emit(self, record: logging.LogRecord) -> None:
        if self._follow:
            self.stream = sys.stderr
        super().emit(record)


def configure_logging(
    verbosity: int = 0, fmt: Literal["text", "json"] | str = "text", stream: IO[str] | None = None
) -> None:
    """Send log records to ``stream`` (stderr) as text or JSON lines.

    Args:
        verbosity: 0 warnings and errors, 1 also info, 2 and more also debug.
        fmt: ``text`` or ``json``.
        stream: Where to write (default: the current ``sys.stderr``).
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; allowed: {', '.join(LOG_FORMATS)}")
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(handler)
    handler = _Handler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    # Secrets expanded from ${ENV} in the configuration never reach a log line.
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
