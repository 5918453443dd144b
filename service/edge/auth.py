"""Bearer-token authentication as a router dependency (``SRF_API_KEYS``; the keys and their per-key
limits are :class:`service.work.keys.ApiKeys`)."""

from __future__ import annotations

from fastapi import Request

from ..work.keys import ApiKeys


async def require_key(request: Request) -> None:
    """Router dependency: authenticate the caller and remember who it is in ``request.state``."""
    keys: ApiKeys = request.app.state.services.keys
    request.state.api_key = keys.authenticate(request.headers.get("authorization"))
