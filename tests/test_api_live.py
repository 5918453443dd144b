"""The service on a real uvicorn, on 127.0.0.1 and a free port: endpoints, two processes sharing one
cache file, and a crash (SIGKILL) during a job followed by a restart."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_service_support import COMPARE, ROOT, THEORY, LiveServer, wait_job

from service.work.jobs import DIED

#: Long enough (several seconds) to be killed while running.
LONG_SIMULATION = {**THEORY, "model": "network", "dimension": 2000, "seeds": 3, "alphas": [3.0]}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[LiveServer]:
    with LiveServer(tmp_path_factory.mktemp("live") / "cache.sqlite3") as live:
        yield live


def test_live_about_endpoints_and_schema(server: LiveServer) -> None:
    http = server.http
    assert http.get("/healthz").json() == {"status": "ok"}
    assert http.get("/version").status_code == 200
    assert "tanh" in {a["name"] for a in http.get("/activations").json()["activations"]}
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text(encoding="utf-8"))
    assert http.get("/openapi.json").json() == committed
    assert http.get("/docs").status_code == 200


def test_live_theory_miss_then_hit_and_422(server: LiveServer) -> None:
    body = {**THEORY, "ridge": 0.123}
    first = server.http.post("/theory/curve", json=body)
    assert first.status_code == 200 and first.headers["x-cache"] == "miss"
    second = server.http.post("/theory/curve", json=body)
    assert second.headers["x-cache"] == "hit" and second.json()["cached"] is True
    bad = server.http.post("/theory/curve", json={**body, "student": "cosh"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "student"


def test_live_compare_png_and_jobs(server: LiveServer) -> None:
    from PIL import Image

    png = server.http.post("/compare?format=png", json=COMPARE)
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    Image.open(io.BytesIO(png.content)).verify()

    accepted = server.http.post(
        "/simulate", json={**COMPARE, "seeds": [4]}, headers={"Prefer": "respond-async"}
    )
    assert accepted.status_code == 202
    job = wait_job(server.http, accepted.json()["id"])
    assert job["status"] == "done" and job["result"]["dimension"] == COMPARE["dimension"]

    long = server.http.post("/simulate", json=LONG_SIMULATION, headers={"Prefer": "respond-async"})
    job_id = long.json()["id"]
    wait_job(server.http, job_id, until=("running", "done"))
    cancelled = server.http.delete(f"/jobs/{job_id}")
    assert cancelled.json()["status"] in ("cancelled", "done")
    assert server.http.get("/healthz").status_code == 200


def test_two_processes_share_one_cache_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.sqlite3"
    with LiveServer(path) as a, LiveServer(path) as b:
        computed = a.http.post("/theory/curve", json=THEORY)
        assert computed.headers["x-cache"] == "miss"
        served = b.http.post("/theory/curve", json=THEORY)
        assert served.headers["x-cache"] == "hit" and served.json()["points"] == computed.json()["points"]
        job = b.http.post("/theory/curve", json={**THEORY, "ridge": 0.4}, headers={"Prefer": "respond-async"})
        job_id = job.json()["id"]
        assert wait_job(b.http, job_id)["status"] == "done"
        assert a.http.get(f"/jobs/{job_id}").json()["status"] == "done"  # jobs live in the shared file


def test_job_of_a_killed_server_is_failed_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "crash.sqlite3"
    crashed = LiveServer(path)
    try:
        r = crashed.http.post("/simulate", json=LONG_SIMULATION, headers={"Prefer": "respond-async"})
        job_id = r.json()["id"]
        assert wait_job(crashed.http, job_id, until=("running",))["status"] == "running"
    finally:
        crashed.stop(kill=True)  # SIGKILL: no shutdown hook runs
    time.sleep(0.1)
    with LiveServer(path) as restarted:
        job = restarted.http.get(f"/jobs/{job_id}").json()
        assert job["status"] == "failed" and job["error"] == DIED
