"""Dependencies: the app's settings, store, runner and job manager, injected into the routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from .auth import ApiKeys
from .cache import Store
from .cluster import Cluster
from .jobs import JobManager
from .metrics import Metrics
from .runner import Runner
from .settings import Settings


@dataclass(frozen=True)
class Services:
    """Everything a route needs besides its request; one per app instance (``app.state.services``)."""

    settings: Settings
    store: Store
    runner: Runner
    jobs: JobManager
    keys: ApiKeys
    metrics: Metrics
    cluster: Cluster | None = None  # the Dask cluster of SRF_DASK_SCHEDULER, if set


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
