"""``GET /results/{key}``: any stored result by its key, in any format its POST could give."""

from __future__ import annotations

import json
from typing import Annotated

import anyio
from fastapi import APIRouter, Path
from fastapi.responses import Response

from .. import respond
from ..deps import ServicesDep
from ..errors import ServiceError
from ..formats import OutputDep, openapi_200, openapi_406
from ..schemas import ErrorBody, ValidationErrorBody

router = APIRouter(prefix="/results", tags=["results"])

ResultKey = Annotated[
    str,
    Path(
        description="The `key` of a response (SHA-256 of its canonical request, 64 hex digits).",
        pattern="^[0-9a-f]{64}$",
    ),
]


@router.get(
    "/{key}",
    summary="A stored result by its key (JSON, CSV or a figure)",
    response_model=None,
    responses={
        200: openapi_200(dict, "The body the POST answered, with `cached: true`."),
        404: {"model": ErrorBody, "description": "No result is stored under this key."},
        406: openapi_406(ErrorBody),
        422: {"model": ValidationErrorBody, "description": "A malformed key or figure option."},
        429: {"model": ErrorBody, "description": "A figure to draw and every computing slot busy."},
    },
)
async def get_result(key: ResultKey, services: ServicesDep, query: OutputDep) -> Response:
    """The result of any POST (theory, simulation, comparison, learned function) as it was stored,
    in the same formats as the POST: `?format=csv|png|svg|pdf` or the matching Accept header. A key
    whose result was evicted or never computed is a 404; send the POST again to compute it."""
    output = query.parse()
    text = await anyio.to_thread.run_sync(services.store.get_text, key)
    if text is None:
        raise ServiceError(404, f"key: no result is stored under {key}", field="key")
    body = {**json.loads(text), "cached": True}
    respond.check_body(output, body)
    return await respond.answer(services, body, output, {"X-Cache": "hit"})
