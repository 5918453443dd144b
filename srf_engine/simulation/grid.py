"""Simulations on grids (docs/theory.md §2, §8): every ``(ψ_w, Δ, α0, η̃)`` with all its λ's and α's.

Work that does not change between points is done once per seed, and each point's numbers are exactly
those of the same point simulated alone (same draws, same arithmetic):

- the network's first step: one gradient ``G = Σ_μ (y_μ − f0(x_μ)) σ'(W0 x_μ) x_μᵀ`` per
  ``(ψ_w, Δ, α0)`` serves every η̃, ``W1 = W0 + (η̃/n0) G``, and the α0's are nested prefixes of one
  first batch: one pass over it gives every ``G`` (partial sums snapshot at each ``n0``);
- a first layer that does not depend on ``(α0, η̃)`` (random features, or no step) is simulated once
  per ``(ψ_w, Δ)``, and the sRF model once per distinct ``(c, r, γ)``;
- every λ and α of a point share one Gram sweep (:mod:`.seed`);
- steps (docs/theory.md §11.1): one run of ``T = max(steps)`` steps per ``(ψ_w, Δ, α0, η̃)`` serves every
  step count asked, the readout fitted after each on the way; the first step's gradient is still shared
  by every η̃ (all start from ``W0``), the later ones are not (they start from different ``W_1``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from ..blas import single_threaded_blas
from ..grid import GridSpec
from ..problem import Problem
from ..protocols import DEFAULT_PROTOCOL, Protocol
from ..results import SimulationPoint, SimulationResult
from . import (
    Setup,
    first_layer_record,
    learned_of,
    mapping_of,
    overflow_warning,
    points_of,
    run_seeds,
    setup,
    with_steps,
)
from .parallel import TaskRunner, available_cores
from .seed import SeedRun
from .spec import SimulationSpec, check_int

Array = np.ndarray
Cell = tuple[int, int, int, int]  # indices of (width, noise, alpha0, learning_rate)


def _group(cell: Cell, run: Setup) -> Hashable:
    """Cells with the same key share their first layer (or, for a step, its gradient)."""
    iw, i_n, _, _ = cell
    if run.plan.first_layer == "step":
        return ("step", iw, i_n)
    if run.plan.first_layer == "spike":
        return ("spike", iw, i_n, run.srf)
    return ("plain", iw, i_n)


def _step_seconds(run: Setup) -> float:
    return run.load.counts()["step"] * run.load.step_chunk_seconds()


def _locally(
    runs: dict[Cell, Setup],
    groups: dict[Hashable, list[Cell]],
    spec: SimulationSpec,
    threads: int,
    total: float,
    progress: Callable[[float], None] | None,
    results: dict[Cell, list[tuple[Array, Array]]],
) -> None:
    """Every cell's ``(test, train)`` per seed into ``results``, one first step per step group."""
    if progress is not None:
        progress(0.0)
    with single_threaded_blas(), TaskRunner(threads, total, progress) as runner:
        for seed in spec.seeds:
            for members in groups.values():
                first = runs[members[0]]
                if first.plan.first_layer != "step":
                    seed_run = SeedRun(first.plan, seed, runner)
                    test, train = seed_run.run()
                    out = (test, train, first_layer_record(seed_run))
                    for cell in members:
                        results[cell].append(out)
                    continue
                run = SeedRun(first.plan, seed, runner)
                w0, theta = run.initial_layer()
                n0s = sorted({runs[cell].plan.load.n0 for cell in members})
                gradients = dict(zip(n0s, run.step_gradients(w0, theta, n0s), strict=True))
                for cell in members:
                    cell_run = SeedRun(runs[cell].plan, seed, runner)
                    # W_1 = W0 + (η̃/n0) G from the shared gradient (each cell's own copy of W0)
                    test, train = cell_run.after_steps(w0, theta, gradients[runs[cell].plan.load.n0])
                    results[cell].append((test, train, first_layer_record(cell_run)))
                del w0, gradients


def _on_cluster(
    runs: dict[Cell, Setup],
    groups: dict[Hashable, list[Cell]],
    spec: SimulationSpec,
    threads: int,
    progress: Callable[[float], None] | None,
    client: Any,
    results: dict[Cell, list[tuple[Array, Array]]],
) -> list[str]:
    """The same on a Dask cluster: each distinct first layer (each η̃ of a step) is one simulation."""
    jobs = [
        (members, [members[0]] if runs[members[0]].plan.first_layer != "step" else members)
        for members in groups.values()
    ]
    count = sum(len(targets) for _, targets in jobs)
    done, warnings = 0, []
    for members, targets in jobs:
        for cell in targets:
            share = None if progress is None else (lambda f, k=done: progress((k + f) / count))
            per_seed, found = run_seeds(runs[cell].plan, spec.seeds, threads, share, client)
            warnings += found
            for target in members if len(targets) == 1 else [cell]:
                results[target] = per_seed
            done += 1
    return warnings


def simulate_grid(
    problem: Problem,
    grid: GridSpec,
    spec: SimulationSpec,
    *,
    progress: Callable[[float], None] | None = None,
    n_jobs: int | None = None,
    client: Any = None,
    protocol: Protocol = DEFAULT_PROTOCOL,
) -> SimulationResult:
    """Statistics over seeds at every point of ``grid``, in C order of its axes (``steps`` of
    ``protocol``, docs/theory.md §11.1, after ``alpha0``).

    ``problem`` gives the activations (and ``srf``, if given); ``grid`` the values of ``width, noise,
    alpha0, learning_rate`` (``ridge`` and ``alpha`` must be ``spec``'s). Each point carries its six
    coordinates and, when they differ between points, its own sRF parameters. With ``client`` (a Dask
    cluster, docs/scaling.md) every distinct first layer runs there as a simulation of its own.
    """
    threads = available_cores() if n_jobs is None else check_int("n_jobs", n_jobs, 1)
    cells: list[Cell] = list(
        itertools.product(
            *(range(len(grid.values(a))) for a in ("width", "noise", "alpha0", "learning_rate"))
        )
    )
    runs: dict[Cell, Setup] = {}
    for cell in cells:
        iw, i_n, ia0, ilr = cell
        point = Problem(
            problem.student,
            problem.teacher,
            grid.learning_rate[ilr],  # type: ignore[arg-type]
            grid.alpha0[ia0],
            grid.width[iw],
            grid.noise[i_n],
            problem.srf,
        )
        runs[cell] = setup(point, spec, protocol)
    groups: dict[Hashable, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(_group(cell, runs[cell]), []).append(cell)

    total = 0.0
    for members in groups.values():
        first = runs[members[0]]
        per_cell = [runs[c].load.seconds_per_seed() - _step_seconds(runs[c]) for c in members]
        shared = first.plan.first_layer == "step"
        total += max(_step_seconds(runs[c]) for c in members) + (sum(per_cell) if shared else per_cell[0])
    total *= len(spec.seeds)

    results: dict[Cell, list[tuple[Array, Array]]] = {cell: [] for cell in cells}
    warnings: list[str] = []
    if client is not None:
        warnings += _on_cluster(runs, groups, spec, threads, progress, client, results)
    else:
        _locally(runs, groups, spec, threads, total, progress, results)
    if progress is not None:
        progress(1.0)

    points: list[SimulationPoint] = []
    # C order: width, noise, alpha0, steps, learning_rate (then ridge, alpha within points_of)
    order = [
        (cell, s)
        for outer in itertools.groupby(cells, key=lambda c: c[:3])
        for members in [list(outer[1])]
        for s in range(len(protocol.steps))
        for cell in members
    ]
    for cell, s in order:
        run = runs[cell]
        test = np.stack([r[0][s] for r in results[cell]])  # seeds × sizes × ridges
        train = np.stack([r[1][s] for r in results[cell]])
        plan = run.plan
        t = protocol.steps[s]
        coordinates: dict[str, Any] = {
            "learning_rate": grid.learning_rate[cell[3]],
            "alpha0": grid.alpha0[cell[2]],
            "noise": plan.noise,
            "width": grid.width[cell[0]],
            "srf": run.srf,
            **({} if protocol.steps == (1,) else {"steps": t}),
            "first_layer": learned_of([r[2] for r in results[cell]], t),
        }
        points += points_of(spec, run.load, test, train, **coordinates)
        warnings += [*run.warnings, *overflow_warning(spec.seeds, test, train, plan.learning_rate)]
    shared = {p.srf for p in points}
    # The measured first layer of each seed (docs/theory.md §10), for a network at one grid cell.
    layers = [r[2] if len(r) > 2 else None for r in results[cells[0]]] if len(cells) == 1 else []
    return SimulationResult(
        model=spec.model,
        dimension=spec.dimension,
        srf=shared.pop() if len(shared) == 1 else None,
        seeds=spec.seeds,
        mapping=mapping_of(problem, spec) if any(p.srf is not None for p in points) else None,
        points=points,
        warnings=list(dict.fromkeys(warnings)),
        grid=with_steps(grid.as_dict(), protocol.steps),
        first_layer=tuple(layers) if spec.model == "network" and layers and None not in layers else None,
    )
