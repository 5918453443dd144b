"""GET /metrics: Prometheus text with requests, latency, cache, computations, jobs and store size."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from test_service_support import THEORY, client, wait_job


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_cache_jobs_and_store(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        before = _samples(http.get("/metrics").text)
        assert _value(before, "srf_store_results") == 0
        assert http.post("/theory/curve", json=THEORY).headers["x-cache"] == "miss"
        assert http.post("/theory/curve", json=THEORY).headers["x-cache"] == "hit"
        assert http.post("/theory/curve", json={**THEORY, "width": -1}).status_code == 422
        job = http.post("/theory/curve", json={**THEORY, "ridge": 0.5}, headers={"Prefer": "respond-async"})
        wait_job(http, job.json()["id"])
        assert http.get(f"/jobs/{job.json()['id']}").status_code == 200
        assert http.get("/jobs/unknown").status_code == 404
        response = http.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)
    route = "/theory/curve"
    assert _value(after, "srf_http_requests_total", route=route, method="POST", status="200") == 2
    assert _value(after, "srf_http_requests_total", route=route, method="POST", status="422") == 1
    assert _value(after, "srf_http_requests_total", route=route, method="POST", status="202") == 1
    # the route template, not the id: one series for every job
    assert _value(after, "srf_http_requests_total", route="/jobs/{job_id}", method="GET", status="404") == 1
    assert _value(after, "srf_cache_hits_total", route=route) == 1
    assert _value(after, "srf_cache_misses_total", route=route) == 1
    assert _value(after, "srf_http_request_duration_seconds_count", route=route, method="POST") == 4
    assert _value(after, "srf_store_results") == 2 and _value(after, "srf_store_bytes") > 0
    assert _value(after, "srf_computations_running") == 0
    assert _value(after, "srf_jobs_queued") == 0 and _value(after, "srf_jobs_running") == 0


def test_two_apps_keep_their_own_counts(tmp_path: Path) -> None:
    with client(tmp_path / "a") as first, client(tmp_path / "b") as second:
        first.get("/healthz")
        first.get("/healthz")
        second.get("/healthz")
        a, b = _samples(first.get("/metrics").text), _samples(second.get("/metrics").text)
    labels = {"route": "/healthz", "method": "GET", "status": "200"}
    assert _value(a, "srf_http_requests_total", **labels) == 2
    assert _value(b, "srf_http_requests_total", **labels) == 1
