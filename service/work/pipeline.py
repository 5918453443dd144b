"""The way of a prepared request: store, limits, runner or job, and the envelope of its answer.

``ENDPOINTS`` names each POST endpoint's request model and compute function; everything below
dispatches on that table. The envelope of a body is ``cached`` (served from the store or not) and
``elapsed_seconds``: the computing time when it was stored, the time of the request when served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from srf_engine import ENGINE_VERSION, Cancelled, InvalidParameterError
from srf_engine.errors import ClusterError
from srf_engine.simulation.cost import ClusterShape

from ..errors import AtCapacity, InternalError, ServiceError
from ..schemas import CompareRequest, FunctionRequest, ProblemFields, SimulateRequest, TheoryRequest
from . import compute
from .compute import ClientFactory, Part, Progress
from .limits import ASYNC_HINT, check_limits, check_sync
from .prepare import Prepared

if TYPE_CHECKING:  # the container is assembled above this layer; only its type is needed
    from ..deps import Services

log = logging.getLogger("srf.service")

__all__ = [
    "ASYNC_HINT", "ENDPOINTS", "Endpoint", "compute_body", "envelope", "estimate", "result", "submit_job",
]

Lookup = Callable[[str], dict[str, Any] | None]
Keep = Callable[[Prepared, dict[str, Any]], None]


@dataclass(frozen=True)
class Endpoint:
    """A POST endpoint: its request model and compute function (figures: :mod:`service.respond`)."""

    model: type[ProblemFields]
    run: Callable[..., dict[str, Any]]


ENDPOINTS: dict[str, Endpoint] = {
    "theory/curve": Endpoint(TheoryRequest, compute.run_theory),
    "simulate": Endpoint(SimulateRequest, compute.run_simulate),
    "compare": Endpoint(CompareRequest, compute.run_compare),
    "theory/function": Endpoint(FunctionRequest, compute.run_function),
}


def envelope(body: dict[str, Any], *, cached: bool, elapsed: float) -> dict[str, Any]:
    """``body`` with ``cached`` after its ``key`` and ``elapsed_seconds`` last."""
    inner = {k: v for k, v in body.items() if k not in ("key", "cached", "elapsed_seconds")}
    return {"key": body["key"], "cached": cached, **inner, "elapsed_seconds": round(elapsed, 6)}


def compute_body(
    prepared: Prepared,
    progress: Progress = None,
    *,
    n_jobs: int | None = None,
    client: ClientFactory = None,
    lookup: Lookup | None = None,
    keep: Keep | None = None,
) -> dict[str, Any]:
    """Compute ``prepared`` now: its body as a cache miss (``cached`` false, the computing time).

    A /compare's parts are taken from ``lookup`` (the store) when there, else computed and handed
    to ``keep``; the CLI passes neither. ``client``: simulations run on that Dask cluster.
    """
    started = time.perf_counter()

    def part(sub: Prepared, sub_progress: Progress) -> dict[str, Any]:
        stored = lookup(sub.key) if lookup is not None else None
        if stored is not None:
            return {**stored, "cached": True}
        body = compute_body(sub, sub_progress, n_jobs=n_jobs, client=client)
        if keep is not None:
            keep(sub, body)
        return body

    part_of: Part = part
    result = ENDPOINTS[prepared.endpoint].run(prepared, progress, n_jobs=n_jobs, client=client, part=part_of)
    return envelope(result, cached=False, elapsed=time.perf_counter() - started)


def _work(services: Services, prepared: Prepared) -> Callable[[Progress], dict[str, Any]]:
    store = services.store

    def keep(sub: Prepared, body: dict[str, Any]) -> None:
        store.put(sub.key, sub.endpoint, ENGINE_VERSION, body)

    cluster = services.cluster

    def work(progress: Progress) -> dict[str, Any]:
        try:
            return compute_body(
                prepared,
                progress,
                n_jobs=services.settings.simulation_jobs,
                client=cluster.client if cluster is not None else None,
                lookup=store.get,
                keep=keep,
            )
        except ClusterError as exc:  # a job fails with the reason; a synchronous request gets it as a 503
            assert cluster is not None
            raise cluster.unavailable(str(exc)) from None

    return work


#: Waits until the client has gone (``http.disconnect``); the router passes one per request.
Disconnected = Callable[[], Awaitable[None]]


class ClientGone(ServiceError):
    """The client disconnected before its answer: nobody reads this status (499, as nginx logs it)."""

    def __init__(self) -> None:
        super().__init__(499, "the client closed the connection before the answer")


async def _cluster_shape(services: Services, prepared: Prepared) -> ClusterShape | None:
    """The Dask cluster's shape for pricing a simulation (503 when unreachable); ``None`` without one."""
    if services.cluster is None or prepared.spec is None:
        return None
    # A network call: off the event loop, and in a thread of its own, not the pool the other routes share.
    return await services.cluster.shape_async()


async def submit_job(services: Services, prepared: Prepared, *, who: str | None = None) -> str:
    """Check the limits and queue ``prepared`` as a job; returns its id."""
    check_limits(prepared, services.settings, await _cluster_shape(services, prepared))
    return await services.jobs.submit(prepared, _work(services, prepared), who=who)


async def stored_raw(services: Services, prepared: Prepared) -> bytes | None:
    """The stored JSON of ``prepared`` as bytes, read in a worker thread, or None."""
    return await asyncio.to_thread(services.store.get_raw, prepared.key)


async def result(
    services: Services,
    prepared: Prepared,
    started: float,
    *,
    who: str | None = None,
    disconnected: Disconnected | None = None,
) -> dict[str, Any]:
    """The body of ``prepared`` with its envelope: from the store, by joining a running computation,
    or by computing it. A stored result is served whatever the limits (they bound work, and serving
    it costs none); the limits are checked before any work starts. The store is read in a worker
    thread: a file locked by another process never blocks the event loop."""
    text = await stored_raw(services, prepared)
    if text is not None:
        body, cached = await asyncio.to_thread(json.loads, text), True
    else:
        body, cached = await _computed(services, prepared, who, disconnected)
    return envelope(body, cached=cached, elapsed=time.perf_counter() - started)


async def _until_answered_or_gone(
    services: Services, flight: Any, disconnected: Disconnected | None
) -> tuple[dict[str, Any], bool]:
    """The flight's result; if the client disconnects first, stop waiting, and the computation is
    abandoned unless another request or job waits for it too."""
    waiting = asyncio.ensure_future(services.runner.wait(flight, abandon_on_cancel=True))
    if disconnected is None:
        return await waiting
    watching = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({waiting, watching}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        waiting.cancel()
        watching.cancel()
        raise
    watching.cancel()
    if waiting.done():
        return waiting.result()
    waiting.cancel()  # the client is gone: the flight is abandoned if nobody else waits for it
    with contextlib.suppress(BaseException):
        await waiting
    raise ClientGone()


#: The same wait for any flight (a figure's too): ClientGone when the client leaves first.
until_answered_or_gone = _until_answered_or_gone


async def _computed(
    services: Services, prepared: Prepared, who: str | None, disconnected: Disconnected | None
) -> tuple[dict[str, Any], bool]:
    runner = services.runner
    flight = runner.flight(prepared.key)
    try:
        shape = None
        if flight is None:
            shape = await _cluster_shape(services, prepared)
            flight = runner.flight(prepared.key)  # the await may have let another request start it
        if flight is None:
            check_sync(check_limits(prepared, services.settings, shape), services.settings)
            with services.keys.computation(who):
                flight = runner.start(
                    prepared,
                    _work(services, prepared),
                    queue=False,
                    budget_seconds=services.settings.max_sync_seconds,
                )
                return await _until_answered_or_gone(services, flight, disconnected)
        return await _until_answered_or_gone(services, flight, disconnected)
    except Cancelled:
        raise AtCapacity(
            503,
            "the computation was cancelled while this request waited for it; retry",
            services.settings.retry_after_seconds,
        ) from None
    except (ServiceError, InvalidParameterError, NotImplementedError):
        raise
    except Exception as exc:
        log.error("computation of %s %s failed", prepared.endpoint, prepared.key, exc_info=exc)
        raise InternalError() from None


async def estimate(services: Services, prepared: Prepared) -> dict[str, Any]:
    """What computing ``prepared`` now would cost, after the operator's limits (413 naming the field),
    and whether it is stored already (then it costs nothing). Submits nothing."""
    cost = check_limits(prepared, services.settings, await _cluster_shape(services, prepared))
    stored = await asyncio.to_thread(services.store.get_text, prepared.key) is not None
    return {
        "key": prepared.key,
        "seconds": round(cost.seconds, 3),
        "memory_bytes": int(cost.memory_bytes),
        "stored": stored,
        "synchronous": cost.seconds <= services.settings.max_sync_seconds,
    }
