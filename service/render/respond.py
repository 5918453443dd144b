"""Answering in the format asked: JSON, CSV, or a figure drawn within the compute capacity and cached.

A figure is drawn in the runner's thread pool and takes one of its slots (429 with Retry-After when
none is free), so rendering can neither block the event loop nor escape the capacity limit.
Identical figures asked at once are drawn once (single flight), and a drawn figure is kept in the
store under (result key, format, options): a repeat is served without drawing
(``X-Figure-Cache: hit``). A synchronous request's figure estimated (``figure_cost``) above
``SRF_MAX_SYNC_SECONDS`` is a 413 advising ``Prefer: respond-async``, as other work. The smooth
theory a figure needs is an ordinary /theory/curve result, taken from the store or computed and kept
there.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import anyio
from fastapi.responses import JSONResponse, Response

from srf_engine import ENGINE_VERSION, Cancelled

from ..errors import AtCapacity, InternalError, ServiceError
from ..schemas import TheoryRequest
from ..work import pipeline
from ..work.limits import Estimate, check_sync
from ..work.prepare import prepare
from . import figure_cache
from .formats import Output, OutputQuery, check_axes
from .views import kind_of, list_valued_axes, request_axes, request_of

if TYPE_CHECKING:  # the container is assembled above this layer; only its type is needed
    from ..deps import Services

log = logging.getLogger("srf.service")

#: Each endpoint's kind of body (see ``views.kind_of``).
KIND_OF_ENDPOINT = {
    "theory/curve": "theory",
    "simulate": "simulate",
    "compare": "compare",
    "theory/function": "function",
}
FILE_PREFIX = {"theory": "theory", "simulate": "simulation", "compare": "comparison", "function": "function"}


def check_request(output: Output, endpoint: str, normal: Mapping[str, Any]) -> None:
    """Before any work: 422 when the figure asked cannot be drawn for this request."""
    if output.is_figure:
        kind = KIND_OF_ENDPOINT.get(endpoint, "theory")
        optimised = [k for k, v in normal.items() if v == "optimal"]
        check_axes(output.figure, request_axes(normal), kind, len(normal.get("alphas") or []), optimised)


def check_body(output: Output, body: Mapping[str, Any]) -> None:
    """For a stored body (by key or job): 422 when the figure asked cannot be drawn for it."""
    if output.is_figure:
        request = request_of(body["theory"] if kind_of(body) == "compare" else body) or request_of(body)
        optimised = [k for k, v in request.items() if v == "optimal"]
        points = len(body.get("points") or [])
        check_axes(output.figure, list_valued_axes(body), kind_of(body), points, optimised)


def format_query(query: OutputQuery) -> str:
    """``?format=…&x=…`` repeating what was asked (for a job's Location), or empty for JSON."""
    values = {
        "format": query.format,
        "x": query.x,
        "y": query.y,
        "errors": query.errors,
        "dpi": query.dpi,
        "size": query.size,
        "xscale": query.xscale,
        "yscale": query.yscale,
    }
    given = {k: v for k, v in values.items() if v is not None}
    return "?" + urlencode(given) if given else ""


def _theory(services: Services) -> Any:
    """The /theory/curve body of a normal-form request: from the store, or computed and kept."""

    def theory(normal: dict[str, Any]) -> Mapping[str, Any]:
        prepared = prepare(TheoryRequest.model_validate(normal))
        stored = services.store.get(prepared.key)
        if stored is not None:
            return stored
        body = pipeline.compute_body(prepared)
        services.store.put(prepared.key, prepared.endpoint, ENGINE_VERSION, body)
        return body

    return theory


async def figure(
    services: Services, body: Mapping[str, Any], output: Output, *, sync: bool = False
) -> tuple[bytes, bool]:
    """The figure's bytes and whether they came from the store; with ``sync`` (a request that could
    have been a job) a figure estimated above ``SRF_MAX_SYNC_SECONDS`` is refused before drawing."""
    key = figure_cache.figure_key(body["key"], output)
    store = services.store
    data = await anyio.to_thread.run_sync(figure_cache.get, store, key)
    if data is not None:
        return data, True
    if sync:
        await anyio.to_thread.run_sync(_check_sync, services, body, output)

    def work(progress: Any) -> dict[str, Any]:
        from .figures import make_figure  # matplotlib loads only when a figure is asked for

        drawn = make_figure(body, output, theory=_theory(services))
        figure_cache.put(store, key, body["key"], output.media_type, drawn)
        return {"data": drawn}

    runner = services.runner
    flight = runner.start_task(key, "figure", work)
    try:
        result, _ = await runner.wait(flight)
    except Cancelled:
        raise AtCapacity(
            503, "drawing was cancelled (the server is stopping); retry", runner.retry_after
        ) from None
    except ServiceError:
        raise
    except Exception as exc:
        log.error("drawing %s of %s failed", output.format, body.get("key"), exc_info=exc)
        raise InternalError() from None
    return result["data"], False


def _check_sync(services: Services, body: Mapping[str, Any], output: Output) -> None:
    from .figure_cost import estimate_figure_seconds  # loads matplotlib, as drawing does

    seconds = estimate_figure_seconds(body, output, services.settings)
    check_sync(Estimate(seconds, 0), services.settings)


def _filename(body: Mapping[str, Any], fmt: str) -> str:
    return f"{FILE_PREFIX[kind_of(body)]}-{str(body.get('key', ''))[:12]}.{fmt}"


async def answer(
    services: Services,
    body: dict[str, Any],
    output: Output,
    headers: Mapping[str, str] | None = None,
    *,
    sync: bool = False,
) -> Response:
    """``body`` in ``output``'s format (the options were checked by :func:`check_request` or
    :func:`check_body`); ``sync`` marks a request that could have been sent as a job."""
    headers = {**(headers or {}), "Vary": "Accept"}
    if output.format == "json":
        return JSONResponse(body, headers=headers)
    headers["Content-Disposition"] = f'inline; filename="{_filename(body, output.format)}"'
    if output.format == "csv":
        text = await anyio.to_thread.run_sync(_csv, body)
        return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
    data, hit = await figure(services, body, output, sync=sync)
    headers["X-Figure-Cache"] = "hit" if hit else "miss"
    return Response(data, media_type=output.media_type, headers=headers)


def _csv(body: Mapping[str, Any]) -> str:
    from .tables import to_csv

    return to_csv(body)
