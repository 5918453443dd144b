"""The FastAPI application: ``uvicorn service.app:app`` (Swagger UI at /docs, schema at /openapi.json).

``create_app(settings)`` builds an independent instance (own store, runner, jobs); tests make several
on one file to play restarts. Nothing touches the disk until the first request or startup.

Shutdown (SIGTERM or Ctrl-C): at the signal itself, before uvicorn waits for open requests, every
running computation is told to stop (synchronous requests then answer 503 with ``Retry-After``) and
no new job is accepted; the lifespan's end then marks this process's unfinished jobs interrupted
(failed, with the reason) and checkpoints the store, so the process exits within a few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from srf_engine import ENGINE_VERSION

from . import errors
from .deps import Services
from .edge import logs, openapi
from .edge.auth import require_key
from .edge.json_body import no_repeated_keys
from .edge.metrics import Metrics, MetricsMiddleware
from .edge.transport import RequestBoundsMiddleware
from .routers import compute, docs, explore, jobs, meta, results
from .routers import metrics as metrics_route
from .settings import Settings, get_settings
from .store.sqlite import Store, StoreError
from .work.cluster import Cluster
from .work.jobs import JobManager
from .work.keys import ApiKeys
from .work.runner import Runner

log = logging.getLogger("srf.service")

DESCRIPTION = """
Exact high-dimensional theory and fast simulations of two-layer networks after **one giant gradient
step** (the spiked random-features model of Cui et al., ICML 2024, arXiv:2402.04980).

* `POST /theory/curve`: the limit test/training error along α, with the no-step baseline.
* `POST /simulate`: finite-size simulations, mean/std/sem over seeds.
* `POST /compare`: both, with z-scores and a verdict.
* `GET /results/{key}`: any stored result by its `key`.

**[The explorer](/explore)** (`GET /explore`): every parameter at hand, the theory redrawn as you
move, simulations overlaid.

Every result comes as JSON (default), CSV (`?format=csv`: one row per point with its six
coordinates) or a figure (`?format=png|svg|pdf`, or the matching `Accept`; `?x=`, `?y=` for another
axis or a heatmap, `?errors=test,train`, `?dpi=`, `?size=`); a format an endpoint cannot give is a 406.

Every result is cached under `key` (SHA-256 of the canonical request and engine version): a repeat is
answered from the store with `"cached": true` and `X-Cache: hit`. Send `Prefer: respond-async` to run
a request as a job (`202`, then `GET /jobs/{id}`). Activations are names from `GET /activations` or
`{"hermite": [c0, c1, …]}`; nothing a client sends is evaluated as code. Bad input is a 4xx naming
the field and the rule; work beyond the server's limits is a 413 naming the limit.

Try the example of docs/theory.md §7: student `tanh`, teacher `sin`, `learning_rate` 3, `alpha0` 20,
`ridge` 0.1 (the prefilled example of each POST).
"""

TAGS = [
    {"name": "computations", "description": "Theory, simulation and their comparison (cached)."},
    {"name": "jobs", "description": "Requests sent with `Prefer: respond-async`."},
    {"name": "results", "description": "Any stored result by its `key`, in every format."},
    {"name": "about", "description": "Activations, health and versions."},
    {"name": "operations", "description": "Prometheus metrics."},
]


def _on_stop_signals(callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` first when SIGTERM/SIGINT arrives, then the handler installed before (uvicorn's).

    Only possible on the main thread (a server, not a test client); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: object) -> None:
        callback()
        chained = previous[signal.Signals(signum)]
        if callable(chained):
            chained(signum, frame)

    for sig in previous:
        signal.signal(sig, handler)

    def undo() -> None:
        for sig, chained in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, chained)

    return undo


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app with its own store, runner and jobs, configured by ``settings`` (default: environment)."""
    settings = settings or get_settings()
    logs.configure(settings.log_level)
    store = Store(
        settings.cache_path,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        max_bytes=settings.cache_max_bytes,
    )
    runner = Runner(store, max_concurrent=settings.max_concurrent, retry_after=settings.retry_after_seconds)
    keys = ApiKeys(
        settings.api_key_list(),
        max_concurrent=settings.api_key_max_concurrent,
        max_queued_jobs=settings.api_key_max_queued_jobs,
        retry_after=settings.retry_after_seconds,
    )
    job_manager = JobManager(
        store,
        runner,
        max_queued=settings.max_queued_jobs,
        retry_after=settings.retry_after_seconds,
        heartbeat_seconds=settings.job_heartbeat_seconds,
        stale_seconds=settings.job_stale_seconds,
        ttl_seconds=settings.job_ttl_seconds,
        keys=keys,
    )
    cluster = (
        Cluster(
            settings.dask_scheduler,
            connect_timeout=settings.dask_connect_timeout,
            retry_after=settings.retry_after_seconds,
        )
        if settings.dask_scheduler
        else None
    )
    metrics = Metrics(store, runner, job_manager)
    services = Services(
        settings=settings,
        store=store,
        runner=runner,
        jobs=job_manager,
        keys=keys,
        metrics=metrics,
        cluster=cluster,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            await anyio.to_thread.run_sync(store.ensure_open)  # a corrupt file is moved aside now
        except StoreError as exc:
            log.error("cannot start: %s", exc, extra={"fields": {"event": "startup_failed"}})
            raise
        await anyio.to_thread.run_sync(job_manager.recover)  # jobs of a dead process: failed, with the reason
        runner.closing = False
        loop = asyncio.get_running_loop()

        def stopping() -> None:  # in the signal handler: flags and events only, the rest on the loop
            runner.shutdown()
            job_manager.begin_shutdown()
            loop.call_soon_threadsafe(runner.cancel_unstarted)

        undo = _on_stop_signals(stopping)
        try:
            yield
        finally:
            undo()
            runner.shutdown()
            runner.cancel_unstarted()
            await job_manager.shutdown()
            if cluster is not None:
                await anyio.to_thread.run_sync(cluster.close)
            await anyio.to_thread.run_sync(store.close)  # checkpoint: the WAL goes into the main file

    app = FastAPI(
        title="srf: one giant gradient step",
        version=ENGINE_VERSION,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # served from the package, offline: routers/docs.py
        # operationIds read as method names: the route functions' own (theory_curve, get_job, …)
        generate_unique_id_function=_operation_id,
        redoc_url=None,
    )
    app.state.services = services
    errors.install(app)
    app.add_middleware(
        RequestBoundsMiddleware,
        max_body_bytes=settings.max_body_bytes,
        receive_timeout_seconds=settings.receive_timeout_seconds,
    )
    app.add_middleware(logs.AccessLogMiddleware)  # outside the bounds: it logs their refusals too
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    authenticated = [Depends(require_key), Depends(no_repeated_keys)]
    app.include_router(compute.router, dependencies=authenticated)
    app.include_router(jobs.router, dependencies=authenticated)
    app.include_router(results.router, dependencies=authenticated)
    app.include_router(meta.router)
    # /metrics is open by default (a scraper inside the lab's network); SRF_METRICS_REQUIRE_KEY closes it.
    metrics_deps = [Depends(require_key)] if settings.metrics_require_key else []
    app.include_router(metrics_route.router, dependencies=metrics_deps)
    docs.install(app)
    explore.install(app, authenticated)
    openapi.install(app, settings)
    return app


app = create_app()
