"""Structured logging: one JSON line per request (method, path, status, duration, cache hit or miss).

* The request line is the only one a request makes: uvicorn's own access log is switched off, and
  its other lines (start, stop) get the same JSON format.
* Python warnings (numpy's ``RuntimeWarning`` …) raised while a request is served, also in its
  computation's thread, are collected into that request's line (``warnings``) instead of being
  printed to stderr as free text; a warning outside any request is a JSON line of its own.
* An unexpected exception is answered 500 here and its traceback logged once, in the request's
  line (``exception``); it is not re-raised, so neither Starlette nor uvicorn logs it again.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import warnings
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("srf.access")
warnings_log = logging.getLogger("srf.warnings")

#: Warnings of the request being served (a list shared with its computation's thread), or None.
_request_warnings: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "srf_request_warnings", default=None
)
#: At most this many warnings are kept in one request's line.
MAX_WARNINGS_PER_REQUEST = 20

INTERNAL_ERROR = {"detail": "internal error while computing; it was logged, and the server goes on serving"}


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", …fields}``: one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    text = f"{category.__name__}: {message} ({filename}:{lineno})"
    bucket = _request_warnings.get()
    if bucket is not None:
        if len(bucket) < MAX_WARNINGS_PER_REQUEST:
            bucket.append(text)
        return
    warnings_log.warning(text, extra={"fields": {"event": "warning", "category": category.__name__}})


def configure(level: str = "INFO") -> None:
    """Give the ``srf`` loggers a JSON handler on stderr, unless the host application set up logging;
    route warnings into the log; make uvicorn's lines JSON and drop its duplicate access line."""
    logger = logging.getLogger("srf")
    logger.setLevel(level.upper())
    logging.getLogger("uvicorn.access").disabled = True  # our request line replaces it
    for handler in logging.getLogger("uvicorn").handlers:
        handler.setFormatter(JsonFormatter())
    warnings.showwarning = _show_warning
    if logger.handlers or logging.getLogger().handlers:
        return  # e.g. pytest's capture, or an embedding application's own configuration
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)


def response_status(start: Message) -> tuple[int, str | None]:
    """The status of an ASGI ``http.response.start`` message and its ``X-Cache`` header (hit/miss)."""
    cache = None
    for name, value in start.get("headers", ()):
        if name.lower() == b"x-cache":
            cache = value.decode("latin-1")
    return start["status"], cache


class AccessLogMiddleware:
    """Pure ASGI (no body buffering, ~µs overhead): logs after the response is sent, even on errors."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        cache: str | None = None
        response_started = False
        collected: list[str] = []
        token = _request_warnings.set(collected)

        async def capture(message: Message) -> None:
            nonlocal status, cache, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status, cache = response_status(message)
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, capture)
        except Exception as exc:  # answered and logged here, once
            error = exc
            status = 500
            if not response_started:
                body = json.dumps(INTERNAL_ERROR).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
        finally:
            _request_warnings.reset(token)
            fields: dict[str, Any] = {
                "event": "request",
                "method": scope.get("method"),
                "path": _capped(scope.get("path")),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "cache": cache,
            }
            if collected:
                fields["warnings"] = list(collected)
            access_log.log(
                logging.ERROR if error is not None else logging.INFO,
                "%s %s %s",
                fields["method"],
                fields["path"],
                status,
                extra={"fields": fields},
                exc_info=(type(error), error, error.__traceback__) if error is not None else None,
            )


#: Longest path written whole to the access log: a hostile 60 KB URL is cut, saying by how much.
MAX_LOGGED_PATH = 512


def _capped(path: Any) -> Any:
    if not isinstance(path, str) or len(path) <= MAX_LOGGED_PATH:
        return path
    return f"{path[:MAX_LOGGED_PATH]}…(+{len(path) - MAX_LOGGED_PATH} characters)"
