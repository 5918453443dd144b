"""``GET /results/{key}``: any stored result by its key, in any format its POST could give; and
``/results/{key}/figure`` and ``/results/{key}/table``, whose 200 is only a figure or only CSV (so a
generated client reads them as bytes instead of parsing JSON)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from ..deps import ServicesDep
from ..errors import ServiceError
from ..render import respond
from ..render.formats import (
    CSV_CONTENT,
    FIGURE_CONTENT,
    FigureDep,
    Output,
    OutputDep,
    openapi_200,
    openapi_406,
    parse_output,
)
from ..schemas import ErrorBody, ValidationErrorBody

router = APIRouter(prefix="/results", tags=["results"])

ResultKey = Annotated[
    str,
    Path(
        description="The `key` of a response (SHA-256 of its canonical request, 64 hex digits).",
        pattern="^[0-9a-f]{64}$",
    ),
]

NOT_STORED = {"model": ErrorBody, "description": "No result is stored under this key."}


@router.get(
    "/{key}",
    summary="A stored result by its key",
    response_model=None,
    responses={
        200: openapi_200(dict, "The body the POST answered, with `cached: true`."),
        404: NOT_STORED,
        406: openapi_406(ErrorBody),
        422: {"model": ValidationErrorBody, "description": "A malformed key or figure option."},
        429: {"model": ErrorBody, "description": "A figure to draw and every computing slot busy."},
    },
)
async def get_result(key: ResultKey, request: Request, services: ServicesDep, query: OutputDep) -> Response:
    """The result of any POST (theory, simulation, comparison, learned function) as it was stored,
    in the same formats as the POST: `?format=csv|png|svg|pdf` or the matching Accept header. A key
    whose result was evicted or never computed is a 404; send the POST again to compute it."""
    return await _answer(services, key, query.parse(), request)


def _cached(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "cached": True}


async def _answer(services: ServicesDep, key: str, output: Output, request: Request) -> Response:
    """The stored body under ``key`` (404 if none), marked ``cached``, in ``output``'s format."""
    raw = await anyio.to_thread.run_sync(services.store.get_raw, key)
    if raw is None:
        raise ServiceError(404, f"key: no result is stored under {key}", field="key")
    who = getattr(request.state, "api_key", None)  # a figure drawn for it counts among its computations
    # Its figures have the budget of a synchronous request (a heavy one: POST with respond-async).
    return await respond.answer_stored(
        services, raw, output, {"X-Cache": "hit"}, _cached, sync=True, who=who, disconnected=_gone(request)
    )


def _gone(request: Request) -> Any:
    """Returns when the client has closed the connection: a figure nobody waits for is abandoned."""

    async def wait() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    return wait


@router.get(
    "/{key}/figure",
    summary="A stored result's figure (PNG, SVG or PDF)",
    response_class=Response,
    responses={
        200: {"description": "The figure, drawn as its POST would draw it.", "content": FIGURE_CONTENT},
        404: NOT_STORED,
        422: {"model": ValidationErrorBody, "description": "A malformed key or figure option."},
        429: {"model": ErrorBody, "description": "Every computing slot busy (see Retry-After)."},
    },
)
async def get_result_figure(
    key: ResultKey, request: Request, services: ServicesDep, query: FigureDep
) -> Response:
    """The figure of a stored result, as `GET /results/{key}?format=png|svg|pdf` gives it, on a path
    whose only answer is the figure (`?format=` png by default; options x, y, errors, dpi, size)."""
    return await _answer(services, key, query.parse(), request)


@router.get(
    "/{key}/table",
    summary="A stored result as CSV",
    response_class=Response,
    responses={
        200: {"description": "One CSV row per point, as `?format=csv` gives it.", "content": CSV_CONTENT},
        404: NOT_STORED,
        422: {"model": ValidationErrorBody, "description": "A malformed key."},
    },
)
async def get_result_table(key: ResultKey, request: Request, services: ServicesDep) -> Response:
    """The stored result as CSV, as `GET /results/{key}?format=csv` gives it, on a path whose only
    answer is CSV."""
    return await _answer(services, key, parse_output(("csv",), "csv", None), request)
