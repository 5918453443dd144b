"""The result cache: keys, persistence across restarts, single flight, corrupt files."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from test_service_support import SIMULATE, THEORY, client, replace_run, settings

from service.app import create_app
from service.schemas import CompareRequest, SimulateRequest, TheoryRequest
from service.store.sqlite import Store, StoreError
from service.work import compute
from service.work.prepare import canonical_json, request_key
from srf_engine import ENGINE_VERSION

# ---------------------------------------------------------------------------- keys


def test_key_is_sha256_of_canonical_request_with_endpoint_and_version() -> None:
    req = TheoryRequest.model_validate(THEORY)
    text = canonical_json(req)
    assert f'"engine_version":"{ENGINE_VERSION}"' in text and '"endpoint":"theory/curve"' in text
    assert '"width":1.0' in text and '"noise":0.0' in text  # defaults filled in
    import hashlib

    assert request_key(req) == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"learning_rate": 3}, {"learning_rate": 3.0}),
        ({"noise": -0.0}, {"noise": 0.0}),
        ({"student": {"hermite": [0, 1, 0, 0]}}, {"student": {"hermite": [0.0, 1.0]}}),
        ({"alphas": [0.2, 0.9, 1.6]}, {"alphas": [0.2, 0.9000000000000000001, 1.6]}),
    ],
)
def test_equivalent_requests_have_equal_keys(a, b) -> None:
    assert request_key(TheoryRequest.model_validate({**THEORY, **a})) == request_key(
        TheoryRequest.model_validate({**THEORY, **b})
    )


def test_distinct_requests_have_distinct_keys() -> None:
    keys = {
        request_key(TheoryRequest.model_validate(THEORY)),
        request_key(
            TheoryRequest.model_validate({**THEORY, "alphas": [0.9, 0.2, 1.6]})
        ),  # order is output order
        request_key(TheoryRequest.model_validate({**THEORY, "ridge": "optimal"})),
        request_key(SimulateRequest.model_validate(SIMULATE)),
        request_key(SimulateRequest.model_validate({**SIMULATE, "seeds": [1]})),
        request_key(CompareRequest.model_validate(SIMULATE)),
    }
    assert len(keys) == 6
    # A seed count n means seeds 0 … n−1.
    assert request_key(SimulateRequest.model_validate({**SIMULATE, "seeds": 2})) == request_key(
        SimulateRequest.model_validate({**SIMULATE, "seeds": [0, 1]})
    )


# ---------------------------------------------------------------------------- persistence


def test_results_survive_a_restart(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        first = http.post("/theory/curve", json=THEORY).json()
    with client(tmp_path) as http:  # a new app on the same file
        again = http.post("/theory/curve", json=THEORY)
        assert again.headers["x-cache"] == "hit"
        assert again.json()["points"] == first["points"] and again.json()["key"] == first["key"]


def test_store_uses_wal_and_busy_timeout(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.sqlite3", busy_timeout_ms=1234)
    store.put("k", "theory/curve", ENGINE_VERSION, {"x": 1})
    store.put("k", "theory/curve", ENGINE_VERSION, {"x": 2})  # first writer wins
    assert store.get("k") == {"x": 1}
    conn = sqlite3.connect(tmp_path / "c.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._connection().execute("PRAGMA busy_timeout").fetchone()[0] == 1234


# ---------------------------------------------------------------------------- single flight


def test_eight_concurrent_identical_requests_compute_once(tmp_path: Path, monkeypatch) -> None:
    calls: list[float] = []
    real = compute.run_theory

    def counted(req, progress=None, **options):
        calls.append(time.monotonic())
        time.sleep(0.3)  # keep the computation in flight while the others arrive
        return real(req, progress, **options)

    replace_run(monkeypatch, "theory/curve", counted)
    app = create_app(settings(tmp_path, max_concurrent=1))

    async def main() -> list[httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
                return await asyncio.gather(*(http.post("/theory/curve", json=THEORY) for _ in range(8)))

    responses = asyncio.run(main())
    assert [r.status_code for r in responses] == [200] * 8  # joined, not refused at capacity
    assert len(calls) == 1 and app.state.services.runner.computations == 1
    bodies = [r.json() for r in responses]
    assert all(b["points"] == bodies[0]["points"] and b["key"] == bodies[0]["key"] for b in bodies)
    assert app.state.services.store.count_results() == 1


def test_concurrent_threads_on_two_apps_sharing_a_file_do_not_corrupt_it(tmp_path: Path) -> None:
    """Two app instances (as two processes would) writing the same file at once."""
    errors: list[BaseException] = []

    def hammer(offset: int) -> None:
        try:
            with client(tmp_path) as http:
                for i in range(6):
                    r = http.post("/theory/curve", json={**THEORY, "ridge": 0.01 * (1 + (i + offset) % 8)})
                    assert r.status_code == 200, r.text
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(k,)) for k in (0, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    conn = sqlite3.connect(tmp_path / "cache.sqlite3")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 8


# ---------------------------------------------------------------------------- corrupt files


def test_corrupt_file_is_moved_aside_and_serving_goes_on(tmp_path: Path, caplog) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a database, just garbage " * 200)
    with caplog.at_level(logging.WARNING, logger="srf"), client(tmp_path) as http:
        r = http.post("/theory/curve", json=THEORY)
        assert r.status_code == 200 and r.headers["x-cache"] == "miss"
        assert http.post("/theory/curve", json=THEORY).headers["x-cache"] == "hit"
    aside = list(tmp_path.glob("cache.sqlite3.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not a database")
    assert any("moved it to" in rec.getMessage() for rec in caplog.records)


def test_file_corrupted_while_serving_is_recovered(tmp_path: Path, caplog) -> None:
    with client(tmp_path) as http:
        assert http.post("/theory/curve", json=THEORY).status_code == 200
        path = tmp_path / "cache.sqlite3"
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        path.write_bytes(b"\0garbage" * 4096)
        with caplog.at_level(logging.WARNING, logger="srf"):
            for ridge in (0.5, 0.6):
                r = http.post("/theory/curve", json={**THEORY, "ridge": ridge})
                assert r.status_code == 200, r.text
        assert http.get("/healthz").status_code == 200
        assert http.post("/theory/curve", json={**THEORY, "ridge": 0.6}).headers["x-cache"] == "hit"
    assert list(tmp_path.glob("cache.sqlite3.corrupt-*"))
    assert any("moved it to" in rec.getMessage() for rec in caplog.records)


def test_unusable_path_is_a_clear_startup_error(tmp_path: Path) -> None:
    """Never a silent in-memory fallback: the operator would believe results persist."""
    blocker = tmp_path / "file"
    blocker.write_text("a file where a directory should be")
    with (
        pytest.raises(StoreError, match="cannot create its directory"),
        client(tmp_path, cache_path=blocker / "c.sqlite3"),
    ):
        pass
