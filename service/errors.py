"""Error bodies: every bad input is a 4xx naming the field (or limit) and the rule; never a 5xx.

422 bodies keep FastAPI's shape (``detail``: a list of ``{loc, msg, type}``) and add ``field`` to each
item and a one-line ``message``; other errors are ``{"detail": "…", "field"?, "limit"?}``. The
offending input is never echoed whole (it may hold NaN, which JSON cannot carry, or be megabytes):
names of unknown fields and quoted values are cut to ``ECHO_LIMIT`` characters with an ellipsis. A body
that is not sent as JSON gets 415 naming the Content-Type. A store locked by another process past the
busy timeout is a 503 with ``Retry-After``, never a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from srf_engine import InvalidParameterError
from srf_engine.errors import ECHO_LIMIT, clip

from .schemas import UNION_TAGS
from .store.sqlite import StoreBusy, StoreError

log = logging.getLogger("srf.service")


class ServiceError(Exception):
    """An HTTP error with a JSON body; raise it anywhere below a route."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        field: str | None = None,
        limit: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.field = field
        self.limit = limit
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"detail": self.detail}
        if self.field is not None:
            body["field"] = self.field
        if self.limit is not None:
            body["limit"] = self.limit
        return body


class LimitExceeded(ServiceError):
    """413: work beyond a configured limit (``limit`` is the setting's environment variable)."""

    def __init__(self, detail: str, *, limit: str, field: str | None = None) -> None:
        super().__init__(413, detail, field=field, limit=limit)


class AtCapacity(ServiceError):
    """429/503 with Retry-After: the server is busy, not the request wrong."""

    def __init__(self, status_code: int, detail: str, retry_after: int) -> None:
        super().__init__(status_code, detail, headers={"Retry-After": str(retry_after)})


class InternalError(ServiceError):
    """500 with a generic message; the cause is logged, never sent."""

    def __init__(self) -> None:
        super().__init__(500, "internal error while computing; it was logged, and the server goes on serving")


def field_name(loc: Iterable[Any]) -> str:
    """``("body", "teacher", "activation-hermite", "hermite", 2)`` → ``"teacher.hermite.2"``."""
    parts = [str(p) for p in loc if p not in UNION_TAGS]
    if parts and parts[0] in {"body", "query", "header", "path"}:
        parts = parts[1:] or parts
    return ".".join(parts) or "body"


#: A message may hold a clipped input plus its rule (e.g. the list of known activations).
_MESSAGE_LIMIT = 4 * ECHO_LIMIT


def _clean_msg(msg: str) -> str:
    return clip(msg.removeprefix("Value error, "), _MESSAGE_LIMIT)


def validation_body(errors: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    items = []
    for error in errors:
        loc = [p if isinstance(p, int) else clip(p) for p in error.get("loc", ())]
        items.append(
            {
                "loc": loc,
                "msg": _clean_msg(str(error.get("msg", "invalid value"))),
                "type": str(error.get("type", "value_error")),
                "field": "body" if error.get("type") == "json_invalid" else field_name(loc),
            }
        )
    message = "; ".join(dict.fromkeys(f"{i['field']}: {i['msg']}" for i in items))
    return {"detail": items, "message": message}


def parameter_error_body(exc: InvalidParameterError) -> dict[str, Any]:
    """The engine's own check, shaped like a request validation error on the same field."""
    loc = ["body", *exc.field.replace("[", ".").replace("]", "").split(".")]
    return validation_body([{"loc": loc, "msg": exc.rule, "type": "invalid_parameter"}])


async def _service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


#: Pydantic's complaint about a body that did not parse into an object: with a non-JSON Content-Type
#: the body arrived as text, and the real mistake is the header.
_NOT_AN_OBJECT = {"model_attributes_type", "dict_type", "model_type"}


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    content_type = request.headers.get("content-type", "")
    whole_body = any(tuple(e.get("loc", ())) == ("body",) and e.get("type") in _NOT_AN_OBJECT for e in errors)
    if whole_body and not _is_json(content_type):
        got = f"'{clip(content_type)}'" if content_type else "none"
        return JSONResponse(
            {
                "detail": f"the body must be JSON sent with the header 'Content-Type: application/json' "
                f"(got {got})",
                "field": "Content-Type",
            },
            status_code=415,
        )
    return JSONResponse(validation_body([_json_reason(e) for e in errors]), status_code=422)


def _json_reason(error: Mapping[str, Any]) -> Mapping[str, Any]:
    """FastAPI's "JSON decode error" with the parser's reason and the character where it stopped."""
    if error.get("type") != "json_invalid":
        return error
    loc = tuple(error.get("loc", ()))
    reason = (error.get("ctx") or {}).get("error")
    at = f" at character {loc[1]}" if len(loc) > 1 and isinstance(loc[1], int) else ""
    msg = f"the body is not valid JSON text: {reason}{at}" if reason else "the body is not valid JSON text"
    return {**error, "loc": ["body"], "msg": msg}


async def _parameter_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidParameterError)
    return JSONResponse(parameter_error_body(exc), status_code=422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    """Framework errors; an unparseable body (FastAPI's 400) is bad input on ``body``: 422 like the rest."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):
        msg = json_error_message(exc.__cause__)
        body = validation_body([{"loc": ["body"], "msg": msg, "type": "json_invalid"}])
        return JSONResponse(body, status_code=422)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def json_error_message(cause: BaseException | None) -> str:
    """What is wrong with a body that did not parse: the parser's reason and position when it gave one."""
    if isinstance(cause, json.JSONDecodeError):
        where = f"line {cause.lineno} column {cause.colno}"
        return clip(f"the body is not valid JSON text: {cause.msg} at {where}")
    if isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        return (
            "the body holds an integer with more digits than the server reads (4300); "
            "no field needs one: send numbers with fewer digits"
        )
    if isinstance(cause, RecursionError):
        return "the body nests arrays or objects too deeply to be read"
    return "the body is not valid JSON text"


async def _not_implemented(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "not implemented by this engine version"}, status_code=501)


async def _store_busy(request: Request, exc: Exception) -> JSONResponse:
    """The cache file is locked by another process (or unusable): the server is busy, not broken."""
    retry_after = request.app.state.services.settings.retry_after_seconds
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": f"the result store is busy ({exc}); retry after {retry_after} s"},
        status_code=503,
        headers={"Retry-After": str(retry_after)},
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(InvalidParameterError, _parameter_error)
    app.add_exception_handler(NotImplementedError, _not_implemented)
    app.add_exception_handler(StoreBusy, _store_busy)
    app.add_exception_handler(StoreError, _store_busy)
