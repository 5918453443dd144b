"""The operator's limits (413) and the synchronous-time limit (a 413 pointing to Prefer: respond-async).

Simulations are priced by the engine's ``estimate_cost``; the theory by a simple model (seconds per
α, times a factor for ``ridge = "optimal"``), since its cost is tiny and nearly linear in the α's.
"""

from __future__ import annotations

from dataclasses import dataclass

from .canonical import Request, test_samples_of
from .errors import LimitExceeded
from .schemas import CompareRequest, SimulateRequest, TheoryRequest
from .settings import Settings

ASYNC_HINT = "resend it with the header 'Prefer: respond-async' to run it as a job (GET /jobs/{id} polls it)"


@dataclass(frozen=True)
class Estimate:
    seconds: float
    memory_bytes: int


def _env(name: str) -> str:
    return f"SRF_{name.upper()}"


def _over(field: str, value: int, setting: str, maximum: int, what: str) -> LimitExceeded:
    return LimitExceeded(
        f"{field}: {what} {value} exceeds the server's limit of {maximum} ({_env(setting)})",
        limit=_env(setting),
        field=field,
    )


def theory_seconds(req: TheoryRequest | SimulateRequest, settings: Settings) -> float:
    factor = settings.theory_optimal_factor if req.ridge == "optimal" else 1.0
    # Baseline curve doubles the work.
    return 2 * len(req.alphas) * settings.theory_seconds_per_alpha * factor


def simulation_estimate(req: SimulateRequest, settings: Settings) -> Estimate:
    try:
        from srf_engine.simulation import estimate_cost
    except ImportError as exc:  # an engine without simulations: 501, not 500
        raise NotImplementedError("srf_engine.simulation") from exc

    cost = estimate_cost(
        model=req.model,
        dimension=req.dimension,
        width=req.width,
        alphas=list(req.alphas),
        alpha0=req.alpha0,
        seeds=len(req.seed_list()),
        test_samples=test_samples_of(req),
        n_ridges=1,
        zero_ridge=req.ridge == 0,
        n_jobs=settings.simulation_jobs,
    )
    return Estimate(seconds=float(cost.seconds), memory_bytes=int(cost.memory_bytes))


def estimate(req: Request, settings: Settings) -> Estimate:
    """Predicted wall time and peak memory of computing ``req`` from scratch."""
    seconds = theory_seconds(req, settings) if isinstance(req, TheoryRequest | CompareRequest) else 0.0
    if isinstance(req, SimulateRequest):
        runs = req.simulation_requests().values() if isinstance(req, CompareRequest) else [req]
        sims = [simulation_estimate(sim, settings) for sim in runs]
        return Estimate(seconds + sum(s.seconds for s in sims), max(s.memory_bytes for s in sims))
    return Estimate(seconds, 0)


def check_limits(req: Request, settings: Settings) -> Estimate:
    """Raise 413 for work beyond a configured limit; return the estimate for the sync check."""
    if len(req.alphas) > settings.max_alphas:
        raise _over("alphas", len(req.alphas), "max_alphas", settings.max_alphas, "number of values")
    if isinstance(req, SimulateRequest):
        if req.dimension > settings.max_dimension:
            raise _over("dimension", req.dimension, "max_dimension", settings.max_dimension, "dimension")
        for d in (req.extrapolate_dimensions or ()) if isinstance(req, CompareRequest) else ():
            if d > settings.max_dimension:
                raise _over("extrapolate_dimensions", d, "max_dimension", settings.max_dimension, "dimension")
        seeds = len(req.seed_list())
        if seeds > settings.max_seeds:
            raise _over("seeds", seeds, "max_seeds", settings.max_seeds, "number of seeds")
        test_samples = test_samples_of(req)
        if test_samples > settings.max_test_samples:
            raise _over("test_samples", test_samples, "max_test_samples", settings.max_test_samples, "value")
    cost = estimate(req, settings)
    if cost.memory_bytes > settings.max_memory_bytes:
        raise LimitExceeded(
            f"estimated peak memory {cost.memory_bytes / 2**20:.1f} MiB exceeds the server's limit of "
            f"{settings.max_memory_bytes / 2**20:.1f} MiB ({_env('max_memory_bytes')}); reduce dimension, "
            "width, the largest alpha or test_samples",
            limit=_env("max_memory_bytes"),
        )
    return cost


def check_sync(cost: Estimate, settings: Settings) -> None:
    """A synchronous request estimated above ``max_sync_seconds`` must become a job."""
    if cost.seconds > settings.max_sync_seconds:
        raise LimitExceeded(
            f"estimated {cost.seconds:.3g} s exceeds the {settings.max_sync_seconds:g} s allowed for a "
            f"synchronous request ({_env('max_sync_seconds')}); {ASYNC_HINT}",
            limit=_env("max_sync_seconds"),
        )
