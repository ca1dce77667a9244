"""Structured logs: one JSON object per line when not attached to a terminal, readable text otherwise.

Every message is a sentence a person can read; the facts in it are also passed as fields
(``extra=``). A JSON line carries them as its own keys (nested where they are nested), a text line
ends with the plain ones as ``key=value``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "TextFormatter", "setup_logging"]

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """Every event on one line with its connection, run id and idempotency key when known."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(_fields(record))
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def _plain(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text


class TextFormatter(logging.Formatter):
    """``10:02:11 INFO    the sentence  key=value …``: the plain fields; the sentence says the rest."""

    def format(self, record: logging.LogRecord) -> str:
        tail = " ".join(
            f"{k}={_plain(v)}"
            for k, v in _fields(record).items()
            if v is not None and not isinstance(v, dict | list | tuple | set)
        )
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        base = f"{when} {record.levelname:<7} {record.getMessage()}"
        text = f"{base}  {tail}" if tail else base
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written, so a progress display that takes
    stderr over prints log lines above its bars instead of gluing them onto one."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())


def setup_logging(level: str = "INFO", fmt: str = "auto", stream: Any = None) -> None:
    """Configure the ``arbridge`` loggers (json on pipes and in services, text on a terminal)."""
    stream = stream or _CurrentStderr()
    if fmt == "auto":
        fmt = "text" if getattr(stream, "isatty", lambda: False)() else "json"
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("arbridge")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
