"""``POST /theory/curve``, ``POST /simulate``, ``POST /compare``: HTTP only (the flow is ``pipeline``'s)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request
from fastapi.responses import JSONResponse, Response

from ..deps import Services, ServicesDep
from ..render import respond
from ..render.formats import OutputDep, OutputQuery, openapi_200, openapi_406
from ..schemas import (
    EXAMPLE_PROBLEM,
    EXAMPLE_SIMULATION,
    CompareRequest,
    CompareResponse,
    ErrorBody,
    FunctionRequest,
    FunctionResponse,
    JobAccepted,
    SimulateRequest,
    SimulateResponse,
    TheoryRequest,
    TheoryResponse,
    ValidationErrorBody,
)
from ..work import pipeline
from ..work.prepare import Request as ApiRequest
from ..work.prepare import prepare

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
        200: openapi_200(model, "The result (cached or computed now).", _X_CACHE),
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
        406: openapi_406(ErrorBody),
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
    "learning_rate_grid": {
        "summary": "A grid: 4 learning rates × 5 α (points in C order, learning_rate then alpha)",
        "value": {**EXAMPLE_PROBLEM, "learning_rate": [0.5, 1, 2, 4]},
    },
    "optimal_learning_rate": {
        "summary": "The η̃ minimising the test error at each α",
        "value": {**EXAMPLE_PROBLEM, "learning_rate": "optimal", "alphas": [0.5, 2.0]},
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
    "learning_rate_grid": {
        "summary": "3 learning rates: one first-step gradient serves all three",
        "value": {**_SIM, "learning_rate": [1, 2, 3]},
    },
}
FUNCTION_EXAMPLES = {
    "section7": {
        "summary": "docs/theory.md §7 problem at two α, default κ grid",
        "value": {**EXAMPLE_PROBLEM, "alphas": [0.5, 2.0]},
    },
    "kappa": {
        "summary": "Chosen κ values",
        "value": {**EXAMPLE_PROBLEM, "alphas": [1.0], "kappa": [-2, -1, 0, 1, 2]},
    },
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


def _disconnected(request: Request) -> pipeline.Disconnected:
    """Returns when the client has closed the connection (the body is read by then)."""

    async def wait() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    return wait


async def serve(
    services: Services, req: ApiRequest, request: Request, prefer: str | None, query: OutputQuery
) -> Response:
    """Everything the POST endpoints share: the format and options are checked first (406, 422),
    then the request is prepared once, then a job (202) or the answer in the format asked."""
    started = time.perf_counter()
    output = query.parse()
    prepared = prepare(req)
    respond.check_request(output, prepared.endpoint, prepared.normal)
    who = getattr(request.state, "api_key", None)  # the caller's API key, when keys are configured
    if wants_async(prefer):
        job_id = await pipeline.submit_job(services, prepared, who=who)
        # The Location answers in the format asked once the job is done (202 until then).
        location = f"/jobs/{job_id}" + ("" if output.format == "json" else respond.format_query(query))
        return JSONResponse(
            {"id": job_id, "status": "queued"},
            status_code=202,
            headers={"Location": location, "Preference-Applied": "respond-async"},
        )
    raw = await pipeline.stored_raw(services, prepared)
    if raw is not None:  # bounded, parsed and encoded off the loop (a large one under a slot)
        wrap = lambda body: pipeline.envelope(  # noqa: E731
            body, cached=True, elapsed=time.perf_counter() - started
        )
        gone = _disconnected(request)
        return await respond.answer_stored(
            services, raw, output, {"X-Cache": "hit"}, wrap, sync=True, who=who, disconnected=gone
        )
    body = await pipeline.result(services, prepared, started, who=who, disconnected=_disconnected(request))
    cache = {"X-Cache": "hit" if body["cached"] else "miss"}
    return await respond.answer(
        services, body, output, cache, sync=True, who=who, disconnected=_disconnected(request)
    )


@router.post(
    "/theory/curve",
    summary="Exact high-dimensional test and training error along α",
    response_model=None,
    responses=_responses(TheoryResponse),
)
async def theory_curve(
    req: Annotated[TheoryRequest, Body(openapi_examples=THEORY_EXAMPLES)],
    request: Request,
    services: ServicesDep,
    query: OutputDep,
    prefer: PreferHeader = None,
) -> Response:
    """The limit of docs/theory.md §5 after one giant step, and the baseline (same problem, no step).
    `learning_rate`, `alpha0`, `ridge`, `noise` and `width` may be lists: the response is then the
    grid of their cartesian product with `alphas`, points in C order of `width, noise, alpha0,
    learning_rate, ridge, alpha`, each with its six coordinates; `grid` lists the axes with more than
    one value. `ridge` and `learning_rate` may be "optimal": the value minimising the test error at
    each point, reported per point (both: the joint minimum)."""
    return await serve(services, req, request, prefer, query)


@router.post(
    "/theory/function",
    summary="The function the trained network expresses along the spike direction κ",
    response_model=None,
    responses=_responses(FunctionResponse),
)
async def theory_function(
    req: Annotated[FunctionRequest, Body(openapi_examples=FUNCTION_EXAMPLES)],
    request: Request,
    services: ServicesDep,
    query: OutputDep,
    prefer: PreferHeader = None,
) -> Response:
    """Per α, along κ = v·x/√d: the target E[y | κ], the trained readout's mean prediction after the
    step μ0(κ)m + μ1(κ)κt, and the same at initialisation (a straight line: what random features can
    express), with the test errors of both (docs/theory.md §4, §5)."""
    return await serve(services, req, request, prefer, query)


@router.post(
    "/simulate",
    summary="Finite-size simulation, statistics over seeds",
    response_model=None,
    responses=_responses(SimulateResponse),
)
async def simulate(
    req: Annotated[SimulateRequest, Body(openapi_examples=SIMULATE_EXAMPLES)],
    request: Request,
    services: ServicesDep,
    query: OutputDep,
    prefer: PreferHeader = None,
) -> Response:
    """Simulates `model` at dimension d for each α and seed; each point has mean, std, sem and the
    values over seeds of the test and training errors."""
    return await serve(services, req, request, prefer, query)


@router.post(
    "/compare",
    summary="Theory against simulation, with z-scores and a verdict",
    response_model=None,
    responses=_responses(CompareResponse),
)
async def compare(
    req: Annotated[CompareRequest, Body(openapi_examples=COMPARE_EXAMPLES)],
    request: Request,
    services: ServicesDep,
    query: OutputDep,
    prefer: PreferHeader = None,
) -> Response:
    """Per α: z = (simulation_mean − theory)/simulation_sem and relative_error = (simulation_mean −
    theory)/theory; `summary.agree` says whether every point is within `z_threshold` sem or within
    `relative_tolerance` of the theory (the exact rule is in `summary.criterion`). Parts already
    computed by /theory/curve or /simulate of the same problem are reused."""
    return await serve(services, req, request, prefer, query)
