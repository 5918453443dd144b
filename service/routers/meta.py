"""``GET /activations``, ``/healthz``, ``/version``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from srf_engine import ACTIVATIONS, ENGINE_VERSION

from ..deps import ServicesDep
from ..schemas import ActivationInfo, ActivationsResponse, ClusterHealth, HealthResponse, VersionResponse

API_VERSION = "1.2"  # docs/api.md: version 1, its 1.1 (grids, formats, …) and 1.2 (protocols) additions
SERVICE_VERSION = ENGINE_VERSION

router = APIRouter(tags=["about"])

HERMITE_HELP = (
    'Give {"hermite": [c0, c1, …]} instead of a name for σ(z) = Σ_k c_k He_k(z)/√(k!), with He_k the '
    "probabilists' Hermite polynomials (so E σ(z)² = Σ c_k²); 1 to 32 coefficients, each in [-100, 100]. "
    'Example: {"hermite": [0, 1, 0.5]} is σ(z) = z + 0.5 (z² − 1)/√2.'
)


@router.get("/activations", summary="Activation functions accepted as student and teacher")
def list_activations() -> ActivationsResponse:
    """Names, definitions and whether each is centred (E σ(z) = 0), and how to give Hermite coefficients."""
    return ActivationsResponse(
        activations=[
            ActivationInfo(name=name, description=act.description, centered=act.centered)
            for name, act in ACTIVATIONS.items()
        ],
        hermite=HERMITE_HELP,
    )


@router.get("/healthz", summary="Liveness", response_model_exclude_none=True)
async def get_health(services: ServicesDep) -> HealthResponse:
    """200 while the process can serve. Never touches the store, so a file locked by another process
    cannot make the process look dead, nor the network: with ``SRF_DASK_SCHEDULER`` it reports the
    cluster as last seen, and ``status`` is ``degraded`` while it is unreachable."""
    if services.cluster is None:
        return HealthResponse(status="ok")
    cluster = ClusterHealth(**services.cluster.health())
    return HealthResponse(status="degraded" if cluster.state == "unreachable" else "ok", cluster=cluster)


@router.head("/healthz", include_in_schema=False)
async def healthz_head() -> Response:
    """``HEAD /healthz`` for probes that send HEAD: the status of GET, without a body."""
    return Response(status_code=200, media_type="application/json")


#: The front page: where to go from here (the paths are relative to the app's root path).
FRONT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>srf: two-layer networks after one giant gradient step</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}}</style>
</head><body>
<h1>srf</h1>
<p>The test error of a two-layer network after one large gradient step, by exact high-dimensional
theory and by simulation.</p>
<ul>
<li><a href="{base}/explore">Explorer</a>: every parameter at hand, the theory redrawn as you move</li>
<li><a href="{base}/docs">Swagger UI</a>: every endpoint, with examples to try</li>
<li><a href="{base}/redoc">ReDoc</a> and <a href="{base}/openapi.json">the OpenAPI schema</a></li>
<li><a href="{base}/healthz">Health</a> and <a href="{base}/version">version</a></li>
</ul>
</body></html>
"""


@router.get("/", include_in_schema=False)
async def root(request: Request) -> HTMLResponse:
    """The front page: links to the explorer and the interactive documentation."""
    base = request.scope.get("root_path", "").rstrip("/")
    return HTMLResponse(FRONT_PAGE.format(base=base))


@router.get("/version", summary="Engine, service and API versions")
async def get_version() -> VersionResponse:
    """``engine_version`` is part of every cache key."""
    return VersionResponse(
        engine_version=ENGINE_VERSION, service_version=SERVICE_VERSION, api_version=API_VERSION
    )
