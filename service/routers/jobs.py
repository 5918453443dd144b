"""``GET /jobs/{id}`` and ``DELETE /jobs/{id}``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from ..deps import ServicesDep
from ..errors import ServiceError
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
    "/{job_id}", summary="Status, progress and result of a job", responses={404: {"model": ErrorBody}}
)
async def get_job(job_id: JobId, services: ServicesDep) -> JobOut:
    """``status`` is queued, running, done (``result`` is the 200 body), failed or cancelled (``error``
    says why); ``progress`` runs from 0 to 1."""
    return JobOut(**_found(await services.jobs.get(job_id), job_id))


@router.delete("/{job_id}", summary="Cancel a job", responses={404: {"model": ErrorBody}})
async def cancel_job(job_id: JobId, services: ServicesDep) -> JobOut:
    """Cancels a queued or running job (it stops at the engine's next progress report). A finished
    job is reported unchanged."""
    return JobOut(**_found(await services.jobs.cancel(job_id), job_id))
