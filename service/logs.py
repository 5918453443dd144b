"""Structured logging: one JSON line per request (method, path, status, duration, cache hit or miss)."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("srf.access")


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


def configure(level: str = "INFO") -> None:
    """Give the ``srf`` loggers a JSON handler on stderr, unless the host application set up logging."""
    logger = logging.getLogger("srf")
    logger.setLevel(level.upper())
    if logger.handlers or logging.getLogger().handlers:
        return  # e.g. pytest's capture, or an embedding application's own configuration
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)


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

        async def capture(message: Message) -> None:
            nonlocal status, cache
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"x-cache":
                        cache = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            fields = {
                "event": "request",
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "cache": cache,
            }
            access_log.info("%s %s %s", fields["method"], fields["path"], status, extra={"fields": fields})
