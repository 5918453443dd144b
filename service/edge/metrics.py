"""Prometheus metrics (``GET /metrics``), with the maintained ``prometheus-client`` library.

Counted as requests pass (:class:`MetricsMiddleware`): requests by route template, method and status,
their latency, and cache hits and misses of the POST endpoints (their ``X-Cache`` header). Read from
the live state at each scrape (:class:`_StateCollector`): computations running, jobs queued and
running in this process, results stored and the size of the store's file. Each app has its own
registry, so several apps in one process (tests) do not share counts.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..store.sqlite import Store
from ..work.jobs import JobManager
from ..work.runner import Runner
from .logs import response_status

#: Latency buckets (seconds): a cache hit takes about a millisecond, a synchronous computation up to
#: ``SRF_MAX_SYNC_SECONDS`` (30 s by default).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class _StateCollector(Collector):
    """Gauges read from the runner, the jobs and the store when Prometheus scrapes."""

    def __init__(self, store: Store, runner: Runner, jobs: JobManager) -> None:
        self.store, self.runner, self.jobs = store, runner, jobs

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "srf_computations_running", "Computations running now (slots in use).", value=self.runner.busy
        )
        queued, running = self.jobs.counts()
        yield GaugeMetricFamily("srf_jobs_queued", "Jobs of this process waiting for a slot.", value=queued)
        yield GaugeMetricFamily("srf_jobs_running", "Jobs of this process computing now.", value=running)
        yield GaugeMetricFamily(
            "srf_store_results",
            "Results held in the store (all processes).",
            value=self.store.count_results(),
        )
        yield GaugeMetricFamily(
            "srf_store_bytes",
            "Size of the store's SQLite file and its WAL, bytes.",
            value=_file_bytes(self.store.path),
        )


def _file_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):  # not created yet, or an in-memory fallback
            total += path.with_name(path.name + suffix).stat().st_size
    return total


class Metrics:
    """The registry of one app and the metrics counted as requests pass."""

    def __init__(self, store: Store, runner: Runner, jobs: JobManager) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "srf_http_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "srf_http_request_duration_seconds",
            "Time from the request's arrival to its response, seconds, by route template and method.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.cache_hits = Counter(
            "srf_cache_hits",
            "POST answers served from the store, by route.",
            ["route"],
            registry=self.registry,
        )
        self.cache_misses = Counter(
            "srf_cache_misses", "POST answers computed now, by route.", ["route"], registry=self.registry
        )
        self.registry.register(_StateCollector(store, runner, jobs))

    def observe(self, route: str, method: str, status: int, seconds: float, cache: str | None) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)
        if cache == "hit":
            self.cache_hits.labels(route).inc()
        elif cache == "miss":
            self.cache_misses.labels(route).inc()


class MetricsMiddleware:
    """Pure ASGI: counts every HTTP request under its route template (``/jobs/{job_id}``, not the id)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

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
                status, cache = response_status(message)
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe(route, scope.get("method", ""), status, time.perf_counter() - started, cache)
