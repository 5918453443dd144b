"""The operator's limits (413) and the synchronous-time limit (a 413 pointing to Prefer: respond-async).

Simulations are priced by the engine's cost model, per grid cell (one first step per ``(ψ_w, Δ, α0)``
serves every η̃); the theory by the engine's calibrated time model (``srf_engine.theory_cost``: the κ
and spectral rule sizes each cell's parameters call for, the number of α's and the ridge mode), times
``theory_time_factor`` for a machine slower or faster than the one it was fitted on. A grid has at
most ``SRF_MAX_POINTS`` points (the product of the lengths of its axes).
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

from srf_engine.simulation import cost
from srf_engine.theory.cost import estimate_theory_seconds

from ..errors import LimitExceeded
from ..settings import Settings
from . import readout_theory
from .prepare import Prepared

#: Share of a Dask worker's memory limit a simulation may plan to use: Dask pauses a worker at 80 %.
WORKER_MEMORY_FRACTION = 0.8
#: Grid cells whose theory is priced one by one (map_to_srf each); more are priced at their mean.
_PRICED_CELLS = 64
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


def theory_seconds(prepared: Prepared, settings: Settings) -> float:
    """Predicted seconds of the theory (and its baseline) of ``prepared``: the calibrated model of one
    curve along ``alpha`` for every cell of the other axes (at most ``_PRICED_CELLS`` priced one by one,
    the rest at their mean)."""
    if readout_theory.applies(prepared.protocol, prepared.problem):  # §12's class-by-class theory
        return settings.theory_time_factor * readout_theory.readout_seconds(prepared)
    grid, problem = prepared.grid, prepared.problem
    bulk = prepared.normal.get("bulk", "marchenko_pastur")
    cells = list(itertools.product(grid.width, grid.noise, grid.alpha0, grid.learning_rate))
    priced = []
    for width, noise, alpha0, rate in cells[:_PRICED_CELLS]:
        rate = 0.0 if rate == "optimal" else float(rate)  # priced at the no-step end, then multiplied
        cell = dataclasses.replace(problem, width=width, noise=noise, alpha0=alpha0, learning_rate=rate)
        priced.append(
            sum(estimate_theory_seconds(cell, len(grid.alpha), ridge, bulk=bulk) for ridge in grid.ridge)
        )
    seconds = sum(priced) * len(cells) / len(priced)
    if grid.optimised("learning_rate"):
        seconds *= settings.theory_optimal_learning_rate_factor
    return settings.theory_time_factor * seconds


def simulation_estimate(
    prepared: Prepared, settings: Settings, cluster: cost.ClusterShape | None = None
) -> Estimate:
    """The engine's cost model of a prepared /simulate request on the service's threads, or on the Dask
    cluster of shape ``cluster`` (memory per worker then)."""
    n_jobs = settings.simulation_jobs
    threads = cost.available_cores() if n_jobs is None else max(1, int(n_jobs))
    return grid_estimate(prepared, threads, cluster)


def grid_estimate(prepared: Prepared, threads: int, cluster: cost.ClusterShape | None = None) -> Estimate:
    """Every ``(ψ_w, Δ, α0, η̃)`` cell of a simulation grid priced by the engine's cost model; locally a
    first step is counted once per ``(ψ_w, Δ, α0)`` (one gradient serves every η̃)."""
    spec, grid = prepared.spec, prepared.grid
    assert spec is not None  # prepare() builds it for every simulation request
    seconds, memory = 0.0, 0
    for width, _, alpha0 in itertools.product(grid.width, grid.noise, grid.alpha0):
        # A network with alpha0 > 0 is priced with its step (an upper bound when η̃ = 0).
        step = spec.model == "network" and alpha0 > 0
        steps = prepared.protocol.steps
        load = cost.workload(spec, width=width, alpha0=alpha0, step=step, steps=steps)
        first = cost.estimate(load, len(spec.seeds), threads, cluster)
        rest = first
        if step and cluster is None:
            # later η̃ share the first step's gradient, not the steps after it (docs/theory.md §11.1)
            shared = dataclasses.replace(load, first_step_shared=True)
            rest = cost.estimate(shared, len(spec.seeds), threads, cluster)
        seconds += first.seconds + (len(grid.learning_rate) - 1) * rest.seconds
        memory = max(memory, int(first.memory_bytes))
    return Estimate(seconds=float(seconds), memory_bytes=memory)


def estimate(prepared: Prepared, settings: Settings, cluster: cost.ClusterShape | None = None) -> Estimate:
    """Predicted wall time and peak memory of computing ``prepared`` from scratch (on ``cluster``)."""
    if prepared.endpoint in ("theory/curve", "theory/function"):
        return Estimate(theory_seconds(prepared, settings), 0)
    if prepared.endpoint == "simulate":
        return simulation_estimate(prepared, settings, cluster)
    sims = [simulation_estimate(part, settings, cluster) for part in prepared.simulation_parts.values()]
    return Estimate(
        theory_seconds(prepared, settings) + sum(s.seconds for s in sims), max(s.memory_bytes for s in sims)
    )


def check_limits(
    prepared: Prepared, settings: Settings, cluster: cost.ClusterShape | None = None
) -> Estimate:
    """Raise 413 for work beyond a configured limit; return the estimate for the sync check.

    With a Dask ``cluster`` the memory estimate is per worker, and must also stay below
    ``WORKER_MEMORY_FRACTION`` of the smallest worker memory limit."""
    normal = prepared.normal
    if len(normal["alphas"]) > settings.max_alphas:
        raise _over("alphas", len(normal["alphas"]), "max_alphas", settings.max_alphas, "number of values")
    steps = len(prepared.protocol.steps)  # the steps axis (docs/theory.md §11.1) multiplies the points
    size = prepared.grid.size * steps
    if size > settings.max_points:
        listed = [*prepared.grid.axes(), *([("steps", prepared.protocol.steps)] if steps > 1 else [])]
        axes = " × ".join(f"{name} {len(values)}" for name, values in listed)
        raise LimitExceeded(
            f"the grid has {size} points ({axes}), beyond the server's limit of "
            f"{settings.max_points} ({_env('max_points')}); ask fewer values, or split the grid",
            limit=_env("max_points"),
        )
    if prepared.spec is not None and prepared.grid.size > settings.max_simulation_points:
        raise LimitExceeded(
            f"the grid has {prepared.grid.size} points, beyond the server's limit of "
            f"{settings.max_simulation_points} ({_env('max_simulation_points')}) for a simulation; "
            "ask fewer values, or split the grid",
            limit=_env("max_simulation_points"),
        )
    if prepared.spec is not None:
        if normal["dimension"] > settings.max_dimension:
            raise _over(
                "dimension", normal["dimension"], "max_dimension", settings.max_dimension, "dimension"
            )
        for d in normal.get("extrapolate_dimensions", ()):
            if d > settings.max_dimension:
                raise _over("extrapolate_dimensions", d, "max_dimension", settings.max_dimension, "dimension")
        seeds = len(normal["seeds"])
        if seeds > settings.max_seeds:
            raise _over("seeds", seeds, "max_seeds", settings.max_seeds, "number of seeds")
        test_samples = normal["test_samples"]
        if test_samples > settings.max_test_samples:
            raise _over("test_samples", test_samples, "max_test_samples", settings.max_test_samples, "value")
    cost_estimate = estimate(prepared, settings, cluster)
    worker_limit = cluster.memory_limit if cluster is not None else None
    if worker_limit is not None and cost_estimate.memory_bytes > WORKER_MEMORY_FRACTION * worker_limit:
        raise LimitExceeded(
            f"estimated peak memory per Dask worker {cost_estimate.memory_bytes / 2**20:.1f} MiB exceeds "
            f"{WORKER_MEMORY_FRACTION:.0%} of the smallest worker memory limit ({worker_limit / 2**20:.1f} "
            "MiB; Dask pauses a worker there); start the workers with a larger --memory-limit or fewer "
            "--nthreads, or reduce dimension, width, the largest alpha, test_samples or seeds",
            limit="dask worker --memory-limit",
        )
    if cost_estimate.memory_bytes > settings.max_memory_bytes:
        where = " per Dask worker" if cluster is not None else ""
        raise LimitExceeded(
            f"estimated peak memory{where} {cost_estimate.memory_bytes / 2**20:.1f} MiB exceeds the server's "
            f"limit of {settings.max_memory_bytes / 2**20:.1f} MiB ({_env('max_memory_bytes')}); reduce "
            "dimension, width, the largest alpha or test_samples",
            limit=_env("max_memory_bytes"),
        )
    return cost_estimate


def check_sync(cost: Estimate, settings: Settings) -> None:
    """A synchronous request estimated above ``max_sync_seconds`` must become a job."""
    if cost.seconds > settings.max_sync_seconds:
        raise LimitExceeded(
            f"estimated {cost.seconds:.3g} s exceeds the {settings.max_sync_seconds:g} s allowed for a "
            f"synchronous request ({_env('max_sync_seconds')}); {ASYNC_HINT}",
            limit=_env("max_sync_seconds"),
        )
