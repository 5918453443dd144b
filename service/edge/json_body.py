"""A JSON body read strictly: a key given twice in one object is a 422 naming it.

``json.loads`` keeps the last of repeated keys silently, so ``{"ridge": 0.1, "ridge": 5}`` would be
answered for λ = 5 while the client may believe it sent 0.1. The body FastAPI has read (and cached on
the request) is parsed once more with a hook that refuses repeats; it is at most ``SRF_MAX_BODY_BYTES``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError

from srf_engine.errors import clip


class _Repeated(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Repeated(key)
        seen[key] = value
    return seen


async def no_repeated_keys(request: Request) -> None:
    """Router dependency: 422 when an object of the JSON body repeats a key."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    body = await request.body()
    if not body:
        return
    try:
        json.loads(body, object_pairs_hook=_refuse_repeats)
    except _Repeated as repeated:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", clip(repeated.key)),
                    "msg": f"the key '{clip(repeated.key)}' is given twice in one object; give it once",
                    "type": "duplicate_key",
                }
            ]
        ) from None
    except (ValueError, RecursionError):  # unparseable bodies are FastAPI's to refuse
        return
