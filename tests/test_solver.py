"""theory/solver.py: the fixed point of docs/theory.md §5 at one (α, λ), checked by its full residual."""

from __future__ import annotations

import numpy as np
import pytest

from srf_engine import Problem, map_to_srf
from srf_engine.theory.bulk import MarchenkoPasturBulk
from srf_engine.theory.conditional import conditional_moments
from srf_engine.theory.solver import fit_fraction, full_residual, solve_fixed_point

TANH_SIN = Problem("tanh", "sin", 3.0, 20.0)


@pytest.fixture(scope="module")
def moments():
    srf = map_to_srf(TANH_SIN)
    return srf, conditional_moments(TANH_SIN.student, TANH_SIN.teacher, srf, TANH_SIN.noise)


@pytest.mark.parametrize(("alpha", "ridge", "width"), [(0.5, 0.1, 1.0), (2.0, 0.01, 0.5), (3.0, 1.0, 2.0)])
def test_solution_is_a_fixed_point_of_the_full_map(moments, alpha: float, ridge: float, width: float) -> None:
    srf, cm = moments
    fp = solve_fixed_point(cm, alpha=alpha, ridge=ridge, width=width, c=srf.c)
    assert fp.converged and fp.residual < 1e-8
    # the seven-variable map, evaluated independently of the reduced solve
    bulk = MarchenkoPasturBulk(width, srf.c, 400)
    assert full_residual(cm, bulk, width, alpha / width, ridge, fp.overlaps()) < 1e-7
    assert 0 <= fp.train_error <= fp.test_error


def test_warm_start_reaches_the_same_point(moments) -> None:
    srf, cm = moments
    cold = solve_fixed_point(cm, alpha=1.2, ridge=0.1, width=1.0, c=srf.c)
    warm = solve_fixed_point(
        cm, alpha=1.2, ridge=0.1, width=1.0, c=srf.c, start=(cold.V1 * 1.3, cold.V2 * 0.7)
    )
    np.testing.assert_allclose(
        [warm.test_error, warm.train_error], [cold.test_error, cold.train_error], rtol=1e-9
    )


def test_huge_ridge_without_step_predicts_the_teachers_power() -> None:
    """No step, centred σ: ŵ → 0 as λ → ∞, so ε_g → E σ*(z)² = (1 − e⁻²)/2 for σ* = sin."""
    problem = Problem("tanh", "sin")
    srf = map_to_srf(problem)
    cm = conditional_moments(problem.student, problem.teacher, srf, 0.0)
    fp = solve_fixed_point(cm, alpha=1.0, ridge=1e6, width=1.0, c=srf.c)
    assert fp.test_error == pytest.approx((1 - np.exp(-2)) / 2, rel=1e-4)


def test_more_data_helps_at_fixed_ridge(moments) -> None:
    srf, cm = moments
    errors = [
        solve_fixed_point(cm, alpha=a, ridge=0.1, width=1.0, c=srf.c).test_error for a in (0.5, 1.5, 3.0)
    ]
    assert errors[0] > errors[1] > errors[2]


def test_fit_fraction_of_the_mean_direction_collapses_at_small_ridge_below_the_width(moments) -> None:
    """docs/theory.md §10.6: below the width, the weights 1/(1+V) of the fit of m are O(λ) where the
    readout interpolates and O(1) in the saturated tail of κ, so the effective share of samples that
    carries m shrinks with λ; above the width it does not."""
    srf, cm = moments
    below = {
        lam: solve_fixed_point(cm, alpha=0.3, ridge=lam, width=1.0, c=srf.c) for lam in (0.1, 1e-3, 1e-6)
    }
    assert all(fp.converged for fp in below.values())
    assert 0.3 < below[0.1].fit_fraction < 0.4  # 0.350
    assert below[1e-3].fit_fraction == pytest.approx(0.0465, rel=0.05)
    assert below[1e-6].fit_fraction < 1e-3  # 3.7e-4
    above = solve_fixed_point(cm, alpha=2.0, ridge=1e-6, width=1.0, c=srf.c)
    assert above.fit_fraction > 0.3  # 0.40, as at λ = 0.1
    # the definition, written out: E[g]² / E[g²] with g = μ0²/(1 + μ1² V1 + μ2² V2)
    fp = below[1e-3]
    g = cm.mu0**2 / (1 + cm.mu1**2 * fp.V1 + cm.mu2**2 * fp.V2)
    assert fp.fit_fraction == pytest.approx((cm.weights @ g) ** 2 / (cm.weights @ g**2), rel=1e-12)
    assert fit_fraction(cm, fp.V) == fp.fit_fraction


def test_fit_fraction_is_one_without_a_spike() -> None:
    for student in ("tanh", "relu"):  # μ0 ≡ 0, and μ0 constant: every sample weighs the same
        problem = Problem(student, "sin")
        srf = map_to_srf(problem)
        cm = conditional_moments(problem.student, problem.teacher, srf, 0.0)
        fp = solve_fixed_point(cm, alpha=0.3, ridge=1e-6, width=1.0, c=srf.c)
        assert fp.fit_fraction == pytest.approx(1.0, rel=1e-9)


def test_the_ridgeless_interpolation_peak_is_given_up_in_hundreds_of_steps_not_thousands() -> None:
    """At λ = 0 and α = ψ_w the limit does not exist: the answer is not converged, and finding that out
    costs at most MAX_NEWTON_STEPS + RIDGELESS_MONOTONE_STEPS steps (it took 20 100, seconds a point on
    the one-step bulk law, which the time model did not price)."""
    from srf_engine.theory import theory_curve
    from srf_engine.theory.solver import MAX_NEWTON_STEPS, RIDGELESS_MONOTONE_STEPS

    curve = theory_curve(Problem("tanh", "sin", 3.0, 20.0, 1.0, 0.0), [0.99, 1.0, 1.5], 0.0, baseline=False)
    peak, above = curve.points[1], curve.points[2]
    assert not peak.converged and peak.test_error is None
    assert peak.iterations <= MAX_NEWTON_STEPS + RIDGELESS_MONOTONE_STEPS < 1000
    assert above.converged and above.iterations < 50  # above the width Newton needs no fallback
