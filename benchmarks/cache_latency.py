"""Median latency of a cache hit, in-process, against a trivial request and a miss in the same run.

    python benchmarks/cache_latency.py [--requests 300]

Requests go through the whole ASGI app (validation, canonical key, SQLite read, JSON response,
access log) with httpx's ASGITransport: no network, one event loop. Target: a hit under 5 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service.app import create_app
from service.edge.logs import JsonFormatter
from service.settings import Settings

#: docs/theory.md §7 on its five α's: the body of a typical hit (~5 kB of JSON).
BODY = {
    "student": "tanh",
    "teacher": "sin",
    "learning_rate": 3.0,
    "alpha0": 20.0,
    "ridge": 0.1,
    "alphas": [0.2, 0.9, 1.6, 2.3, 3.0],
}
TARGET_MS = 5.0


async def _timed(call) -> float:
    start = time.perf_counter()
    response = await call()
    elapsed = (time.perf_counter() - start) * 1000
    response.raise_for_status()
    return elapsed


async def run(requests: int) -> dict[str, float]:
    # Access logs are formatted and written as in production, but to /dev/null.
    sink = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 (lives as long as the process)
    sink.setFormatter(JsonFormatter())
    logging.getLogger("srf").handlers[:] = [sink]
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(cache_path=Path(tmp) / "cache.sqlite3"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                first = await http.post("/theory/curve", json=BODY)
                assert first.headers["x-cache"] == "miss"
                for _ in range(20):  # warm up
                    await http.post("/theory/curve", json=BODY)
                    await http.get("/healthz")
                hits, health, misses = [], [], []
                for i in range(requests):
                    hits.append(await _timed(lambda: http.post("/theory/curve", json=BODY)))
                    health.append(await _timed(lambda: http.get("/healthz")))
                    if i < 50:  # a miss computes the theory: fewer of them
                        body = {**BODY, "ridge": 0.1 + (i + 1) * 1e-3}
                        misses.append(await _timed(lambda body=body: http.post("/theory/curve", json=body)))
                check = await http.post("/theory/curve", json=BODY)
                assert check.headers["x-cache"] == "hit"
    return {
        "hit": statistics.median(hits),
        "hit_p95": statistics.quantiles(hits, n=20)[-1],
        "healthz": statistics.median(health),
        "miss": statistics.median(misses),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="hits (and /healthz calls) to time")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.requests))
    verdict = "OK" if result["hit"] < TARGET_MS else "ABOVE TARGET"
    hit, health, miss = result["hit"], result["healthz"], result["miss"]
    print(f"cache hit  (POST /theory/curve, 5 alphas): median {hit:.3f} ms (p95 {result['hit_p95']:.3f} ms)")
    print(f"baseline   (GET /healthz):                  median {health:.3f} ms")
    print(f"cache miss (POST /theory/curve, computed):  median {miss:.3f} ms")
    print(f"hit / healthz = {hit / health:.2f}x;  miss / hit = {miss / hit:.1f}x")
    print(f"target: hit median < {TARGET_MS} ms -> {verdict}")
    return 0 if result["hit"] < TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
