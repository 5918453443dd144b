"""Bounds at the HTTP edge: a request body's size and the time a client may take to send it.

Pure ASGI, in front of the app. A declared ``Content-Length`` above ``max_body_bytes`` is refused
before any of the body is read; a chunked body is counted as it arrives and refused once it passes the
limit (413, naming ``SRF_MAX_BODY_BYTES``). While the body is incomplete, each wait for its next part
is bounded by ``receive_timeout_seconds`` (408, naming ``SRF_RECEIVE_TIMEOUT_SECONDS``), so a client
that sends headers and then nothing does not hold a connection and a task forever. Once the body is
in, ``receive`` is passed through untouched (the app listens on it for the client's disconnect).
"""

from __future__ import annotations

import asyncio
import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """413; an HTTPException so that FastAPI's body reading passes it through unchanged."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            f"the request body exceeds the server's limit of {limit} bytes (SRF_MAX_BODY_BYTES)",
            headers={"Connection": "close"},  # the rest of the body is not read: the connection ends
        )


class ReceiveTimeout(HTTPException):
    """408: the client stopped sending its body."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            408,
            f"the request body did not arrive within {seconds:g} s (SRF_RECEIVE_TIMEOUT_SECONDS)",
            headers={"Connection": "close"},
        )


async def _answer(send: Send, error: HTTPException) -> None:
    body = json.dumps({"detail": error.detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in (error.headers or {}).items()]
    headers.append((b"connection", b"close")) if b"connection" not in dict(headers) else None
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestBoundsMiddleware:
    """Refuses oversized bodies (413) and clients that stall while sending one (408)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, receive_timeout_seconds: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.receive_timeout_seconds = receive_timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_body_bytes:
                    await _answer(send, BodyTooLarge(self.max_body_bytes))
                    return
        received = 0
        complete = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal received, complete
            if complete:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.receive_timeout_seconds)
            except TimeoutError:
                raise ReceiveTimeout(self.receive_timeout_seconds) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracking_send)
        except (BodyTooLarge, ReceiveTimeout) as error:  # raised where nothing handled them
            if not started:
                await _answer(send, error)
