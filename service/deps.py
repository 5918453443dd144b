"""Dependencies: the app's settings, store, runner and job manager, injected into the routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from .edge.metrics import Metrics
from .settings import Settings
from .store.sqlite import Store
from .work.cluster import Cluster
from .work.jobs import JobManager
from .work.keys import ApiKeys
from .work.runner import Runner


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
