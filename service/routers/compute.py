"""``POST /theory/curve``, ``POST /simulate``, ``POST /compare``: HTTP only (the flow is ``pipeline``'s)."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from .. import pipeline
from ..deps import Services, ServicesDep
from ..prepare import Request as ApiRequest
from ..prepare import prepare
from ..schemas import (
    EXAMPLE_PROBLEM,
    EXAMPLE_SIMULATION,
    CompareRequest,
    CompareResponse,
    ErrorBody,
    JobAccepted,
    SimulateRequest,
    SimulateResponse,
    TheoryRequest,
    TheoryResponse,
    ValidationErrorBody,
)

router = APIRouter(tags=["computations"])

PreferHeader = Annotated[
    str | None,
    Header(
        description='Send "respond-async" to run the request as a job: 202 Accepted, Location: /jobs/{id}.',
        examples=["respond-async"],
    ),
]

_X_CACHE = {
    "X-Cache": {"description": "hit: served from the store; miss: computed now", "schema": {"type": "string"}}
}
_RETRY = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}


def _responses(model: type) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"model": model, "description": "The result (cached or computed now).", "headers": _X_CACHE},
        202: {
            "model": JobAccepted,
            "description": "Accepted as a job (with Prefer: respond-async); poll the Location.",
            "headers": {"Location": {"description": "/jobs/{id}", "schema": {"type": "string"}}},
        },
        413: {
            "model": ErrorBody,
            "description": f"Beyond a configured limit (named in `limit`), or too heavy "
            f"for a synchronous answer: then {pipeline.ASYNC_HINT}.",
        },
        422: {
            "model": ValidationErrorBody,
            "description": "Invalid input: each item names the field and the rule.",
        },
        429: {"model": ErrorBody, "description": "All computing slots busy.", "headers": _RETRY},
        503: {
            "model": ErrorBody,
            "description": "Too many unfinished jobs, or the computation was cancelled.",
            "headers": _RETRY,
        },
    }


_SIM = {**EXAMPLE_PROBLEM, **EXAMPLE_SIMULATION}
THEORY_EXAMPLES = {
    "section7": {
        "summary": "docs/theory.md §7: tanh student, sin teacher, η̃ = 3, α0 = 20, λ = 0.1",
        "value": EXAMPLE_PROBLEM,
    },
    "optimal_ridge": {
        "summary": "The same problem at the optimal λ of each α",
        "value": {**EXAMPLE_PROBLEM, "ridge": "optimal"},
    },
    "hermite": {
        "summary": "Activations given by Hermite coefficients, with label noise and p = 2d",
        "value": {
            **EXAMPLE_PROBLEM,
            "student": {"hermite": [0, 1, 0.5]},
            "teacher": "he3",
            "noise": 0.1,
            "width": 2,
        },
    },
    "srf_given": {
        "summary": "sRF parameters given directly (skips the mapping)",
        "value": {**EXAMPLE_PROBLEM, "srf": {"c": 1.01897320, "r": 1.13405551, "gamma": 0.97185444}},
    },
}
SIMULATE_EXAMPLES = {
    "section7": {"summary": "docs/theory.md §7 problem, network at d = 400, 2 seeds", "value": _SIM},
    "srf_model": {"summary": "The same, simulating the sRF model itself", "value": {**_SIM, "model": "srf"}},
    "seed_list": {"summary": "Explicit seeds", "value": {**_SIM, "seeds": [7, 11, 13]}},
}
COMPARE_EXAMPLES = {
    "section7": {"summary": "docs/theory.md §7 problem against the network at d = 400", "value": _SIM},
    "strict": {
        "summary": "Stricter verdict: 2 sem or 2 %",
        "value": {**_SIM, "z_threshold": 2, "relative_tolerance": 0.02},
    },
}


def wants_async(prefer: str | None) -> bool:
    """RFC 7240: ``Prefer: respond-async`` among possibly several comma-separated preferences."""
    if not prefer:
        return False
    return any(token.split(";")[0].strip().lower() == "respond-async" for token in prefer.split(","))


async def serve(services: Services, req: ApiRequest, prefer: str | None, png: bool = False) -> Response:
    """Everything the three POST endpoints share: prepare once, then a job (202) or the answer."""
    started = time.perf_counter()
    prepared = prepare(req)
    if wants_async(prefer):
        job_id = await pipeline.submit_job(services, prepared)
        return JSONResponse(
            {"id": job_id, "status": "queued"},
            status_code=202,
            headers={"Location": f"/jobs/{job_id}", "Preference-Applied": "respond-async"},
        )
    body = await pipeline.result(services, prepared, started)
    headers = {"X-Cache": "hit" if body["cached"] else "miss"}
    if png:
        image = await anyio.to_thread.run_sync(pipeline.ENDPOINTS[prepared.endpoint].plot, body)
        return Response(image, media_type="image/png", headers=headers)
    return JSONResponse(body, headers=headers)


@router.post(
    "/theory/curve",
    summary="Exact high-dimensional test and training error along α",
    response_model=None,
    responses=_responses(TheoryResponse),
)
async def theory_curve(
    req: Annotated[TheoryRequest, Body(openapi_examples=THEORY_EXAMPLES)],
    services: ServicesDep,
    prefer: PreferHeader = None,
) -> Response:
    """The limit curve of docs/theory.md §5 after one giant step, and the baseline (same problem, no step).
    `ridge` may be "optimal": the λ minimising the test error at each α, reported per point."""
    return await serve(services, req, prefer)


@router.post(
    "/simulate",
    summary="Finite-size simulation, statistics over seeds",
    response_model=None,
    responses=_responses(SimulateResponse),
)
async def simulate(
    req: Annotated[SimulateRequest, Body(openapi_examples=SIMULATE_EXAMPLES)],
    services: ServicesDep,
    prefer: PreferHeader = None,
) -> Response:
    """Simulates `model` at dimension d for each α and seed; each point has mean, std, sem and the
    values over seeds of the test and training errors."""
    return await serve(services, req, prefer)


_compare_responses = _responses(CompareResponse)
_compare_responses[200] = {
    **_compare_responses[200],
    "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
    "description": "The comparison as JSON, or as a PNG plot with ?format=png or Accept: image/png.",
}


@router.post(
    "/compare",
    summary="Theory against simulation, with z-scores and a verdict (JSON or PNG)",
    response_model=None,
    responses=_compare_responses,
)
async def compare(
    req: Annotated[CompareRequest, Body(openapi_examples=COMPARE_EXAMPLES)],
    request: Request,
    services: ServicesDep,
    prefer: PreferHeader = None,
    format: Annotated[
        Literal["json", "png"] | None,
        Query(description="png: a plot of theory, simulation error bars and baseline instead of JSON."),
    ] = None,
) -> Response:
    """Per α: z = (simulation_mean − theory)/simulation_sem and relative_error = (simulation_mean −
    theory)/theory; `summary.agree` says whether every point is within `z_threshold` sem or within
    `relative_tolerance` of the theory (the exact rule is in `summary.criterion`). Parts already
    computed by /theory/curve or /simulate of the same problem are reused."""
    accept = request.headers.get("accept", "")
    png = format == "png" or (format is None and "image/png" in accept.lower())
    return await serve(services, req, prefer, png=png)
