"""Finite-size simulations of the one-step network, the sRF model and random features.

docs/theory.md §2 (the protocol), §3 (the sRF matrix), §8 (how it is made fast).

:func:`simulate` checks its arguments once (:class:`.spec.SimulationSpec`), prices and sizes the work
(:mod:`.cost`), then runs the seeds one after the other (:mod:`.seed`), each on the threads of
:mod:`.parallel` with BLAS held at one thread (:mod:`.blas`); all draws come from :mod:`.sampling`.

Reproducibility: a seed's values depend on the seed alone — not on the other seeds, on ``n_jobs``, on
thread scheduling, nor on which other α are requested (for the Gram-based training error; the test error
is equal up to rounding of one matrix product). Parallelism: our threads run the partial sums, the
features of the next chunks, the test chunks and the ridge solves; BLAS is held at one thread while any
simulation runs (multi-threaded BLAS rounds differently). The products go through numpy, which releases
the GIL; scipy's LAPACK wrappers (the ridge solves) hold it, so solves do not overlap other work — at
``p ≤ 2000`` they are a small share. Seeds run one after the other, so memory is that of one seed.
Given a Dask client, the seeds run as tasks on that cluster instead (:mod:`.cluster`, docs/scaling.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from ..mapping import map_to_srf, mapping_warnings
from ..problem import Problem
from ..results import ErrorStats, SimulationPoint, SimulationResult
from .blas import single_threaded_blas
from .cost import estimate_cost, workload
from .parallel import TaskRunner, available_cores
from .ridge import gram_update, ridge_from_gram
from .seed import Plan, SeedRun
from .spec import MODELS, Model, SimulationSpec, check_int

__all__ = [
    "MODELS",
    "SimulationSpec",
    "estimate_cost",
    "gram_update",
    "ridge_from_gram",
    "simulate",
    "simulate_spec",
]

Array = np.ndarray


def _stats(values: Sequence[float]) -> ErrorStats:
    arr = np.asarray(values, dtype=float)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return ErrorStats(
        mean=float(arr.mean()), std=std, sem=std / math.sqrt(arr.size), values=tuple(map(float, arr))
    )


def _locally(
    plan: Plan, seeds: Sequence[int], threads: int, progress: Callable[[float], None] | None
) -> tuple[list[tuple[Array, Array]], list[dict[str, Any]]]:
    """Every seed's ``(test, train)``, one seed after the other on ``threads`` threads of this process,
    and (model ``network``) every seed's measured first layer (docs/theory.md §10)."""
    total = len(seeds) * plan.load.seconds_per_seed()
    if progress is not None:
        progress(0.0)
    per_seed, first_layers = [], []
    with single_threaded_blas(), TaskRunner(threads, total, progress) as runner:
        for seed in seeds:
            run = SeedRun(plan, seed, runner)
            per_seed.append(run.run())
            if run.first_layer_stats is not None:
                first_layers.append(run.first_layer_stats.as_dict())
    return per_seed, first_layers


def _on_cluster(
    client: Any, plan: Plan, seeds: Sequence[int], progress: Callable[[float], None] | None
) -> tuple[list[tuple[Array, Array]], list[str], list[dict[str, Any]]]:
    """Every seed's ``(test, train)`` from a Dask cluster (imported here only: ``import srf_engine``
    does not import Dask), the cluster's warnings and the measured first layers."""
    from . import cluster

    if isinstance(client, str):
        with cluster.connect(client) as connected:
            return cluster.run_seeds(connected, plan, seeds, progress=progress)
    return cluster.run_seeds(client, plan, seeds, progress=progress)


def simulate(
    problem: Problem,
    alphas: Sequence[float],
    ridge: float | Sequence[float],
    *,
    model: Model = "network",
    dimension: int = 1000,
    seeds: int | Sequence[int] = 3,
    test_samples: int | None = None,
    progress: Callable[[float], None] | None = None,
    n_jobs: int | None = None,
    client: Any = None,
) -> SimulationResult:
    """Test and training errors of ridge on the readout at dimension ``d``, over seeds (docs/theory.md §2–§3).

    ``model``: ``"network"`` (the protocol of §2: one step of size ``η̃`` on ``round(α0 d)`` samples, then
    ridge), ``"srf"`` (``W = √c W0 + r u vᵀ/√d`` with ``problem.srf`` or the mapped ``(c, r, γ)``), or
    ``"random_features"`` (``W = W0``). ``p = max(1, round(ψ_w d))``, ``n = round(α d)`` per α.
    ``ridge``: one λ ≥ 0 or several; λ = 0 is the minimum-norm least-squares readout.
    ``seeds``: a count ``k`` (seeds ``0…k−1``) or a list of distinct integers ≥ 0; each seed is an
    independent stream and its values do not depend on the other seeds or on ``n_jobs``.
    ``test_samples``: fresh samples for the test error, default ``max(2000, 2d)``.
    ``progress(fraction)`` is called from the calling thread; raising (``Cancelled``) from it stops the
    simulation within about one chunk (a ridge solve in progress finishes first).
    ``n_jobs``: threads (default: the available cores; BLAS runs single-threaded meanwhile).
    ``client``: a ``distributed.Client``, or a scheduler address such as ``"tcp://host:8786"``: the
    seeds then run as tasks on that Dask cluster, with the same values bit for bit (docs/scaling.md;
    ``n_jobs`` is then ignored); an unreachable scheduler raises ``ClusterUnavailable``.

    Points are ordered by ridge (as given), then α (as given); the statistics are over seeds.
    """
    spec = SimulationSpec.build(
        model=model, dimension=dimension, alphas=alphas, ridge=ridge, seeds=seeds, test_samples=test_samples
    )
    return simulate_spec(problem, spec, progress=progress, n_jobs=n_jobs, client=client)


def simulate_spec(
    problem: Problem,
    spec: SimulationSpec,
    *,
    progress: Callable[[float], None] | None = None,
    n_jobs: int | None = None,
    client: Any = None,
) -> SimulationResult:
    """:func:`simulate` of an already checked :class:`SimulationSpec` (the service builds it once)."""
    if not isinstance(problem, Problem):
        raise InvalidParameterError("problem", "must be a Problem")
    model, d, alpha_values, ridges, seed_values = (
        spec.model,
        spec.dimension,
        spec.alphas,
        spec.ridges,
        spec.seeds,
    )
    threads = available_cores() if n_jobs is None else check_int("n_jobs", n_jobs, 1)

    warnings: list[str] = []
    step = model == "network" and problem.learning_rate > 0 and problem.alpha0 > 0
    if model == "network":
        srf = map_to_srf(problem)
        warnings += mapping_warnings(problem)
        if problem.srf is not None:
            warnings.append(
                "srf is given but model 'network' simulates the first step itself: the reported (c, r, γ) "
                "are the given ones, not those of the simulated network"
            )
        if step and round(problem.alpha0 * d) < 1:
            raise InvalidParameterError(
                "alpha0", f"α0·dimension must round to ≥ 1 sample; got α0 = {problem.alpha0}"
            )
    elif model == "srf":
        srf = map_to_srf(problem)
    else:
        srf = map_to_srf(problem.at_initialisation())

    load = workload(spec, width=problem.width, alpha0=problem.alpha0, step=step)
    plan = Plan.build(problem, spec, step=step, srf=srf, load=load)
    if client is not None:
        per_seed, cluster_warnings, first_layers = _on_cluster(client, plan, seed_values, progress)
        warnings += cluster_warnings
    else:
        per_seed, first_layers = _locally(plan, seed_values, threads, progress)
    if progress is not None:
        progress(1.0)

    test = np.stack([s[0] for s in per_seed])  # seeds × sizes × ridges
    train = np.stack([s[1] for s in per_seed])
    if not (np.isfinite(test).all() and np.isfinite(train).all()):
        bad = [s for s, t, r in zip(seed_values, test, train, strict=True) if not np.isfinite([t, r]).all()]
        warnings.append(
            f"non-finite errors for seeds {bad}: the features overflowed (is the first step diverging? "
            f"learning_rate = {problem.learning_rate}); their statistics are NaN"
        )
    size_index = {n: i for i, n in enumerate(load.sizes)}
    points = []
    for j, lam in enumerate(ridges):
        for a in alpha_values:
            i = size_index[round(a * d)]
            points.append(
                SimulationPoint(
                    alpha=a, ridge=lam, test_error=_stats(test[:, i, j]), train_error=_stats(train[:, i, j])
                )
            )
    return SimulationResult(
        model=model,
        dimension=d,
        srf=srf,
        seeds=seed_values,
        points=points,
        warnings=warnings,
        first_layer=tuple(first_layers) if model == "network" else None,
    )
