"""The learned function along the spike (docs/theory.md §4, §5): its shape, and an independent
simulation of the sRF model at d = 1000 binned by κ = v·x/√d."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srf_engine import InvalidParameterError, Problem
from srf_engine.theory.curve import theory_curve
from srf_engine.theory.function import DEFAULT_KAPPA, learned_function

PROBLEM = Problem("tanh", "sin", 3.0, 20.0, 1.0, 0.0)


def test_default_kappa_and_what_each_curve_is() -> None:
    f = learned_function(PROBLEM, [0.5, 2.0], 0.1)
    curve = theory_curve(PROBLEM, [0.5, 2.0], 0.1)
    assert len(DEFAULT_KAPPA) == 101 and DEFAULT_KAPPA[0] == -4.0 and DEFAULT_KAPPA[-1] == 4.0
    kappa = np.array(DEFAULT_KAPPA)
    gamma = f.srf.gamma
    nu, w = np.polynomial.hermite_e.hermegauss(80)
    h = np.sin(gamma * kappa[:, None] + math.sqrt(1 - gamma**2) * nu) @ (w / math.sqrt(2 * math.pi))
    for point, p, b in zip(f.points, curve.points, curve.baseline, strict=True):
        assert point.kappa == DEFAULT_KAPPA
        np.testing.assert_allclose(point.target, h, atol=1e-12)
        assert point.test_error == pytest.approx(p.test_error, rel=1e-10)
        assert point.baseline_test_error == pytest.approx(b.test_error, rel=1e-10)
        # at initialisation μ0, μ1 are constants: a straight line in κ (through μ0·m at κ = 0)
        init = np.array(point.at_initialisation)
        np.testing.assert_allclose(np.diff(init, 2), 0.0, atol=1e-12)
        # after the step: not a straight line (the point of the paper)
        after = np.array(point.after_step)
        assert np.max(np.abs(np.diff(after, 2))) > 1e-4
    # the step's prediction is closer to the target than random features' (squared error along κ)
    weights = np.exp(-0.5 * kappa**2)
    for point in f.points:
        err = lambda g: float(weights @ (np.array(g) - h) ** 2)  # noqa: E731
        assert err(point.after_step) < err(point.at_initialisation)


def test_kappa_is_checked() -> None:
    with pytest.raises(InvalidParameterError, match="kappa"):
        learned_function(PROBLEM, [1.0], 0.1, kappa=[])
    with pytest.raises(InvalidParameterError, match="kappa"):
        learned_function(PROBLEM, [1.0], 0.1, kappa=[0.0, math.inf])


def _srf_model_mean_prediction(
    srf, alpha: float, ridge: float, d: int, n_test: int, edges: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Simulate W = √c W0 + r u vᵀ/√d (rows of W0 on the unit sphere, ‖v‖ = √d), ridge on the readout
    ŵ = (ΦᵀΦ/p + λI)⁻¹ Φᵀy/√p, and average the prediction φ(x)·ŵ/√p over test x binned by κ."""
    rng = np.random.default_rng(seed)
    p, n = d, round(alpha * d)
    w0 = rng.standard_normal((p, d))
    w0 /= np.linalg.norm(w0, axis=1, keepdims=True)
    v = rng.standard_normal(d)
    v *= math.sqrt(d) / np.linalg.norm(v)
    zeta = rng.standard_normal(d)
    zeta -= (zeta @ v) / d * v
    zeta *= math.sqrt(d) / np.linalg.norm(zeta)
    theta = srf.gamma * v + srf.rho * zeta
    w = math.sqrt(srf.c) * w0 + (srf.r / math.sqrt(d)) * v[None, :]

    x = rng.standard_normal((n, d))
    phi = np.tanh(x @ w.T)
    y = np.sin(x @ theta / math.sqrt(d))
    w_hat = np.linalg.solve(phi.T @ phi / p + ridge * np.eye(p), phi.T @ y / math.sqrt(p))

    sums = np.zeros(len(edges) - 1)
    counts = np.zeros(len(edges) - 1)
    kappa_sums = np.zeros(len(edges) - 1)
    for start in range(0, n_test, 5000):
        xt = rng.standard_normal((min(5000, n_test - start), d))
        kappa = xt @ v / math.sqrt(d)
        pred = np.tanh(xt @ w.T) @ w_hat / math.sqrt(p)
        which = np.digitize(kappa, edges) - 1
        ok = (which >= 0) & (which < len(edges) - 1)
        np.add.at(sums, which[ok], pred[ok])
        np.add.at(kappa_sums, which[ok], kappa[ok])
        np.add.at(counts, which[ok], 1.0)
    return sums / counts, kappa_sums / counts, counts


@pytest.mark.slow
def test_mean_prediction_along_kappa_matches_an_srf_simulation() -> None:
    alpha, ridge, d = 2.0, 0.1, 1000
    edges = np.linspace(-2.5, 2.5, 11)
    f = learned_function(PROBLEM, [alpha], ridge, kappa=list(0.5 * (edges[1:] + edges[:-1])))
    point = f.points[0]
    for model_srf in (f.srf, None):
        srf = model_srf if model_srf is not None else type(f.srf)(1.0, 0.0, f.srf.gamma)
        means = []
        for seed in range(2):
            mean, centres, counts = _srf_model_mean_prediction(srf, alpha, ridge, d, 30_000, edges, seed)
            means.append(mean)
        simulated = np.mean(means, axis=0)
        # the theory at the bins' mean κ (bins are narrow; the curve's curvature over a bin is tiny)
        theory = learned_function(PROBLEM, [alpha], ridge, kappa=list(centres)).points[0]
        expected = np.array(theory.after_step if model_srf is not None else theory.at_initialisation)
        assert counts.min() > 100
        # finite d: the readout's overlaps fluctuate by O(1/√d); prediction noise per bin is ~0.3/√count
        np.testing.assert_allclose(simulated, expected, atol=0.06)
        assert np.corrcoef(simulated, expected)[0, 1] > 0.99
    assert np.max(np.abs(np.array(point.after_step) - np.array(point.at_initialisation))) > 0.2


def test_the_function_follows_the_chosen_theory() -> None:
    """A non-centred student: the corrected mapping and one-step bulk (the defaults) give the same test
    error as /theory/curve's defaults, and differ from the paper's mapping."""
    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    default = learned_function(problem, [0.5, 2.0], 0.05, kappa=[-1.0, 0.0, 1.0])
    paper = learned_function(
        problem, [0.5, 2.0], 0.05, kappa=[-1.0, 0.0, 1.0], mapping="paper", bulk="marchenko_pastur"
    )
    curve = theory_curve(problem, [0.5, 2.0], 0.05)
    assert (default.mapping, default.bulk) == ("corrected", "one_step")
    assert (paper.mapping, paper.bulk) == ("paper", "marchenko_pastur")
    assert default.as_dict()["mapping"] == "corrected"
    for mine, theirs in zip(default.points, curve.points, strict=True):
        assert mine.test_error == pytest.approx(theirs.test_error, rel=1e-10)
    assert default.srf.c == pytest.approx(curve.srf.c) and default.srf.c < paper.srf.c - 0.1
    shift = np.abs(np.array(default.points[0].after_step) - np.array(paper.points[0].after_step))
    assert shift.max() > 1e-3
    # at initialisation there is no step: a straight line in κ under either theory (its slope follows
    # γ, the overlap of the spike direction with θ, which the two mappings give differently)
    for f in (default, paper):
        np.testing.assert_allclose(np.diff(f.points[0].at_initialisation, 2), 0.0, atol=1e-12)
