"""Jobs (Prefer: respond-async): lifecycle, progress, cancel, capacity, and restart recovery."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_service_support import SIMULATE, THEORY, client, replace_run, wait_job

from service.schemas import TheoryRequest
from service.work import compute
from service.work.jobs import DIED, SHUT_DOWN
from service.work.prepare import request_key
from srf_engine import InvalidParameterError

ASYNC = {"Prefer": "respond-async"}


class Gate:
    """Wraps the real ``run_theory`` so that it holds at the engine's first progress report until
    released, reporting progress meanwhile: a cancel then stops it through the engine's callback."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()
        self.calls = 0
        self._real = compute.run_theory

    def __call__(self, req, progress=None, **options):
        self.calls += 1

        def held(fraction: float) -> None:
            self.started.set()
            while not self.release.is_set():
                if progress is not None:
                    progress(fraction)  # raises Cancelled once the job is cancelled
                time.sleep(0.01)
            if progress is not None:
                progress(fraction)

        return self._real(req, held, **options)


@pytest.fixture
def gate(monkeypatch) -> Iterator[Gate]:
    g = Gate()
    replace_run(monkeypatch, "theory/curve", g)
    yield g
    g.release.set()


def _submit(http, path: str = "/theory/curve", body: dict | None = None) -> str:
    r = http.post(path, json=body or THEORY, headers=ASYNC)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued" and r.headers["location"] == f"/jobs/{r.json()['id']}"
    assert r.headers["preference-applied"] == "respond-async"
    return r.json()["id"]


def _wait_until(predicate, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# ---------------------------------------------------------------------------- lifecycle


def test_job_lifecycle_gives_the_synchronous_body(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        job_id = _submit(http)
        job = wait_job(http, job_id)
        assert job["status"] == "done" and job["progress"] == 1.0 and job["error"] is None
        assert job["endpoint"] == "theory/curve" and job["key"] == request_key(
            TheoryRequest.model_validate(THEORY)
        )
        sync = http.post("/theory/curve", json=THEORY)
        assert sync.headers["x-cache"] == "hit"  # the job stored its result
        assert job["result"]["points"] == sync.json()["points"] and job["result"]["key"] == sync.json()["key"]
        # A repeat as a job is served from the store.
        again = wait_job(http, _submit(http))
        assert again["status"] == "done" and again["result"]["cached"] is True


def test_simulation_job_reports_progress_and_result(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        job = wait_job(http, _submit(http, "/simulate", SIMULATE))
        assert job["status"] == "done", job
        assert [p["alpha"] for p in job["result"]["points"]] == SIMULATE["alphas"]


def test_running_job_shows_status_and_progress(tmp_path: Path, gate: Gate) -> None:
    with client(tmp_path) as http:
        job_id = _submit(http)
        assert gate.started.wait(10)
        job = wait_job(http, job_id, until=("running",))
        assert 0 < job["progress"] < 1 and job["result"] is None
        gate.release.set()
        assert wait_job(http, job_id)["status"] == "done"


def test_failed_job_reports_the_reason(tmp_path: Path, monkeypatch) -> None:
    def reject(req, progress=None, **options):
        raise InvalidParameterError("alphas[0]", "must be small enough")

    replace_run(monkeypatch, "theory/curve", reject)
    with client(tmp_path) as http:
        job = wait_job(http, _submit(http))
        assert job["status"] == "failed" and job["error"] == "alphas[0]: must be small enough"


def test_invalid_or_oversized_async_requests_are_refused_before_a_job_exists(tmp_path: Path) -> None:
    with client(tmp_path, max_alphas=1) as http:
        assert http.post("/theory/curve", json={**THEORY, "width": 0}, headers=ASYNC).status_code == 422
        assert http.post("/theory/curve", json=THEORY, headers=ASYNC).status_code == 413
        assert http.post("/simulate", json={**SIMULATE, "alphas": [0.001]}, headers=ASYNC).status_code == 422


def test_unknown_job_is_404(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        for method in ("GET", "DELETE"):
            r = http.request(method, "/jobs/0123456789abcdef")
            assert r.status_code == 404 and "no job" in r.json()["detail"]


# ---------------------------------------------------------------------------- cancel


def test_cancel_stops_a_running_job_through_the_engine(tmp_path: Path, gate: Gate) -> None:
    with client(tmp_path) as http:
        job_id = _submit(http)
        assert gate.started.wait(10)
        r = http.delete(f"/jobs/{job_id}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        runner = http.app.state.services.runner
        _wait_until(lambda: runner.flight(r.json()["key"]) is None)  # the engine stopped
        job = http.get(f"/jobs/{job_id}").json()
        assert job["status"] == "cancelled" and job["result"] is None and "cancelled" in job["error"]
        assert http.app.state.services.store.get(job["key"]) is None
        # Cancelling again, or a finished job, changes nothing.
        assert http.delete(f"/jobs/{job_id}").json()["status"] == "cancelled"


def test_cancel_a_queued_job_before_it_starts(tmp_path: Path, gate: Gate) -> None:
    with client(tmp_path, max_concurrent=1) as http:
        running = _submit(http)
        assert gate.started.wait(10)
        queued = _submit(http, body={**THEORY, "ridge": 0.7})
        assert http.get(f"/jobs/{queued}").json()["status"] == "queued"
        assert http.delete(f"/jobs/{queued}").json()["status"] == "cancelled"
        gate.release.set()
        assert wait_job(http, running)["status"] == "done"
        assert http.get(f"/jobs/{queued}").json()["status"] == "cancelled"
        assert gate.calls == 1  # the cancelled job never reached the engine


def test_done_job_is_unchanged_by_delete(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        job_id = _submit(http)
        assert wait_job(http, job_id)["status"] == "done"
        r = http.delete(f"/jobs/{job_id}")
        assert r.status_code == 200 and r.json()["status"] == "done" and r.json()["result"] is not None


def test_cancelling_a_job_does_not_cancel_a_synchronous_request_sharing_its_work(
    tmp_path: Path, gate: Gate
) -> None:
    with client(tmp_path) as http:
        job_id = _submit(http)
        assert gate.started.wait(10)
        result: dict = {}
        waiter = threading.Thread(target=lambda: result.update(r=http.post("/theory/curve", json=THEORY)))
        waiter.start()
        runner = http.app.state.services.runner
        key = request_key(TheoryRequest.model_validate(THEORY))
        _wait_until(lambda: runner.flight(key) is not None and runner.flight(key).parties == 2)
        assert http.delete(f"/jobs/{job_id}").json()["status"] == "cancelled"
        gate.release.set()
        waiter.join(20)
        assert result["r"].status_code == 200 and gate.calls == 1


# ---------------------------------------------------------------------------- capacity


def test_sync_request_at_capacity_is_429_with_retry_after(tmp_path: Path, gate: Gate) -> None:
    with client(tmp_path, max_concurrent=1, retry_after_seconds=7) as http:
        job_id = _submit(http)
        assert gate.started.wait(10)
        r = http.post("/theory/curve", json={**THEORY, "ridge": 0.9})
        assert r.status_code == 429 and r.headers["retry-after"] == "7"
        assert "SRF_MAX_CONCURRENT" in r.json()["detail"]
        assert http.get("/healthz").status_code == 200  # the event loop is free
        gate.release.set()
        assert wait_job(http, job_id)["status"] == "done"
        assert http.post("/theory/curve", json={**THEORY, "ridge": 0.9}).status_code == 200


def test_too_many_unfinished_jobs_is_503_with_retry_after(tmp_path: Path, gate: Gate) -> None:
    with client(tmp_path, max_queued_jobs=1, retry_after_seconds=3) as http:
        first = _submit(http)
        r = http.post("/theory/curve", json={**THEORY, "ridge": 0.9}, headers=ASYNC)
        assert r.status_code == 503 and r.headers["retry-after"] == "3"
        gate.release.set()
        assert wait_job(http, first)["status"] == "done"
        assert http.post("/theory/curve", json={**THEORY, "ridge": 0.9}, headers=ASYNC).status_code == 202


# ---------------------------------------------------------------------------- restart


def test_clean_shutdown_fails_unfinished_jobs_with_a_reason(tmp_path: Path, gate: Gate) -> None:
    with client(tmp_path) as http:
        job_id = _submit(http)
        assert gate.started.wait(10)
    with client(tmp_path) as http:  # restart on the same file
        job = http.get(f"/jobs/{job_id}").json()
        assert job["status"] == "failed" and job["error"] == SHUT_DOWN
        # Submitting it again works.
        gate.release.set()
        assert wait_job(http, _submit(http))["status"] == "done"


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _insert_job(path: Path, job_id: str, *, host: str, pid: int, heartbeat_age: float, status: str) -> None:
    import sqlite3

    now = time.time()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO jobs (id, endpoint, key, request, status, progress, owner, host, pid, created_at, "
            "updated_at, heartbeat_at) VALUES (?, 'theory/curve', 'k', ?, ?, 0.5, 'gone', ?, ?, ?, ?, ?)",
            (job_id, json.dumps(THEORY), status, host, pid, now, now, now - heartbeat_age),
        )
    conn.close()


def test_jobs_of_a_dead_process_are_failed_at_startup(tmp_path: Path) -> None:
    with client(tmp_path):
        pass  # creates the file
    path = tmp_path / "cache.sqlite3"
    here = socket.gethostname()
    _insert_job(path, "crashed-running", host=here, pid=_dead_pid(), heartbeat_age=0, status="running")
    _insert_job(path, "crashed-queued", host=here, pid=_dead_pid(), heartbeat_age=0, status="queued")
    _insert_job(path, "silent-elsewhere", host="other-host", pid=1, heartbeat_age=3600, status="running")
    _insert_job(path, "alive-elsewhere", host="other-host", pid=1, heartbeat_age=0, status="running")
    _insert_job(path, "alive-here", host=here, pid=os.getppid(), heartbeat_age=0, status="running")
    with client(tmp_path, job_stale_seconds=60) as http:
        status = {
            j: http.get(f"/jobs/{j}").json()
            for j in (
                "crashed-running",
                "crashed-queued",
                "silent-elsewhere",
                "alive-elsewhere",
                "alive-here",
            )
        }
    for j in ("crashed-running", "crashed-queued", "silent-elsewhere"):
        assert status[j]["status"] == "failed" and status[j]["error"] == DIED
    for j in ("alive-elsewhere", "alive-here"):
        assert status[j]["status"] == "running"
