"""Answering in the format asked: JSON, CSV, or a figure drawn within the compute capacity and cached.

A figure is drawn in the runner's thread pool and takes one of its slots (429 with Retry-After when
none is free), so rendering can neither block the event loop nor escape the capacity limit.
Identical figures asked at once are drawn once (single flight), and a drawn figure is kept in the
store under (result key, format, options): a repeat is served without drawing
(``X-Figure-Cache: hit``). A synchronous request's figure estimated (``figure_cost``) above
``SRF_MAX_SYNC_SECONDS`` is a 413 advising ``Prefer: respond-async``, as other work. The smooth
theory a figure needs is an ordinary /theory/curve result, taken from the store or computed and kept
there.

Answers are encoded off the event loop (JSON and CSV in a worker thread). A stored answer is bounded
before it is read further (``SRF_MAX_RESPONSE_BYTES``, 413); as JSON its text is answered as stored,
only its envelope spliced in (``cached``, ``elapsed_seconds``): parsing and re-encoding megabytes
would hold the interpreter lock for a long time, in any thread, and stall the event loop. Any other
format of a stored answer larger than ``LARGE_ANSWER_BYTES`` is parsed and encoded under a computing
slot (429 when none is free), as computing it would be.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import anyio
from fastapi.responses import Response, StreamingResponse

from srf_engine import ENGINE_VERSION, Cancelled

from ..errors import AtCapacity, InternalError, ServiceError
from ..schemas import TheoryRequest
from ..store.json_text import json_text
from ..work import pipeline
from ..work.limits import Estimate, check_answer_size, check_sync
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
#: A stored answer above this size is served under a computing slot (see the module docstring).
LARGE_ANSWER_BYTES = 2 * 1024**2
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
        "view": query.view,
        "xscale": query.xscale,
        "yscale": query.yscale,
    }
    given = {k: v for k, v in values.items() if v is not None}
    return "?" + urlencode(given) if given else ""


#: One lock per smooth theory being computed for a figure: two figures of one result (a PNG and an
#: SVG, two dpi) drawn at once compute it once; the second waits and reads it from the store.
_THEORY_LOCKS: dict[str, threading.Lock] = {}
_THEORY_LOCKS_GUARD = threading.Lock()


def _theory(services: Services) -> Any:
    """The /theory/curve body of a normal-form request: from the store, or computed (once at a time
    per key in this process) and kept."""

    def theory(normal: dict[str, Any]) -> Mapping[str, Any]:
        prepared = prepare(TheoryRequest.model_validate(normal))
        stored = services.store.get(prepared.key)
        if stored is not None:
            return stored
        with _THEORY_LOCKS_GUARD:
            lock = _THEORY_LOCKS.setdefault(prepared.key, threading.Lock())
        try:
            with lock:
                stored = services.store.get(prepared.key)  # drawn meanwhile by another figure
                if stored is not None:
                    return stored
                body = pipeline.compute_body(prepared)
                services.store.put(prepared.key, prepared.endpoint, ENGINE_VERSION, body)
                return body
        finally:
            with _THEORY_LOCKS_GUARD:
                if not lock.locked():
                    _THEORY_LOCKS.pop(prepared.key, None)

    return theory


async def figure(
    services: Services,
    body: Mapping[str, Any],
    output: Output,
    *,
    sync: bool = False,
    who: str | None = None,
    disconnected: pipeline.Disconnected | None = None,
) -> tuple[bytes, bool]:
    """The figure's bytes and whether they came from the store. With ``sync`` (a POST, or a stored
    result by key: anything but a finished job's, the way to ask a heavy figure) a figure estimated
    above ``SRF_MAX_SYNC_SECONDS`` is refused before drawing, and one that runs past it is stopped (its
    smooth theory checks the budget)."""
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
    try:
        # A figure drawn for an API key counts among its computations (429 beyond its share).
        with services.keys.computation(who):
            flight = runner.start_task(
                key, "figure", work, budget_seconds=services.settings.max_sync_seconds if sync else None
            )
            if disconnected is None:
                result, _ = await runner.wait(flight)
            else:  # a client that leaves abandons the drawing unless another request waits for it
                result, _ = await pipeline.until_answered_or_gone(services, flight, disconnected)
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
    who: str | None = None,
    disconnected: pipeline.Disconnected | None = None,
) -> Response:
    """``body`` in ``output``'s format (the options were checked by :func:`check_request` or
    :func:`check_body`); ``sync`` marks a request that could have been sent as a job."""
    headers = {**(headers or {}), "Vary": "Accept"}
    if output.format == "json":
        content = await anyio.to_thread.run_sync(encode_json, body)
        return Response(content, media_type="application/json", headers=headers)
    headers["Content-Disposition"] = f'inline; filename="{_filename(body, output.format)}"'
    if output.format == "csv":
        text = await anyio.to_thread.run_sync(_csv, body)
        return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
    data, hit = await figure(services, body, output, sync=sync, who=who, disconnected=disconnected)
    headers["X-Figure-Cache"] = "hit" if hit else "miss"
    return Response(data, media_type=output.media_type, headers=headers)


def encode_json(body: Any) -> bytes:
    """``body`` as JSONResponse encodes it (UTF-8, compact, no NaN), in pieces (``json_text``): a
    freshly computed large answer holds the interpreter lock no longer than a stored one."""
    return json_text(body, ensure_ascii=False).encode()


async def answer_stored(
    services: Services,
    raw: bytes,
    output: Output,
    headers: Mapping[str, str],
    wrap: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    sync: bool = False,
    who: str | None = None,
    disconnected: pipeline.Disconnected | None = None,
) -> Response:
    """A stored body (its JSON bytes ``raw``) answered in ``output``'s format: bounded first (413); as
    JSON sent as stored with the envelope ``wrap`` gives it; else parsed in a worker thread, wrapped,
    checked for the figure asked (422) and answered, a large one under a computing slot."""
    kind = "function" if b'"kappa":' in raw else "other"
    check_answer_size(len(raw), output.format, kind, services.settings)
    if output.format == "json":
        spliced = _splice(raw, wrap)
        if spliced is not None:
            sent = {**headers, "Vary": "Accept", "Content-Length": str(spliced.length())}
            return StreamingResponse(spliced.chunks(), media_type="application/json", headers=sent)
    # A figure takes a slot of its own to draw; holding another here could wait on itself.
    large = len(raw) > LARGE_ANSWER_BYTES and not output.is_figure
    with services.runner.slot("serving a large stored answer") if large else contextlib.nullcontext():
        body = wrap(await anyio.to_thread.run_sync(json.loads, raw))
        check_body(output, body)
        return await answer(services, body, output, headers, sync=sync, who=who, disconnected=disconnected)


_HEAD = re.compile(rb'\{"key":"([0-9a-f]{64})","cached":(?:true|false),')
_TAIL = re.compile(rb',"elapsed_seconds":(-?[0-9][0-9.eE+-]*)\}')
#: Bytes of a stored answer sent at once: the event loop serves other requests between two.
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class Spliced:
    """A stored answer with a new envelope: ``head``, ``raw[start:end]`` as stored, ``tail``."""

    head: bytes
    raw: bytes
    start: int
    end: int
    tail: bytes

    def length(self) -> int:
        return len(self.head) + (self.end - self.start) + len(self.tail)

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.head
        view = memoryview(self.raw)
        for i in range(self.start, self.end, CHUNK_BYTES):
            yield bytes(view[i : min(i + CHUNK_BYTES, self.end)])
        yield self.tail


def _splice(raw: bytes, wrap: Callable[[dict[str, Any]], dict[str, Any]]) -> Spliced | None:
    """The stored ``raw`` JSON with the envelope ``wrap`` gives its head and tail, without parsing the
    rest; None when it is not in the store's shape (then it is parsed)."""
    head = _HEAD.match(raw)
    tail = _TAIL.search(raw, max(0, len(raw) - 64))
    if head is None or tail is None or tail.end() != len(raw) or head.end() > tail.start():
        return None
    key = head.group(1).decode()
    ends = wrap({"key": key, "elapsed_seconds": float(tail.group(1))})
    if set(ends) != {"key", "cached", "elapsed_seconds"}:
        return None  # the envelope adds more than its ends: parse instead
    cached = "true" if ends["cached"] else "false"
    return Spliced(
        head=f'{{"key":"{key}","cached":{cached},'.encode(),
        raw=raw,
        start=head.end(),
        end=tail.start(),
        tail=f',"elapsed_seconds":{json.dumps(ends["elapsed_seconds"])}}}'.encode(),
    )


def _csv(body: Mapping[str, Any]) -> str:
    from .tables import to_csv

    return to_csv(body)
