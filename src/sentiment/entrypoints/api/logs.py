"""Structured logs: one JSON object per line, with request ids, and never a submitted text.

Every line the API writes (its own, and uvicorn's once the app is loaded) is a JSON object with
`ts`, `level`, `logger` and `msg`, plus named fields. After each HTTP request one `access` line
gives `request_id`, `method`, `path` (never the query string), `status`, `duration_ms`,
`body_bytes` and, for predictions, `texts`, `text_chars`, `text_chars_max` and `model_version`.
It replaces uvicorn's own access log (which would add the client address and the query string).

Texts never reach the log: no message is built from them, and on the request path (a record
with a `request_id`, or uvicorn's "Exception in ASGI application") an exception is logged as its
type and stack frames only, because exception messages can quote the input.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import Scope

LOG_FIELDS_KEY = "sentiment.log"  # scope key: fields the routes add to the access line
ACCESS_LOGGER = "sentiment.access"
FIELDS = (
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "body_bytes",
    "texts",
    "text_chars",
    "text_chars_max",
    "model_version",
)
MAX_MESSAGE_CHARS = 2_000


class JsonFormatter(logging.Formatter):
    """A log record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage()[:MAX_MESSAGE_CHARS],
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            entry["exc_type"] = f"{type(exc).__module__}.{type(exc).__qualname__}"
            entry["stack"] = [
                f"{frame.filename}:{frame.lineno} in {frame.name}"
                for frame in traceback.extract_tb(exc.__traceback__)
            ]
            if not _on_request_path(record):
                entry["exc_message"] = str(exc)[:MAX_MESSAGE_CHARS]
        return orjson.dumps(entry, default=str).decode("utf-8")


def _on_request_path(record: logging.LogRecord) -> bool:
    return "request_id" in record.__dict__ or record.name.startswith("uvicorn")


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the API's loggers and uvicorn's; uvicorn's access log off."""
    formatter = JsonFormatter()
    ours = logging.getLogger("sentiment")
    ours.handlers = [_handler(formatter)]
    ours.setLevel(level)
    ours.propagate = False
    server = logging.getLogger("uvicorn")
    if server.handlers:
        for handler in server.handlers:
            handler.setFormatter(formatter)
    else:
        server.addHandler(_handler(formatter))
        server.setLevel(level)
    server.propagate = False  # not again through a root handler (a supervisor's basicConfig)
    # uvicorn decides per connection with `hasHandlers()`: no handler, no access line built.
    access = logging.getLogger("uvicorn.access")
    access.handlers = []
    access.propagate = False


def set_access_log(enabled: bool) -> None:
    """Our access line per request (`ACCESS_LOGGER`, INFO) on or off; uvicorn's stays off."""
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.NOTSET if enabled else logging.WARNING)


def _handler(formatter: logging.Formatter) -> logging.Handler:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    return handler


def note_prediction(scope: Scope, model_version: str, texts: Sequence[str]) -> None:
    """Add what a prediction request classified to its access line: counts and lengths only."""
    lengths = [len(text) for text in texts]
    scope[LOG_FIELDS_KEY] = {
        "texts": len(lengths),
        "text_chars": sum(lengths),
        "text_chars_max": max(lengths, default=0),
        "model_version": model_version,
    }
