"""A figure whose client leaves is stopped (issue 18 item 5), on every path that draws one: a stored
result by key (``GET /results/{key}?format=png``, ``GET /results/{key}/figure``) and a POST answered
from the store (``POST /theory/curve?format=png``). The drawing is replaced by one that waits at the
engine's checkpoints, so the test sees whether it was cancelled; a bare ASGI call plays the client.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from test_service_support import THEORY, settings

from service.app import create_app
from service.render import figures
from service.schemas import TheoryRequest
from service.work.pipeline import compute_body
from service.work.prepare import prepare
from srf_engine import ENGINE_VERSION, Cancelled
from srf_engine.cancel import checkpoint


class HeldFigure:
    """A drawing that passes the engine's checkpoints until released (or cancelled through them)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.cancelled = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> bytes:
        self.started.set()
        try:
            while not self.release.is_set():
                checkpoint()
                time.sleep(0.01)
        except Cancelled:
            self.cancelled.set()
            raise
        return b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Any:
    drawing = HeldFigure()
    monkeypatch.setattr(figures, "make_figure", drawing)
    yield drawing
    drawing.release.set()


async def _leave_after(
    app: Any, method: str, path: str, query: str, body: bytes, seconds: float
) -> list[dict]:
    sent = False
    messages: list[dict] = []

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(seconds)
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return messages


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("GET", "/results/{key}", "format=png"),
        ("GET", "/results/{key}/figure", "format=png"),
        ("POST", "/theory/curve", "format=png"),
    ],
)
def test_a_figure_whose_client_left_is_stopped(
    tmp_path: Path, held: HeldFigure, method: str, path: str, query: str
) -> None:
    app = create_app(settings(tmp_path))
    services = app.state.services
    prepared = prepare(TheoryRequest.model_validate(THEORY))
    services.store.put(prepared.key, prepared.endpoint, ENGINE_VERSION, compute_body(prepared))
    body = json.dumps(THEORY).encode() if method == "POST" else b""
    call = _leave_after(app, method, path.format(key=prepared.key), query, body, 0.3)
    messages = asyncio.run(asyncio.wait_for(call, 20))
    assert held.started.is_set(), messages
    assert held.cancelled.wait(10), "the drawing went on for nobody"
    assert not any(m.get("status") == 200 for m in messages if m["type"] == "http.response.start")


KEYS = {"api_keys": "key-a,key-b", "api_key_max_concurrent": 1, "max_concurrent": 3}
A = {"Authorization": "Bearer key-a"}
B = {"Authorization": "Bearer key-b"}


@pytest.mark.parametrize("path", ["/results/{key}?format=png", "/results/{key}/figure?format=svg"])
def test_a_figure_of_a_stored_result_counts_against_the_callers_key(
    tmp_path: Path, held: HeldFigure, path: str
) -> None:
    """While key A's drawing of a stored result runs, A is at its share (429) and B is not."""
    from test_service_support import client

    with client(tmp_path, **KEYS) as http:
        key = http.post("/theory/curve", json=THEORY, headers=A).json()["key"]
        drawing = threading.Thread(target=lambda: http.get(path.format(key=key), headers=A))
        drawing.start()
        try:
            assert held.started.wait(10)
            a_more = http.post("/theory/curve", json={**THEORY, "ridge": 0.2}, headers=A)
            b_more = http.post("/theory/curve", json={**THEORY, "ridge": 0.2}, headers=B)
        finally:
            held.release.set()
            drawing.join(20)
    assert a_more.status_code == 429 and "API key" in a_more.json()["detail"], a_more.text
    assert b_more.status_code == 200, b_more.text
