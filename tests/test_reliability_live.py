"""The service as uvicorn runs it (issue 8): its log on stderr, a stalled socket, HEAD, and SIGTERM.

One server for the quick checks, one more for the stop; both on loopback with a private cache file.
"""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from test_service_support import THEORY, LiveServer

LONG = {**THEORY, "ridge": "optimal", "alphas": [0.01 * i for i in range(1, 401)]}


def test_one_json_line_per_request_head_front_page_and_a_stalled_body(tmp_path: Path) -> None:
    with LiveServer(tmp_path / "cache.sqlite3", SRF_RECEIVE_TIMEOUT_SECONDS="1") as server:
        assert server.http.head("/healthz").status_code == 200
        front = server.http.get("/", follow_redirects=False)
        assert front.status_code == 200 and 'href="/docs"' in front.text
        assert server.http.post("/theory/curve", json=THEORY).status_code == 200
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /theory/curve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n"
            )
            started = time.monotonic()
            answer = sock.recv(4096)
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert time.monotonic() - started < 5
        time.sleep(0.3)  # the last line is written after the response
        lines = [line for line in server.log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON, uvicorn's own included
    requests = [r for r in records if r.get("event") == "request"]
    assert [r["path"] for r in requests].count("/theory/curve") == 2  # the 200 and the 408, once each
    assert sum(1 for line in lines if "/theory/curve" in line) == 2  # no uvicorn access line besides


def test_sigterm_stops_running_work_and_marks_jobs_interrupted_within_5_seconds(tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite3"
    server = LiveServer(cache, SRF_MAX_SYNC_SECONDS="300", SRF_MAX_ALPHAS="1000", SRF_MAX_CONCURRENT="2")
    answers: list[Any] = []
    try:
        job = server.http.post(
            "/theory/curve", json={**LONG, "noise": 0.1}, headers={"Prefer": "respond-async"}
        )
        assert job.status_code == 202
        job_id = job.json()["id"]

        def sync_request() -> None:
            try:
                answers.append(httpx.post(f"{server.url}/theory/curve", json=LONG, timeout=60).status_code)
            except httpx.HTTPError as exc:
                answers.append(type(exc).__name__)

        waiter = threading.Thread(target=sync_request)
        waiter.start()
        deadline = time.monotonic() + 30
        while server.http.get(f"/jobs/{job_id}").json()["status"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # both computations are in the engine now
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=15)
        took = time.monotonic() - started
        waiter.join(30)
    finally:
        server.stop()
    assert took < 5, f"the process took {took:.1f} s to exit"
    assert answers and answers[0] in (503, "RemoteProtocolError", "ReadError"), answers
    conn = sqlite3.connect(cache)
    status, error = conn.execute("SELECT status, error FROM jobs WHERE id = ?", (job_id,)).fetchone()
    conn.close()
    assert status == "failed" and error.startswith("interrupted"), (status, error)
