"""``GET /metrics``: the Prometheus text exposition of this process's metrics."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..deps import ServicesDep

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Prometheus text format 0.0.4: srf_http_requests_total{route,method,status}, "
            "srf_http_request_duration_seconds (histogram), srf_cache_hits_total / srf_cache_misses_total "
            "{route}, srf_computations_running, srf_jobs_queued, srf_jobs_running, srf_store_results, "
            "srf_store_bytes.",
            "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
        }
    },
)
def get_metrics(services: ServicesDep) -> Response:
    """Counters and histograms since this process started, gauges as they are now (a sync route: the
    store's size is read from SQLite in a worker thread)."""
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
