"""Shared helpers of the service tests (imported by test_service_*.py, test_cache_*.py, …).

Kept out of conftest.py, which belongs to the whole suite. Requests are small so the real engine
answers fast: theory on a few α's, simulations at d = 100 with one seed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[1]

#: docs/theory.md §7 on three α's.
THEORY: dict[str, Any] = {
    "student": "tanh",
    "teacher": "sin",
    "learning_rate": 3.0,
    "alpha0": 20.0,
    "ridge": 0.1,
    "alphas": [0.2, 0.9, 1.6],
}
#: The same problem, simulated small: d = 100, one seed, few test samples.
SIMULATE: dict[str, Any] = {**THEORY, "model": "srf", "dimension": 100, "seeds": 1, "test_samples": 400}
COMPARE: dict[str, Any] = dict(SIMULATE)


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings on a private cache file, with fast job heartbeats."""
    values: dict[str, Any] = {
        "cache_path": tmp_path / "cache.sqlite3",
        "job_heartbeat_seconds": 0.1,
        **overrides,
    }
    return Settings(**values)


@contextlib.contextmanager
def client(tmp_path: Path, **overrides: Any) -> Iterator[TestClient]:
    """An in-process client of a fresh app (lifespan run) that returns 500s instead of raising."""
    app = create_app(settings(tmp_path, **overrides))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def wait_job(
    http: TestClient | httpx.Client,
    job_id: str,
    *,
    until: tuple[str, ...] = ("done", "failed", "cancelled"),
    timeout: float = 60,
) -> dict[str, Any]:
    """Poll ``GET /jobs/{id}`` until its status is in ``until``."""
    deadline = time.monotonic() + timeout
    while True:
        job = http.get(f"/jobs/{job_id}").json()
        if job["status"] in until:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen, *, kill: bool = False, timeout: float = 20) -> None:
    """SIGTERM (graceful: lifespan shutdown runs) or SIGKILL (a crash), then reap; SIGKILL if stuck."""
    if process.poll() is None:
        process.kill() if kill else process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LiveServer:
    """``uvicorn service.app:app`` in a subprocess on 127.0.0.1 and a free port."""

    def __init__(self, cache_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {
            **os.environ,
            "SRF_CACHE_PATH": str(cache_path),
            "SRF_JOB_HEARTBEAT_SECONDS": "0.2",
            **env,
        }
        self.log = cache_path.with_name(f"uvicorn-{self.port}.log")
        self._log_file = self.log.open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "service.app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env=environment,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"uvicorn exited: {self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"uvicorn did not start: {self.log.read_text()}")
            time.sleep(0.1)
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def stop(self, *, kill: bool = False) -> None:
        """Stop the server: SIGTERM (graceful, lifespan shutdown runs) or SIGKILL (a crash)."""
        stop_process(self.process, kill=kill)
        if hasattr(self, "http"):
            self.http.close()
        self._log_file.close()

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SilentServer:
    """A plain TCP server on 127.0.0.1 that accepts connections and never answers (the wrong scheduler:
    an HTTP server waiting for a request line, a proxy, a firewall's tarpit)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.address = f"tcp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.accepted.append(self.sock.accept()[0])

    def close(self) -> None:
        for conn in self.accepted:
            conn.close()
        self.sock.close()


def replace_run(monkeypatch: Any, endpoint: str, run: Any) -> None:
    """Make ``endpoint``'s compute function ``run(prepared, progress=None, **options)`` for one test."""
    import dataclasses

    from service.work import pipeline

    patched = dataclasses.replace(pipeline.ENDPOINTS[endpoint], run=run)
    monkeypatch.setitem(pipeline.ENDPOINTS, endpoint, patched)
