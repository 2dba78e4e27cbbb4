"""Structured logs on the stdlib: one JSON object per line, or readable `key=value` console lines.

    log = logging.getLogger(__name__)
    event(log, "service.stopped", sent=12, pending=3)

`event` puts its fields on the record (`extra={"fields": ...}`); both formatters print them,
so a field is a field whichever format the operator chose. Plain `log.info("...")` calls
from any library are formatted the same way, with no fields.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("json", "console")
# Libraries whose INFO lines are noise next to ours (one line per HTTP request or job run).
QUIET = ("apscheduler", "httpx", "httpcore", "uvicorn.access", "twilio", "aiohttp.access",
         "alembic")


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log `name` with structured `fields`."""
    logger.log(level, name, extra={"fields": fields})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return dict(getattr(record, "fields", None) or {})


def _time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", **fields}` on one line; exceptions as `exc`."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {"ts": _time(record), "level": record.levelname.lower(),
                                "logger": record.name, "msg": record.getMessage()}
        for key, value in _fields(record).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """`12:00:01.123 info  service.stopped  sent=12 pending=3` for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = _time(record)[11:23]
        pairs = " ".join(f"{k}={_plain(v)}" for k, v in _fields(record).items())
        line = f"{stamp} {record.levelname.lower():<7} {record.getMessage()}"
        if pairs:
            line += "  " + pairs
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _plain(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if text and " " not in text else json.dumps(text)


def configure(fmt: str = "console", level: int | str = logging.INFO,
              stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to `stream` (stderr) in `fmt`; returns the installed handler."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_orchestrator", False)]:
        root.removeHandler(old)
    handler._orchestrator = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
