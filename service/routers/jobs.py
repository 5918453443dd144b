"""``GET /jobs/{id}`` and ``DELETE /jobs/{id}``."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from ..deps import ServicesDep
from ..errors import ServiceError
from ..render import respond
from ..render.formats import OutputDep, openapi_200, openapi_406
from ..schemas import ErrorBody, JobOut

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobId = Annotated[
    str, Path(description="The id from the 202 answer's body or Location header.", max_length=64)
]


def _found(job: dict[str, Any] | None, job_id: str) -> dict[str, Any]:
    if job is None:
        raise ServiceError(404, f"no job with id {job_id!r}", field="id")
    return job


@router.get(
    "/{job_id}",
    summary="Status, progress and result of a job",
    response_model=None,
    responses={
        200: openapi_200(JobOut, "The job; asked in another format (below), its result in that format."),
        202: {
            "model": JobOut,
            "description": "Another format was asked (?format= or Accept) and the job is not done yet.",
        },
        404: {"model": ErrorBody},
        406: openapi_406(ErrorBody),
        409: {
            "model": ErrorBody,
            "description": "A format other than JSON was asked of a failed or cancelled job.",
        },
    },
)
async def get_job(job_id: JobId, request: Request, services: ServicesDep, query: OutputDep) -> Response:
    """``status`` is queued, running, done (``result`` is the 200 body), failed or cancelled (``error``
    says why); ``progress`` runs from 0 to 1. With `?format=csv|png|svg|pdf` (or Accept) a done job
    answers its result in that format (the Location of a job submitted with a format says so); an
    unfinished one answers 202 with its status (poll again), a failed or cancelled one 409. With API
    keys, a job is its submitter's: another key gets 404."""
    output = query.parse()
    who = getattr(request.state, "api_key", None)
    found = _found(await services.jobs.get(job_id, who), job_id)
    # A job's result may be megabytes: validated and encoded in a worker thread, off the event loop.
    job = await anyio.to_thread.run_sync(lambda: JobOut(**found))
    if output.format == "json":
        content = await anyio.to_thread.run_sync(lambda: respond.encode_json(job.model_dump()))
        return Response(content, media_type="application/json")
    if job.status in ("queued", "running"):
        return JSONResponse(job.model_dump(), status_code=202, headers={"Retry-After": "1"})
    if job.status != "done" or job.result is None:
        raise ServiceError(
            409, f"job {job_id} is {job.status} ({job.error}); it has no result to give as {output.format}"
        )
    respond.check_body(output, job.result)
    return await respond.answer(services, job.result, output, {"X-Cache": "hit"}, who=who)


@router.delete("/{job_id}", summary="Cancel a job", responses={404: {"model": ErrorBody}})
async def cancel_job(job_id: JobId, request: Request, services: ServicesDep) -> JobOut:
    """Cancels a queued or running job (it stops at the engine's next progress report). A finished
    job is reported unchanged. With API keys, only the key that submitted it may (others: 404)."""
    who = getattr(request.state, "api_key", None)
    return JobOut(**_found(await services.jobs.cancel(job_id, who), job_id))
