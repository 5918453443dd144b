"""Multi-index targets after one step (docs/theory.md §12.3): k = 1 and a secretly single-index target give
today's numbers back, and the conditional law given κ is the target's."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest

from srf_engine.activations import get_activation
from srf_engine.errors import InvalidParameterError
from srf_engine.problem import Problem
from srf_engine.theory import class_curve
from srf_engine.theory.curve import theory_curve
from srf_engine.theory.multiindex import MultiIndexTarget, check_target, target_moments, target_stats

# k = 1 reductions are those of the K-atom Marchenko–Pastur bulk: multi-index targets use it whatever
# is asked, and a single-index comparison must use it too
readout_curve = partial(class_curve.readout_curve, bulk="marchenko_pastur")

ALPHAS = [0.5, 2.0]


@pytest.mark.parametrize("readout", ["uniform", "rademacher"])
@pytest.mark.parametrize("width", [0.5, 2.0])
def test_one_index_and_a_secretly_single_index_target_are_todays_theory(readout, width) -> None:
    problem = Problem("relu", "tanh", 2.0, 2.0, width, 0.1)
    single = readout_curve(problem, ALPHAS, 0.05, readout=readout)
    k1 = readout_curve(
        problem, ALPHAS, 0.05, readout=readout, target=MultiIndexTarget.single(problem.teacher)
    )
    hidden = readout_curve(problem, ALPHAS, 0.05, readout=readout, target="tanh((z1+z2)/sqrt2)")
    for other in (k1, hidden):
        np.testing.assert_allclose(other.test_errors, single.test_errors, rtol=1e-10)
        np.testing.assert_allclose(other.train_errors, single.train_errors, rtol=1e-10)
    np.testing.assert_allclose(
        hidden.classes.gamma_vec, [single.classes.gamma / math.sqrt(2)] * 2, rtol=1e-12
    )
    if readout == "uniform":  # and the uniform one is today's theory (§5 bulk, no row-norm channel)
        kw = {"mapping": "corrected", "bulk": "marchenko_pastur", "row_norm": False, "baseline": False}
        old = theory_curve(problem, ALPHAS, 0.05, **kw)
        np.testing.assert_allclose(hidden.test_errors, [p.test_error for p in old.points], rtol=1e-10)


def test_target_conditionals_against_sampling() -> None:
    target = check_target("tanh(z1)+0.5*z1*z2")
    st = target_stats(target)
    assert st.mean == pytest.approx(0.0, abs=1e-14)
    # E[z1 g] = E[z tanh z]; E[z2 g] = 0: the spike sees z1 only
    assert st.mu1_star[0] == pytest.approx(get_activation("tanh").standard_moments()[1], rel=1e-10)
    assert abs(st.mu1_star[1]) < 1e-14
    # z = γκ + L ν, L = (I − γγᵀ)^{1/2}: the conditionals at κ = 1 against draws near κ = 1
    gamma, rng, n = np.array([0.6, 0.3]), np.random.default_rng(1), 400_000
    kappa, nu = rng.standard_normal(n), rng.standard_normal((n, 2))
    vals, vecs = np.linalg.eigh(np.eye(2) - np.outer(gamma, gamma))
    z = kappa[:, None] * gamma + nu @ (vecs @ np.diag(np.sqrt(vals)) @ vecs.T).T
    joint = np.block([[np.ones((1, 1)), gamma[None, :]], [gamma[:, None], np.eye(2)]])
    assert np.allclose(np.cov(np.column_stack([kappa, z]).T), joint, atol=0.01)
    g = target.fn(z)
    near = np.abs(kappa - 1.0) < 0.02
    h, h1, hh = target_moments(target, gamma, np.array([1.0]), 0.0)
    assert h[0] == pytest.approx(g[near].mean(), abs=0.02)
    assert hh[0] == pytest.approx((g[near] ** 2).mean(), abs=0.03)
    np.testing.assert_allclose(h1[:, 0], (g[near][:, None] * nu[near]).mean(0), atol=0.03)


def test_multi_index_needs_a_step_and_a_known_target() -> None:
    with pytest.raises(InvalidParameterError, match="teacher"):
        readout_curve(Problem("relu", "tanh"), ALPHAS, 0.05, target="z1+he2(z2)")
    with pytest.raises(InvalidParameterError, match="teacher"):
        check_target("z1*z2*z3")
