"""Simulation grids (docs/theory.md §2, §8): every point equals the same point simulated alone, bit for
bit, while the first step is shared (one gradient for every η̃, nested prefixes for the α0's)."""

from __future__ import annotations

import numpy as np
import pytest

import srf_engine.simulation.seed as seed_module
from srf_engine import Problem
from srf_engine.grid import GridSpec
from srf_engine.simulation import SimulationSpec, simulate, simulate_grid

ALPHAS, RIDGES = [0.5, 1.0], [0.1, 0.01]


def _check_against_alone(model: str, d: int, grid: GridSpec, seeds: list[int], n_jobs: int = 2) -> None:
    spec = SimulationSpec.build(model=model, dimension=d, alphas=ALPHAS, ridge=RIDGES, seeds=seeds)
    result = simulate_grid(Problem("tanh", "sin", 1.0, 1.0), grid, spec, n_jobs=n_jobs)
    per_cell = len(ALPHAS) * len(RIDGES)
    assert len(result.points) == grid.size
    for start in range(0, len(result.points), per_cell):
        point = result.points[start]
        problem = Problem("tanh", "sin", point.learning_rate, point.alpha0, point.width, point.noise)
        alone = simulate(problem, ALPHAS, RIDGES, model=model, dimension=d, seeds=seeds, n_jobs=1)
        for a, g in zip(alone.points, result.points[start : start + per_cell], strict=True):
            assert (a.alpha, a.ridge) == (g.alpha, g.ridge)
            assert a.test_error.values == g.test_error.values  # bit for bit
            assert a.train_error.values == g.train_error.values


def test_network_grid_over_learning_rates_and_nested_first_batches(monkeypatch) -> None:
    # d = 300, chunks of 512 rows: n0 = 300 (inside chunk 0), 512 (exactly chunk 0), 750 and 900
    # (inside chunk 1), and 0 (no step)
    calls: list[tuple[int, ...]] = []
    original = seed_module.SeedRun.step_partials

    def counting(self, w0, theta, k, n0s):
        calls.append(tuple(n0s))
        return original(self, w0, theta, k, n0s)

    monkeypatch.setattr(seed_module.SeedRun, "step_partials", counting)
    grid = GridSpec.build(
        width=1.0,
        noise=0.0,
        alpha0=[3.0, 1.0, 512 / 300, 2.5, 0.0],
        learning_rate=[3.0, 0.5],
        ridge=RIDGES,
        alphas=ALPHAS,
    )
    spec = SimulationSpec.build(model="network", dimension=300, alphas=ALPHAS, ridge=RIDGES, seeds=[3])
    simulate_grid(Problem("tanh", "sin", 1.0, 1.0), grid, spec, n_jobs=2)
    # one pass over the first batch per seed and partial sum, for every α0 and η̃ at once
    assert calls == [(300, 512, 750, 900)] * 2
    monkeypatch.undo()
    _check_against_alone("network", 300, grid, [3])


@pytest.mark.parametrize("model", ["srf", "random_features"])
def test_srf_and_random_features_grids(model: str) -> None:
    grid = GridSpec.build(
        width=[1.0, 0.5],
        noise=[0.0, 0.1],
        alpha0=[2.0, 0.0],
        learning_rate=[1.0, 3.0],
        ridge=RIDGES,
        alphas=ALPHAS,
    )
    _check_against_alone(model, 100, grid, [3, 8])


def test_grid_result_shape_and_coordinates() -> None:
    grid = GridSpec.build(
        width=1.0, noise=0.0, alpha0=2.0, learning_rate=[2.0, 1.0], ridge=0.1, alphas=[1.0, 0.5]
    )
    spec = SimulationSpec.build(model="network", dimension=100, alphas=[1.0, 0.5], ridge=0.1, seeds=1)
    body = simulate_grid(Problem("tanh", "sin", 1.0, 1.0), grid, spec, n_jobs=1).as_dict()
    assert body["grid"] == {
        "axes": [{"name": "learning_rate", "values": [2.0, 1.0]}, {"name": "alpha", "values": [1.0, 0.5]}],
        "shape": [2, 2],
    }
    assert [(p["learning_rate"], p["alpha"]) for p in body["points"]] == [
        (2.0, 1.0),
        (2.0, 0.5),
        (1.0, 1.0),
        (1.0, 0.5),
    ]
    assert body["srf"] is None and all(p["srf"]["r"] > 0 for p in body["points"])


@pytest.mark.parametrize("model", ["network", "srf"])
@pytest.mark.parametrize(
    ("ridge", "grid_ridges"),
    [
        (0.1, [1.0, 0.1, 0.01]),  # Cholesky per λ
        (0.0, [0.0, 0.5, 2.0]),  # λ = 0 by the eigendecomposition
        (0.1, [0.0, 0.1, 2.0]),  # a λ > 0 beside λ = 0 still has its own Cholesky
        (0.1, [0.1, *np.geomspace(2e-3, 20, 17).tolist()]),  # a long ridge list changes no solver
    ],
    ids=["cholesky", "eigh", "beside-zero", "many"],
)
def test_a_point_does_not_depend_on_the_other_alphas_and_ridges(
    model: str, ridge: float, grid_ridges: list[float]
) -> None:
    # BLAS rounds a product differently with its number of columns: each (α, λ) has its own products
    alphas = [0.5, 1.0, 2.5]
    problem = Problem("tanh", "sin", 2.0, 2.0, 1.0, 0.1)
    alone = simulate(problem, [1.0], [ridge], model=model, dimension=120, seeds=[5], n_jobs=1).points[0]
    grid = GridSpec.build(
        width=1.0, noise=0.1, alpha0=2.0, learning_rate=[0.5, 2.0], ridge=grid_ridges, alphas=alphas
    )
    spec = SimulationSpec.build(model=model, dimension=120, alphas=alphas, ridge=grid_ridges, seeds=[5])
    result = simulate_grid(Problem("tanh", "sin", 1.0, 1.0), grid, spec, n_jobs=2)
    (same,) = [p for p in result.points if (p.learning_rate, p.alpha, p.ridge) == (2.0, 1.0, ridge)]
    assert np.array_equal(same.test_error.values, alone.test_error.values)
    assert np.array_equal(same.train_error.values, alone.train_error.values)
