"""The operator's limits (413) and the synchronous-time limit (a 413 pointing to Prefer: respond-async).

Simulations are priced by the engine's cost model, per grid cell (one first step per ``(ψ_w, Δ, α0)``
serves every η̃); the theory by the engine's calibrated time model (``srf_engine.theory_cost``: the κ
and spectral rule sizes each cell's parameters call for, the number of α's and the ridge mode), times
``theory_time_factor`` for a machine slower or faster than the one it was fitted on. A result has at
most ``SRF_MAX_POINTS`` points: the product of the lengths of its axes, κ included (a learned function
is ``len(kappa)`` values per grid point). Its answer is bounded too: the estimated size of its JSON
(points × the measured bytes of a point) must stay within ``SRF_MAX_RESPONSE_BYTES``, before any work.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

from srf_engine.simulation import cost
from srf_engine.theory.cost import (
    estimate_function_seconds,
    estimate_sampled_batch_seconds,
    estimate_theory_bytes,
    estimate_theory_seconds,
)

from ..errors import LimitExceeded
from ..settings import Settings
from . import readout_theory
from .prepare import Prepared

#: Share of a Dask worker's memory limit a simulation may plan to use: Dask pauses a worker at 80 %.
WORKER_MEMORY_FRACTION = 0.8
#: Grid cells whose theory is priced one by one (map_to_srf each); more are priced by a sample of this
#: many that holds every value of every axis (the rest at the sample's mean).
_PRICED_CELLS = 256
#: Measured bytes of one point of each endpoint's JSON answer, rounded up (a learned function: one
#: κ value of one grid point; a comparison carries its theory, its simulations and their statistics).
ANSWER_BYTES_PER_POINT = {"theory/curve": 700, "theory/function": 100, "simulate": 700, "compare": 3000}
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


def result_points(prepared: Prepared) -> int:
    """Values a result holds: its grid's points (times its step counts, docs/theory.md §11.1), times the
    κ values of a learned function."""
    kappa = prepared.normal.get("kappa") if prepared.endpoint == "theory/function" else None
    return prepared.grid.size * len(prepared.protocol.steps) * (len(kappa) if kappa else 1)


def answer_bytes(prepared: Prepared) -> int:
    """Estimated size of the JSON answer of ``prepared``."""
    return result_points(prepared) * ANSWER_BYTES_PER_POINT.get(prepared.endpoint, 700)


def theory_seconds(prepared: Prepared, settings: Settings) -> float:
    """Predicted seconds of the theory (and its baseline) of ``prepared``: the calibrated model of one
    curve along ``alpha`` for every cell of the other axes (at most ``_PRICED_CELLS`` priced one by one,
    chosen to hold every value of every axis; the rest at their mean)."""
    if readout_theory.applies(prepared.protocol, prepared.problem):  # §12's class-by-class theory
        return settings.theory_time_factor * readout_theory.readout_seconds(prepared)
    grid, problem = prepared.grid, prepared.problem
    bulk = prepared.normal.get("bulk", "marchenko_pastur")
    axes = (grid.width, grid.noise, grid.alpha0, grid.learning_rate)
    count = len(grid.width) * len(grid.noise) * len(grid.alpha0) * len(grid.learning_rate)
    priced = []
    sampled = bulk == "one_step_sampled"
    for width, noise, alpha0, rate in _cells_to_price(axes, count):
        rate = 0.0 if rate == "optimal" else float(rate)  # priced at the no-step end, then multiplied
        cell = dataclasses.replace(problem, width=width, noise=noise, alpha0=alpha0, learning_rate=rate)
        priced.append(
            sum(
                estimate_theory_seconds(
                    cell, len(grid.alpha), ridge, bulk=bulk, batch=not sampled, alphas=grid.alpha
                )
                for ridge in grid.ridge
            )
        )
    seconds = sum(priced) * count / len(priced)
    if sampled:  # one first batch per (ψ_w, Δ, α0), shared by its η̃'s and λ's (the engine keeps it)
        groups = (grid.width, grid.noise, grid.alpha0)
        n_groups = len(grid.width) * len(grid.noise) * len(grid.alpha0)
        batches = [
            estimate_sampled_batch_seconds(dataclasses.replace(problem, width=w, noise=n, alpha0=a))
            for w, n, a in _cells_to_price(groups, n_groups)
        ]
        seconds += sum(batches) * n_groups / len(batches)
    if prepared.endpoint == "theory/function":  # the functions along κ at every point
        seconds += estimate_function_seconds(result_points(prepared))
    if grid.optimised("learning_rate"):
        seconds *= settings.theory_optimal_learning_rate_factor
    return settings.theory_time_factor * seconds


def theory_bytes(prepared: Prepared) -> int:
    """Predicted peak memory of the theory of ``prepared``: its whole result, and the largest cell's
    sampled first batch (with bulk ``one_step_sampled``: one is drawn per cell, one after another)."""
    grid, problem = prepared.grid, prepared.problem
    bulk = prepared.normal.get("bulk", "marchenko_pastur")
    values = result_points(prepared) if prepared.endpoint == "theory/function" else 0
    cells = itertools.product(grid.width, grid.alpha0) if bulk == "one_step_sampled" else [(None, None)]
    return max(
        estimate_theory_bytes(
            problem if width is None else dataclasses.replace(problem, width=width, alpha0=alpha0),
            grid.size,
            bulk=bulk,
            function_values=values,
        )
        for width, alpha0 in cells
    )


def _cells_to_price(axes: tuple[tuple, ...], count: int) -> list[tuple]:
    """Every cell when there are at most ``_PRICED_CELLS``; else a sample of that many that holds every
    value of every axis: cell ``i`` takes value ``⌊i·n/N⌋`` of an axis of ``n`` values (a stratified
    diagonal), so no axis is priced at its first values only (once: 64 learning rates at α0 = 0 priced
    a grid whose α0 = 50 half took 30 times longer)."""
    if count <= _PRICED_CELLS:
        return list(itertools.product(*axes))
    return [tuple(axis[i * len(axis) // _PRICED_CELLS] for axis in axes) for i in range(_PRICED_CELLS)]


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
        return Estimate(theory_seconds(prepared, settings), theory_bytes(prepared))
    if prepared.endpoint == "simulate":
        return simulation_estimate(prepared, settings, cluster)
    sims = [simulation_estimate(part, settings, cluster) for part in prepared.simulation_parts.values()]
    return Estimate(
        theory_seconds(prepared, settings) + sum(s.seconds for s in sims),
        # the theory part is held (its result) while the simulations run one after another
        theory_bytes(prepared.theory_part) + max(s.memory_bytes for s in sims),
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
    points = result_points(prepared)
    if points > settings.max_points:
        steps = prepared.protocol.steps
        listed = [*prepared.grid.axes(), *([("steps", steps)] if len(steps) > 1 else [])]
        axes = [f"{name} {len(values)}" for name, values in listed]
        if prepared.endpoint == "theory/function" and normal.get("kappa"):
            axes.append(f"kappa {len(normal['kappa'])}")
        raise LimitExceeded(
            f"the result has {points} points ({' × '.join(axes)}), beyond the server's limit of "
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
    size = answer_bytes(prepared)
    if size > settings.max_response_bytes:
        raise LimitExceeded(
            f"the answer would be about {size / 2**20:.1f} MiB of JSON ({points} points), beyond the "
            f"server's limit of {settings.max_response_bytes / 2**20:.1f} MiB "
            f"({_env('max_response_bytes')}); ask fewer values, or split the grid",
            limit=_env("max_response_bytes"),
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
        advice = (
            "reduce the width or alpha0 (bulk 'one_step_sampled' draws a width·1000 × 1000 first layer), "
            "or ask fewer points"
            if prepared.spec is None
            else "reduce dimension, width, the largest alpha or test_samples"
        )
        raise LimitExceeded(
            f"estimated peak memory{where} {cost_estimate.memory_bytes / 2**20:.1f} MiB exceeds the server's "
            f"limit of {settings.max_memory_bytes / 2**20:.1f} MiB ({_env('max_memory_bytes')}); {advice}",
            limit=_env("max_memory_bytes"),
        )
    if cost_estimate.seconds > settings.max_job_seconds:
        raise LimitExceeded(
            f"estimated {cost_estimate.seconds:.3g} s exceeds the {settings.max_job_seconds:g} s the server "
            f"allows any computation, even as a job ({_env('max_job_seconds')}); ask fewer points, "
            "seeds or a smaller dimension, or split the grid",
            limit=_env("max_job_seconds"),
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


#: A stored answer's CSV against its JSON (measured: a learned function's CSV repeats the coordinates on
#: every κ row, 2.4–2.6×; other tables are smaller than their JSON, 0.3×).
CSV_PER_JSON = {"function": 3.0}


def check_answer_size(json_bytes: int, output_format: str, kind: str, settings: Settings) -> None:
    """413 before a stored answer of ``json_bytes`` is parsed when its JSON, or its CSV (estimated from
    the JSON), would exceed ``SRF_MAX_RESPONSE_BYTES``; figures are small whatever the result."""
    if output_format not in ("json", "csv"):
        return
    size = json_bytes * (CSV_PER_JSON.get(kind, 1.0) if output_format == "csv" else 1.0)
    if size > settings.max_response_bytes:
        raise LimitExceeded(
            f"the stored result's {output_format.upper()} answer is about {size / 2**20:.1f} MiB, beyond "
            f"the server's limit of {settings.max_response_bytes / 2**20:.1f} MiB "
            f"({_env('max_response_bytes')}); ask a figure of it, or compute a smaller grid",
            limit=_env("max_response_bytes"),
        )
