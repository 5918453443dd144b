"""Theory on grids: order and coordinates, a point equals the same point asked alone, moments shared,
the optimal learning rate against a dense scan (docs/theory.md §5)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import srf_engine.theory.curve as theory
from srf_engine import InvalidParameterError, Problem, SRFParams
from srf_engine.grid import AXES, GridSpec
from srf_engine.theory.curve import theory_curve, theory_grid
from srf_engine.theory.mapping import map_to_srf

GRID = {
    "width": [1.0, 0.5],
    "noise": 0.0,
    "alpha0": [20.0, 5.0],
    "learning_rate": [3.0, 1.0],
    "ridge": 0.1,
    "alphas": [1.0, 0.3],
}


@pytest.fixture(scope="module")
def grid() -> object:
    return theory_grid("tanh", "sin", GridSpec.build(**GRID))


def test_points_run_in_c_order_of_the_axes_with_all_six_coordinates(grid) -> None:
    body = grid.as_dict()
    assert body["grid"] == {
        "axes": [
            {"name": "width", "values": [1.0, 0.5]},
            {"name": "alpha0", "values": [20.0, 5.0]},
            {"name": "learning_rate", "values": [3.0, 1.0]},
            {"name": "alpha", "values": [1.0, 0.3]},
        ],
        "shape": [2, 2, 2, 2],
    }
    expected = list(itertools.product(GRID["width"], GRID["alpha0"], GRID["learning_rate"], GRID["alphas"]))
    assert len(body["points"]) == len(body["baseline"]) == len(expected)
    for point, base, (w, a0, eta, alpha) in zip(body["points"], body["baseline"], expected, strict=True):
        coords = {"width": w, "noise": 0.0, "alpha0": a0, "learning_rate": eta, "ridge": 0.1, "alpha": alpha}
        assert {k: point[k] for k in coords} == coords
        assert {k: base[k] for k in coords} == coords
        # the mapping varies between points: each carries its own
        assert point["srf"] == map_to_srf(Problem("tanh", "sin", eta, a0, w, 0.0)).as_dict()
    assert body["srf"] is None


def test_a_grid_point_equals_the_same_point_asked_alone(grid) -> None:
    for point, base in zip(grid.points, grid.baseline, strict=True):
        problem = Problem("tanh", "sin", point.learning_rate, point.alpha0, point.width, point.noise)
        alone = theory_curve(problem, [point.alpha], point.ridge)
        assert alone.points[0].converged and point.converged
        for name in ("test_error", "train_error"):
            assert getattr(point, name) == pytest.approx(getattr(alone.points[0], name), rel=1e-10, abs=1e-14)
            assert getattr(base, name) == pytest.approx(
                getattr(alone.baseline[0], name), rel=1e-10, abs=1e-14
            )
        for name, value in point.overlaps.items():
            assert value == pytest.approx(alone.points[0].overlaps[name], rel=1e-9, abs=1e-12), name


def test_a_scalar_request_is_a_curve_along_alpha() -> None:
    body = theory_curve(Problem("tanh", "sin", 3.0, 20.0, 1.0, 0.0), [0.5, 2.0], 0.1).as_dict()
    assert body["grid"] == {"axes": [{"name": "alpha", "values": [0.5, 2.0]}], "shape": [2]}
    single = theory_curve(Problem("tanh", "sin", 3.0, 20.0, 1.0, 0.0), [0.5], 0.1).as_dict()
    assert single["grid"] == {"axes": [], "shape": []}
    assert body["srf"] == map_to_srf(Problem("tanh", "sin", 3.0, 20.0)).as_dict()
    assert all("srf" not in p for p in body["points"])
    assert [p["alpha"] for p in body["points"]] == [0.5, 2.0]
    assert all(p["learning_rate"] == 3.0 and p["alpha0"] == 20.0 for p in body["points"])


def test_axes_given_in_any_order_answer_in_that_order() -> None:
    spec = GridSpec.build(
        width=1.0, noise=[0.2, 0.0], alpha0=20.0, learning_rate=3.0, ridge=[0.1, 0.01], alphas=[2.0, 0.5]
    )
    body = theory_grid("tanh", "sin", spec).as_dict()
    got = [(p["noise"], p["ridge"], p["alpha"]) for p in body["points"]]
    assert got == list(itertools.product([0.2, 0.0], [0.1, 0.01], [2.0, 0.5]))
    assert [a["name"] for a in body["grid"]["axes"]] == ["noise", "ridge", "alpha"]


def test_conditional_moments_are_computed_once_per_distinct_c_r_gamma_noise(monkeypatch) -> None:
    calls: list[tuple[SRFParams, float]] = []
    original = theory.conditional_moments

    def counting(student, teacher, srf, noise, **kw):
        calls.append((srf, noise))
        return original(student, teacher, srf, noise, **kw)

    monkeypatch.setattr(theory, "conditional_moments", counting)
    spec = GridSpec.build(
        width=[1.0, 2.0],
        noise=0.0,
        alpha0=20.0,
        learning_rate=[1.0, 3.0],
        ridge=[0.05, 0.1],
        alphas=[0.5, 1, 2],
    )
    theory_grid("tanh", "sin", spec)
    # two step sizes and one baseline; widths, ridges and α's reuse them
    assert len(calls) == len(set(calls)) == 3


def test_bad_axes_are_named() -> None:
    with pytest.raises(InvalidParameterError, match=r"learning_rate\[1\]"):
        GridSpec.build(width=1, noise=0, alpha0=1, learning_rate=[1, -2], ridge=0.1, alphas=[1])
    with pytest.raises(InvalidParameterError, match="width"):
        GridSpec.build(width=[], noise=0, alpha0=1, learning_rate=1, ridge=0.1, alphas=[1])
    with pytest.raises(InvalidParameterError, match="noise"):
        GridSpec.build(width=1, noise="optimal", alpha0=1, learning_rate=1, ridge=0.1, alphas=[1])
    spec = GridSpec.build(width=1, noise=0, alpha0=1, learning_rate="optimal", ridge=0.1, alphas=[1])
    with pytest.raises(InvalidParameterError, match="learning_rate"):
        theory_grid("tanh", "sin", spec, srf=SRFParams(1.0, 1.0, 0.5))
    assert AXES[-1] == "alpha" and spec.size == 1


def test_optimal_learning_rate_matches_a_dense_scan() -> None:
    """The η̃ found beats every node of a dense scan (step 0.04) and lies within one step of its best."""
    alpha0, alpha = 2.0, 1.0
    best = theory_grid(
        "tanh",
        "sin",
        GridSpec.build(width=1, noise=0, alpha0=alpha0, learning_rate="optimal", ridge=0.1, alphas=[alpha]),
    )
    point = best.points[0]
    rates = np.round(np.arange(0.0, 8.0 + 1e-9, 0.04), 10)
    scan = theory_grid(
        "tanh",
        "sin",
        GridSpec.build(width=1, noise=0, alpha0=alpha0, learning_rate=list(rates), ridge=0.1, alphas=[alpha]),
        baseline=False,
    )
    errors = np.array([p.test_error for p in scan.points])
    assert all(p.converged for p in scan.points) and point.converged
    k = int(np.argmin(errors))
    assert 0 < k < len(rates) - 1  # an interior minimum: the test is about the search, not the range
    assert point.test_error <= errors[k] + 1e-12
    assert abs(point.learning_rate - rates[k]) <= rates[1] - rates[0]
    # its srf is that of the η̃ found, and the same point asked with that η̃ gives the same error
    assert (
        best.as_dict()["points"][0].get("srf", best.as_dict()["srf"])
        == map_to_srf(Problem("tanh", "sin", point.learning_rate, alpha0)).as_dict()
    )
    alone = theory_curve(Problem("tanh", "sin", point.learning_rate, alpha0), [alpha], 0.1)
    assert alone.points[0].test_error == pytest.approx(point.test_error, rel=1e-10)
    assert math.isfinite(best.baseline[0].test_error)


def test_optimal_learning_rate_without_a_first_batch_is_zero() -> None:
    spec = GridSpec.build(width=1, noise=0, alpha0=0.0, learning_rate="optimal", ridge=0.1, alphas=[1.0])
    point = theory_grid("tanh", "sin", spec).points[0]
    assert point.learning_rate == 0.0 and point.srf == SRFParams(1.0, 0.0, 0.0)


def test_joint_optimum_matches_a_dense_scan_of_the_optimal_ridge() -> None:
    alpha0, alpha = 2.0, 1.0
    joint = theory_grid(
        "tanh",
        "sin",
        GridSpec.build(
            width=1, noise=0, alpha0=alpha0, learning_rate="optimal", ridge="optimal", alphas=[alpha]
        ),
        baseline=False,
    ).points[0]
    rates = np.round(np.arange(0.0, 6.0 + 1e-9, 0.1), 10)
    scan = theory_grid(
        "tanh",
        "sin",
        GridSpec.build(
            width=1, noise=0, alpha0=alpha0, learning_rate=list(rates), ridge="optimal", alphas=[alpha]
        ),
        baseline=False,
    )
    errors = np.array([p.test_error for p in scan.points])
    k = int(np.argmin(errors))
    assert joint.test_error <= errors[k] + 1e-12
    assert abs(joint.learning_rate - rates[k]) <= 0.1
