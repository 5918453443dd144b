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
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..blas import single_threaded_blas
from ..errors import InvalidParameterError
from ..grid import GridSpec
from ..problem import Problem, SRFParams
from ..protocols import DEFAULT_PROTOCOL, Protocol
from ..results import ErrorStats, SimulationPoint, SimulationResult
from ..teachers import MultiIndexTeacher
from ..theory.mapping import DEFAULT_MAPPING, map_to_srf, mapping_warnings
from .cost import Workload, estimate_cost, workload
from .parallel import TaskRunner, available_cores
from .protocols import learned_stats
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
    "simulate_grid",
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
) -> list[tuple[Array, Array]]:
    """Every seed's ``(test, train, first layer)``, one seed after the other on ``threads`` threads of
    this process (first layer: the measured sRF of a network's, docs/theory.md §10, else None)."""
    total = len(seeds) * plan.load.seconds_per_seed()
    if progress is not None:
        progress(0.0)
    out = []
    with single_threaded_blas(), TaskRunner(threads, total, progress) as runner:
        for seed in seeds:
            run = SeedRun(plan, seed, runner)
            test, train = run.run()
            out.append((test, train, first_layer_record(run)))
    return out


def first_layer_record(run: SeedRun) -> dict[str, Any] | None:
    """A seed's first layer as reported: the measured sRF and, after a step, what each step learned."""
    stats = run.first_layer_stats
    if stats is None:
        return None
    record = stats.as_dict()
    if run.learned is not None:
        record["steps"] = run.learned
    return record


def run_seeds(
    plan: Plan,
    seeds: Sequence[int],
    threads: int,
    progress: Callable[[float], None] | None,
    client: Any = None,
) -> tuple[list[tuple[Array, Array]], list[str]]:
    """Every seed's ``(test, train)`` of ``plan``: on a Dask cluster when ``client`` is given, else here."""
    if client is not None:
        return _on_cluster(client, plan, seeds, progress)
    return _locally(plan, seeds, threads, progress), []


def _on_cluster(
    client: Any, plan: Plan, seeds: Sequence[int], progress: Callable[[float], None] | None
) -> tuple[list[tuple[Array, Array]], list[str]]:
    """Every seed's ``(test, train)`` from a Dask cluster (imported here only: ``import srf_engine``
    does not import Dask), and the cluster's warnings."""
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
    mapping: str = DEFAULT_MAPPING,
    progress: Callable[[float], None] | None = None,
    n_jobs: int | None = None,
    client: Any = None,
    readout: Any = "uniform",
    steps: Any = 1,
    batches: Any = "fresh",
    learning_rate_exponent: Any = 0.0,
    precision: str = "float64",
) -> SimulationResult:
    """Test and training errors of ridge on the readout at dimension ``d``, over seeds (docs/theory.md §2–§3).

    ``model``: ``"network"`` (the protocol of §2: one step of size ``η̃`` on ``round(α0 d)`` samples, then
    ridge), ``"srf"`` (``W = √c W0 + r u vᵀ/√d`` with ``problem.srf`` or the mapped ``(c, r, γ)``), or
    ``"random_features"`` (``W = W0``). ``p = max(1, round(ψ_w d))``, ``n = round(α d)`` per α.
    ``ridge``: one λ ≥ 0 or several; λ = 0 is the minimum-norm least-squares readout.
    ``seeds``: a count ``k`` (seeds ``0…k−1``) or a list of distinct integers ≥ 0; each seed is an
    independent stream and its values do not depend on the other seeds or on ``n_jobs``.
    ``test_samples``: fresh samples for the test error, default ``max(2000, 2d)``.
    ``precision``: ``"float64"`` or ``"float32"``, the dtype of the large products (first step, features,
    Gram and test products); the ridge solve and sums of errors stay float64 (docs/scaling.md).
    ``mapping``: the network → sRF mapping (§3 ``"paper"``, §10.2 ``"corrected"``, the theory's default)
    of the ``(c, r, γ)`` that ``"srf"`` simulates and ``"network"`` reports; the result names it.
    ``progress(fraction)`` is called from the calling thread; raising (``Cancelled``) from it stops the
    simulation within about one chunk (a ridge solve in progress finishes first).
    ``n_jobs``: threads (default: the available cores; BLAS runs single-threaded meanwhile).
    ``client``: a ``distributed.Client``, or a scheduler address such as ``"tcp://host:8786"``: the
    seeds then run as tasks on that Dask cluster, with the same values bit for bit (docs/scaling.md;
    ``n_jobs`` is then ignored); an unreachable scheduler raises ``ClusterUnavailable``.

    ``readout``, ``steps``, ``batches``, ``learning_rate_exponent``: the protocol of docs/theory.md §11.1
    (:class:`~srf_engine.protocols.Protocol`; the defaults are §2's one step). ``steps`` may be a list: the
    readout is fitted after each of those step counts, on one run of ``max(steps)`` steps.

    Points are ordered by steps (as given), ridge (as given), then α (as given); the statistics are over
    seeds.
    """
    spec = SimulationSpec.build(
        model=model,
        dimension=dimension,
        alphas=alphas,
        ridge=ridge,
        seeds=seeds,
        test_samples=test_samples,
        precision=precision,
        mapping=mapping,
    )
    protocol = Protocol.build(
        readout=readout, steps=steps, batches=batches, learning_rate_exponent=learning_rate_exponent
    )
    return simulate_spec(problem, spec, progress=progress, n_jobs=n_jobs, client=client, protocol=protocol)


@dataclass(frozen=True)
class Setup:
    """One problem simulated as ``spec.model``: its sRF parameters, warnings, workload and plan."""

    srf: SRFParams | None
    warnings: tuple[str, ...]
    load: Workload
    plan: Plan


#: Why a network's result carries no sRF parameters under a protocol beyond the paper's.
NO_MAPPING_WARNING = (
    "srf is null: the network → sRF mapping covers one step with a uniform readout, β = 0 and a single-index "
    "teacher (docs/theory.md §11); see first_layer for what the simulated first layer learned"
)


def check_protocol(model: str, problem: Problem, protocol: Protocol) -> None:
    """Which protocols each model takes (docs/theory.md §11.1): ``network`` all of them; ``srf`` a
    readout law (``u`` in its spike) but one single-index teacher and no step; ``random_features`` a
    multi-index teacher, but no step, so no readout law (the ridge refits the readout it would set)."""
    multi = isinstance(problem.teacher, MultiIndexTeacher)
    if model == "network":
        return
    no_step = f"model {model} takes no gradient step; use model network"
    if protocol.steps != (1,):
        raise InvalidParameterError("steps", no_step)
    if protocol.batches != "fresh":
        raise InvalidParameterError("batches", no_step)
    if protocol.learning_rate_exponent != 0.0:
        raise InvalidParameterError("learning_rate_exponent", no_step)
    if model == "srf" and multi:
        raise InvalidParameterError(
            "teacher", "model srf has a single-index target θ = γv + ρζ; use model network or random_features"
        )
    if model == "random_features" and not protocol.readout.uniform:
        raise InvalidParameterError(
            "readout", "model random_features takes no step, so the readout at initialisation has no effect "
            "(the ridge refits it); use model network or srf"
        )


def setup(problem: Problem, spec: SimulationSpec, protocol: Protocol = DEFAULT_PROTOCOL) -> Setup:
    """The plan of ``problem`` under ``spec`` and ``protocol`` (``InvalidParameterError`` for an empty
    first batch, or a protocol the model does not take)."""
    model, d = spec.model, spec.dimension
    check_protocol(model, problem, protocol)
    warnings: list[str] = []
    step = model == "network" and problem.learning_rate > 0 and problem.alpha0 > 0
    multi = isinstance(problem.teacher, MultiIndexTeacher)
    srf: SRFParams | None
    if model == "network" and (multi or not protocol.one_step):
        # the mapping's (c, r, γ) describe one step with a uniform readout: not this first layer
        srf = None
        warnings.append(NO_MAPPING_WARNING)
        if step and round(problem.alpha0 * d) < 1:
            raise InvalidParameterError(
                "alpha0", f"α0·dimension must round to ≥ 1 sample; got α0 = {problem.alpha0}"
            )
    elif model == "network":
        srf = map_to_srf(problem, spec.mapping)  # reported only: the network takes its own step
        warnings += mapping_warnings(problem, spec.mapping)
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
        srf = map_to_srf(problem, spec.mapping)  # the same (c, r, γ) as the theory of this mapping
    else:
        srf = map_to_srf(problem.at_initialisation())
    load = workload(spec, width=problem.width, alpha0=problem.alpha0, step=step, steps=protocol.steps)
    plan = Plan.build(problem, spec, step=step, srf=srf, load=load, protocol=protocol)  # type: ignore[arg-type]
    return Setup(srf=srf, warnings=tuple(warnings), load=load, plan=plan)


def with_steps(grid: dict[str, Any], steps: Sequence[int]) -> dict[str, Any]:
    """A grid's ``{"axes", "shape"}`` with the ``steps`` axis (more than one count) after ``alpha0``."""
    if len(steps) < 2:
        return grid
    axes = list(grid["axes"])
    at = sum(1 for axis in axes if axis["name"] in ("width", "noise", "alpha0"))
    axes.insert(at, {"name": "steps", "values": list(steps)})
    shape = list(grid["shape"])
    shape.insert(at, len(steps))
    return {"axes": axes, "shape": shape}


def learned_of(records: Sequence[dict[str, Any] | None], steps: int) -> list[dict[str, Any]] | None:
    """Mean and sem over seeds of what steps ``1 … steps`` learned (None without a step)."""
    if not records or any(r is None or "steps" not in r for r in records):
        return None
    return learned_stats([r["steps"][:steps] for r in records])  # type: ignore[index]


def mapping_of(problem: Problem, spec: SimulationSpec) -> str | None:
    """The mapping that produced the reported ``(c, r, γ)``; None when none did (a given srf, or
    random features: ``c = 1, r = 0``)."""
    return None if problem.srf is not None or spec.model == "random_features" else spec.mapping


def overflow_warning(seeds: Sequence[int], test: Array, train: Array, learning_rate: float) -> list[str]:
    """A warning naming the seeds whose errors are not finite (``test``, ``train``: seeds × …)."""
    if np.isfinite(test).all() and np.isfinite(train).all():
        return []
    bad = [s for s, t, r in zip(seeds, test, train, strict=True) if not np.isfinite([t, r]).all()]
    return [
        f"non-finite errors for seeds {bad}: the features overflowed (is the first step diverging? "
        f"learning_rate = {learning_rate}); their statistics are NaN"
    ]


def points_of(
    spec: SimulationSpec, load: Workload, test: Array, train: Array, **coordinates: Any
) -> list[SimulationPoint]:
    """Points ordered by ridge (as given), then α (as given), from ``test``/``train`` arrays of
    shape seeds × sizes × ridges; ``coordinates`` (learning_rate, alpha0, steps, …) are added to each."""
    size_index = {n: i for i, n in enumerate(load.sizes)}
    points = []
    for j, lam in enumerate(spec.ridges):
        for a in spec.alphas:
            i = size_index[round(a * spec.dimension)]
            points.append(
                SimulationPoint(
                    alpha=a,
                    ridge=lam,
                    test_error=_stats(test[:, i, j]),
                    train_error=_stats(train[:, i, j]),
                    **coordinates,
                )
            )
    return points


def simulate_spec(
    problem: Problem,
    spec: SimulationSpec,
    *,
    progress: Callable[[float], None] | None = None,
    n_jobs: int | None = None,
    client: Any = None,
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> SimulationResult:
    """:func:`simulate` of an already checked :class:`SimulationSpec` (the service builds it once)."""
    if not isinstance(problem, Problem):
        raise InvalidParameterError("problem", "must be a Problem")
    threads = available_cores() if n_jobs is None else check_int("n_jobs", n_jobs, 1)
    run = setup(problem, spec, protocol)
    per_seed, cluster_warnings = run_seeds(run.plan, spec.seeds, threads, progress, client)
    if progress is not None:
        progress(1.0)

    test = np.stack([s[0] for s in per_seed])  # seeds × steps × sizes × ridges
    train = np.stack([s[1] for s in per_seed])
    warnings = [
        *run.warnings,
        *cluster_warnings,
        *overflow_warning(spec.seeds, test, train, problem.learning_rate),
    ]
    coordinates = {
        "learning_rate": problem.learning_rate,
        "alpha0": problem.alpha0,
        "noise": problem.noise,
        "width": problem.width,
    }
    grid = GridSpec.build(ridge=spec.ridges, alphas=spec.alphas, **coordinates)
    records = [s[2] for s in per_seed]
    points = []
    for s, t in enumerate(protocol.steps):
        extra = {} if protocol.steps == (1,) else {"steps": t}
        extra["first_layer"] = learned_of(records, t)
        points += points_of(spec, run.load, test[:, s], train[:, s], **coordinates, **extra)
    return SimulationResult(
        model=spec.model,
        dimension=spec.dimension,
        srf=run.srf,
        seeds=spec.seeds,
        mapping=mapping_of(problem, spec) if run.srf is not None else None,
        points=points,
        warnings=warnings,
        grid=with_steps(grid.as_dict(), protocol.steps),
        first_layer=tuple(records) if spec.model == "network" else None,
    )


from .grid import simulate_grid  # noqa: E402  (it builds on the helpers above)
