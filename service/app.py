"""The FastAPI application: ``uvicorn service.app:app`` (Swagger UI at /docs, schema at /openapi.json).

``create_app(settings)`` builds an independent instance (own store, runner, jobs); tests make several
on one file to play restarts. Nothing touches the disk until the first request or startup.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.routing import APIRoute

from srf_engine import ENGINE_VERSION

from . import errors, logs, openapi
from .cache import Store
from .cluster import Cluster
from .deps import Services
from .jobs import JobManager
from .metrics import Metrics, MetricsMiddleware
from .routers import compute, docs, jobs, meta, results
from .routers import metrics as metrics_route
from .runner import Runner
from .settings import Settings, get_settings

DESCRIPTION = """
Exact high-dimensional theory and fast simulations of two-layer networks after **one giant gradient
step** (the spiked random-features model of Cui et al., ICML 2024, arXiv:2402.04980).

* `POST /theory/curve`: the limit test/training error along α, with the no-step baseline.
* `POST /simulate`: finite-size simulations, mean/std/sem over seeds.
* `POST /compare`: both, with z-scores and a verdict.
* `GET /results/{key}`: any stored result by its `key`.

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


def _operation_id(route: APIRoute) -> str:
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app with its own store, runner and jobs, configured by ``settings`` (default: environment)."""
    settings = settings or get_settings()
    logs.configure(settings.log_level)
    store = Store(settings.cache_path, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    runner = Runner(store, max_concurrent=settings.max_concurrent, retry_after=settings.retry_after_seconds)
    job_manager = JobManager(
        store,
        runner,
        max_queued=settings.max_queued_jobs,
        retry_after=settings.retry_after_seconds,
        heartbeat_seconds=settings.job_heartbeat_seconds,
        stale_seconds=settings.job_stale_seconds,
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
        settings=settings, store=store, runner=runner, jobs=job_manager, metrics=metrics, cluster=cluster
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(store.ensure_open)  # a corrupt file is moved aside now
        job_manager.recover()  # jobs of a dead process: failed, with the reason
        yield
        await job_manager.shutdown()
        runner.shutdown()
        if cluster is not None:
            await anyio.to_thread.run_sync(cluster.close)

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
    app.add_middleware(logs.AccessLogMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(compute.router)
    app.include_router(jobs.router)
    app.include_router(results.router)
    app.include_router(meta.router)
    app.include_router(metrics_route.router)
    docs.install(app)
    openapi.install(app, settings)
    return app


app = create_app()
