"""Benchmark of grids: a cold 100 × 100 theory grid and a simulation over 5 learning rates.

1. Theory: docs/theory.md §7's problem (tanh student, sin teacher, α0 = 20, λ = 0.1, ψ_w = 1) on
   the grid η̃ ∈ linspace(0.05, 6, 100) × α ∈ linspace(0.05, 3, 100), baseline included, cold (no
   quadrature rule cached), solved batched (srf_engine/theory/batch.py, the default) against the
   point-by-point grid path (``theory_grid(..., batch=False)``: lines warm-started along every axis)
   in the same run, and against solving the same 10⁴ points one by one without continuation
   (``theory_curve`` of one point, as a client looping over the grid would): a random subset of them
   is timed in the same run and extrapolated to 10⁴ (said in the table). Targets: batched ≥ 20× the
   point-by-point grid and < 0.3 s; a 10⁵-point grid (1000 η̃ × 100 α) < 5 s.
2. Simulation: the network at d = 1000, α0 = 20, λ = 0.1, α ∈ {0.5, 1, 2}, 1 seed, over 5 values of
   η̃ in one request (one first-step gradient G for all η̃: W1 = W0 + η̃·G) against 5 separate
   simulations in the same run; their values are checked bit-identical. Target ratio ≥ 2.5.

    python benchmarks/grid.py            # theory subset of 300 points, simulation included
    python benchmarks/grid.py --quick    # subset of 100 points
    python benchmarks/grid.py --theory   # theory only
    python benchmarks/grid.py --scaling  # theory only: time against the number of points, 10² … 10⁵
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srf_engine import activations
from srf_engine.grid import GridSpec
from srf_engine.problem import Problem
from srf_engine.theory import quadrature
from srf_engine.theory.curve import theory_curve, theory_grid

#: The §5 solver (Marchenko–Pastur bulk) is what is timed; the one-step bulk (docs/theory.md §10.3,
#: the API default) costs about 20 ms a point more.
SECTION5 = {"bulk": "marchenko_pastur"}

RATES = np.linspace(0.05, 6.0, 100)
ALPHAS = np.linspace(0.05, 3.0, 100)
ALPHA0, RIDGE = 20.0, 0.1
SIM_RATES = [1.0, 2.0, 3.0, 4.0, 5.0]
SIM_ALPHAS = [0.5, 1.0, 2.0]


def _cold() -> None:
    for cached in (activations.gauss_hermite, quadrature.kappa_rule, quadrature.marchenko_pastur_rule):
        cached.cache_clear()


#: benchmarks/theory.py's cold 50-point curve with its baseline on this machine when idle (README).
IDLE_CURVE_SECONDS = 0.040


def _curve_seconds(repeats: int = 5) -> float:
    """Median time of benchmarks/theory.py's cold 50-point α curve with baseline, in this run."""
    times = []
    for _ in range(repeats):
        _cold()
        start = time.perf_counter()
        problem = Problem("tanh", "sin", 3.0, ALPHA0, 1.0, 0.0)
        theory_curve(problem, np.linspace(0.1, 3.0, 50), RIDGE, **SECTION5)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _grid(rates: int) -> GridSpec:
    return GridSpec.build(
        width=1.0,
        noise=0.0,
        alpha0=ALPHA0,
        learning_rate=list(np.linspace(0.05, 6.0, rates)),
        ridge=RIDGE,
        alphas=list(ALPHAS),
    )


def _timed(spec: GridSpec, **kw: object) -> tuple[float, float, object]:
    """Wall and CPU seconds of a cold grid (the machine is shared: CPU time is the steadier)."""
    _cold()
    wall, cpu = time.perf_counter(), time.process_time()
    grid = theory_grid("tanh", "sin", spec, **SECTION5, **kw)
    return time.perf_counter() - wall, time.process_time() - cpu, grid


def theory_rows(subset: int) -> list[tuple[str, str]]:
    curve = _curve_seconds()
    spec = _grid(len(RATES))
    # the batched grid is short: the median of six cold runs, three just before the point-by-point path
    # and three just after (the machine is shared, and its speed drifts within a run)
    runs = [_timed(spec) for _ in range(3)]
    slow_seconds, slow_cpu, slow = _timed(spec, batch=False)
    runs += [_timed(spec) for _ in range(3)]
    walls = sorted(r[0] for r in runs)
    grid_seconds, grid_cpu, grid = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    converged = sum(p.converged for p in grid.points)
    pairs = [*zip(grid.points, slow.points, strict=True), *zip(grid.baseline, slow.baseline, strict=True)]
    same = max(abs(a.test_error - b.test_error) / abs(b.test_error) for a, b in pairs if b.converged)

    rng = np.random.default_rng(0)
    chosen = rng.choice(len(grid.points), size=subset, replace=False)
    worst = 0.0
    start = time.perf_counter()
    for i in chosen:
        point = grid.points[i]
        problem = Problem("tanh", "sin", point.learning_rate, ALPHA0, 1.0, 0.0)
        alone = theory_curve(problem, [point.alpha], RIDGE, **SECTION5).points[0]
        worst = max(worst, abs(alone.test_error - point.test_error) / abs(point.test_error))
    one_by_one = (time.perf_counter() - start) / subset * len(grid.points)
    n = len(grid.points)
    big_seconds, big_cpu, big = _timed(_grid(1000))
    return [
        (
            "theory grid 100 × 100 (η̃ × α), cold, with baseline, batched",
            f"{grid_seconds:.3f} s wall, {grid_cpu:.3f} s CPU (target < 0.3 s)",
        ),
        ("  median of 6 cold runs; their fastest and slowest", f"{walls[0]:.3f} s, {walls[-1]:.3f} s wall"),
        ("  per point", f"{1e3 * grid_seconds / n:.3f} ms; {converged}/{n} converged"),
        (
            "  point-by-point grid path, same run (batch=False)",
            f"{slow_seconds:.2f} s wall, {slow_cpu:.2f} s CPU",
        ),
        (
            "  ratio point-by-point / batched (target ≥ 20×)",
            f"{slow_seconds / grid_seconds:.1f}× wall, {slow_cpu / grid_cpu:.1f}× CPU",
        ),
        ("  largest relative difference batched vs point-by-point", f"{same:.1e}"),
        (
            f"  one by one, no continuation ({subset} random points timed, × {n / subset:g})",
            f"{one_by_one:.1f} s",
        ),
        ("  ratio one by one / batched grid", f"{one_by_one / grid_seconds:.1f}×"),
        (
            "  in units of a cold 50-α curve timed in the same run",
            f"{grid_seconds / curve:.0f} curves ({1e3 * curve:.0f} ms each); at the idle "
            f"{1e3 * IDLE_CURVE_SECONDS:.0f} ms a curve: ≈ {grid_seconds / curve * IDLE_CURVE_SECONDS:.1f} s",
        ),
        ("  largest relative difference grid vs alone", f"{worst:.1e}"),
        (
            "theory grid 1000 × 100 (10⁵ points), cold, with baseline, batched",
            f"{big_seconds:.2f} s wall, "
            f"{big_cpu:.2f} s CPU (target < 5 s); {sum(p.converged for p in big.points)}/{len(big.points)} "
            "converged",
        ),
    ]


def scaling_rows() -> list[tuple[str, str]]:
    """Batched theory time against the number of points (η̃ × 100 α, with baseline), for docs/scaling.md."""
    rows = []
    for rates in (1, 10, 100, 1000):
        wall, cpu, _ = _timed(_grid(rates))
        n = rates * len(ALPHAS)
        rows.append(
            (
                f"theory, {n} points ({rates} η̃ × {len(ALPHAS)} α)",
                f"{wall:.3f} s wall, {cpu:.3f} s CPU, {1e6 * cpu / n:.0f} µs CPU a point",
            )
        )
    return rows


def simulation_rows() -> list[tuple[str, str]]:
    from srf_engine.simulation import SimulationSpec, simulate, simulate_grid

    problem = Problem("tanh", "sin", SIM_RATES[0], ALPHA0, 1.0, 0.0)
    grid = GridSpec.build(
        width=1.0, noise=0.0, alpha0=ALPHA0, learning_rate=SIM_RATES, ridge=RIDGE, alphas=SIM_ALPHAS
    )
    spec = SimulationSpec.build(model="network", dimension=1000, alphas=SIM_ALPHAS, ridge=RIDGE, seeds=[0])
    start = time.perf_counter()
    together = simulate_grid(problem, grid, spec, n_jobs=2)
    grid_seconds = time.perf_counter() - start
    start = time.perf_counter()
    alone = [
        simulate(
            Problem("tanh", "sin", eta, ALPHA0, 1.0, 0.0),
            SIM_ALPHAS,
            RIDGE,
            model="network",
            dimension=1000,
            seeds=[0],
            n_jobs=2,
        )
        for eta in SIM_RATES
    ]
    alone_seconds = time.perf_counter() - start
    same = [p.test_error.values for a in alone for p in a.points] == [
        p.test_error.values for p in together.points
    ]
    return [
        ("simulation, 5 η̃ in one request (d = 1000, α0 = 20, 3 α, 1 seed)", f"{grid_seconds:.2f} s"),
        ("  5 separate simulations, same run", f"{alone_seconds:.2f} s"),
        ("  ratio (target ≥ 2.5)", f"{alone_seconds / grid_seconds:.2f}×"),
        ("  values bit-identical", "yes" if same else "NO"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="time 100 points one by one instead of 300")
    parser.add_argument("--theory", action="store_true", help="theory only")
    parser.add_argument("--scaling", action="store_true", help="theory time against the number of points")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load}")
    if args.scaling:
        for name, value in scaling_rows():
            print(f"{name:<40}  {value}")
        return
    rows = theory_rows(100 if args.quick else 300)
    if not args.theory:
        rows += simulation_rows()
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
