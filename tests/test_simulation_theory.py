"""Simulations against the theory (docs/theory.md §3, §5, §7, §9).

Criterion (§9: finite-size corrections do not shrink with seeds, so "3 sem" alone is unfair at small
d): a simulated mean ``m ± sem`` over S seeds agrees with a limit value ``t`` when

    |m − t| ≤ max(k·sem, allowance(d)·t),   allowance(d) = 0.04 + 30/d   (d = 500: 10 %, d = 1000: 7 %,
                                                                          d = 2000: 5.5 %)

with k = 3, widened to the two-sided 99 % Student-t quantile for S − 1 degrees of freedom when that is
larger (S = 8: k = 3.50; a sem from a handful of seeds is itself uncertain, and a training error on
n = 100 samples varies by ~35 % from seed to seed). §9 measured the sRF test error 7 % above the limit
at d = 400 and ~2 % at d = 1600; §7's network simulation at d = 2000 sits 2–4 % below. Training errors
fluctuate much more from seed to seed (§7): they get twice the allowance. Teachers with cubic Hermite
components have heavy-tailed squared errors, so those cases use 10 000 test samples.
The default run holds a quick subset at d = 500; ``-m slow`` runs the grid at d = 1000, §7 at d = 2000
and the relu discrepancy of §3.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from srf_engine import Problem, SRFParams, simulate
from srf_engine.theory.curve import theory_curve

#: The exact theory of the sRF model (docs/theory.md §3 mapping, §5 bulk): what model "srf" simulates.
SRF_THEORY = {"mapping": "paper", "bulk": "marchenko_pastur"}

HERMITE = {"hermite": [0, 0.5, 0.3, 0.2]}
ALPHAS = [0.5, 1.5, 3.0]

#: docs/theory.md §7: tanh student, sin teacher, η̃ = 3, α0 = 20, λ = 0.1, ψ_w = 1, Δ = 0.
SECTION7 = Problem("tanh", "sin", learning_rate=3.0, alpha0=20.0)
SECTION7_ALPHAS = [0.2, 0.9, 1.6, 2.3, 3.0]
SECTION7_TEST = [0.04848290, 0.04250393, 0.03731133, 0.03430466, 0.03251821]
SECTION7_TRAIN = [0.01249380, 0.01685945, 0.01958977, 0.02118552, 0.02219793]


def allowance(d: int) -> float:
    return 0.04 + 30.0 / d


def sem_multiplier(seeds: int) -> float:
    """``max(3, t_{0.995}(S − 1))``: 3 sem, or the 99 % Student-t interval for few seeds."""
    return max(3.0, float(scipy_stats.t.ppf(0.995, seeds - 1))) if seeds > 1 else 3.0


def disagreements(result, test_limits, train_limits=None, train_factor: float = 2.0) -> list[str]:
    """Points outside the criterion, described with all their numbers (empty when all agree)."""
    rel = allowance(result.dimension)
    k = sem_multiplier(len(result.seeds))
    bad = []
    for i, pt in enumerate(result.points):
        checks = [("test", pt.test_error, test_limits[i], rel)]
        if train_limits is not None:
            checks.append(("train", pt.train_error, train_limits[i], train_factor * rel))
        for name, stats, limit, r in checks:
            gap = abs(stats.mean - limit)
            if gap > max(k * stats.sem, r * limit):
                bad.append(
                    f"{result.model} d={result.dimension} α={pt.alpha} λ={pt.ridge} {name}: "
                    f"{stats.mean:.5f} ± {stats.sem:.5f} (sem, {len(stats.values)} seeds) "
                    f"vs limit {limit:.5f} ({(stats.mean / limit - 1):+.1%}, "
                    f"z = {(stats.mean - limit) / max(stats.sem, 1e-300):+.1f}; "
                    f"allowed max({k:.2f} sem, {r:.1%}))"
                )
    return bad


def compare(problem: Problem, model: str, ridge: float, d: int, seeds: int, test_samples=None) -> list[str]:
    theory = theory_curve(problem, ALPHAS, ridge, baseline=False, **SRF_THEORY)
    assert all(p.converged for p in theory.points)
    sim = simulate(
        problem,
        ALPHAS,
        ridge,
        model=model,
        dimension=d,
        seeds=seeds,
        test_samples=test_samples,
        mapping=SRF_THEORY["mapping"],  # the sRF model of the theory's (c, r, γ)
    )
    return disagreements(sim, [p.test_error for p in theory.points], [p.train_error for p in theory.points])


# grid: widths 0.5, 1, 2; noise 0 and 0.2; α0 = 0 and > 0; tanh/sin, relu_centered/tanh, erf/Hermite,
# tanh/Hermite; the sRF model mapped and given directly; relu (non-centred) in the sRF model.
GRID = [
    pytest.param(SECTION7, "network", 0.1, None, id="tanh-sin-a0=20-network"),
    pytest.param(SECTION7, "srf", 0.1, None, id="tanh-sin-a0=20-srf"),
    pytest.param(
        Problem("relu_centered", "tanh", 2.0, 2.0), "network", 0.05, None, id="reluc-tanh-w1-network"
    ),
    pytest.param(Problem("relu_centered", "tanh", 2.0, 2.0), "srf", 0.05, None, id="reluc-tanh-w1-srf"),
    pytest.param(
        Problem("relu_centered", "tanh", 2.0, 2.0, width=0.5, noise=0.2),
        "network",
        0.05,
        None,
        id="reluc-tanh-w0.5-noise-network",
    ),
    pytest.param(
        Problem("relu_centered", "tanh", 2.0, 2.0, width=0.5, noise=0.2),
        "srf",
        0.05,
        None,
        id="reluc-tanh-w0.5-noise-srf",
    ),
    pytest.param(
        Problem("relu_centered", "tanh", 2.0, 2.0, width=2.0),
        "network",
        0.05,
        None,
        id="reluc-tanh-w2-network",
    ),
    pytest.param(
        Problem("relu_centered", "tanh", 2.0, 2.0, width=2.0), "srf", 0.05, None, id="reluc-tanh-w2-srf"
    ),
    pytest.param(
        Problem("erf", HERMITE, 1.5, 3.0, width=2.0, noise=0.2),
        "network",
        0.1,
        10_000,
        id="erf-hermite-w2-noise-network",
    ),
    pytest.param(
        Problem("erf", HERMITE, 1.5, 3.0, width=2.0, noise=0.2),
        "srf",
        0.1,
        10_000,
        id="erf-hermite-w2-noise-srf",
    ),
    pytest.param(Problem("tanh", "sin", width=0.5), "network", 0.1, None, id="tanh-sin-a0=0-w0.5-network"),
    pytest.param(
        Problem("tanh", "sin", 3.0, 20.0, width=0.5), "random_features", 0.1, None, id="tanh-sin-rf-w0.5"
    ),
    pytest.param(
        Problem("tanh", HERMITE, srf=SRFParams(1.2, 1.0, 0.8)),
        "srf",
        0.1,
        10_000,
        id="srf-given-tanh-hermite",
    ),
    pytest.param(Problem("relu", "tanh", 2.0, 2.0), "srf", 0.05, None, id="relu-tanh-srf-noncentred"),
]

QUICK = [
    "tanh-sin-a0=20-srf",
    "reluc-tanh-w1-network",
    "reluc-tanh-w0.5-noise-srf",
    "erf-hermite-w2-noise-srf",
    "tanh-sin-rf-w0.5",
    "srf-given-tanh-hermite",
]


def _theory_of(problem: Problem, model: str) -> Problem:
    """Random features are the problem at initialisation for the theory."""
    return problem.at_initialisation() if model == "random_features" else problem


@pytest.mark.parametrize(("problem", "model", "ridge", "test_samples"), [p for p in GRID if p.id in QUICK])
def test_simulation_matches_theory_quick_subset_d500(problem, model, ridge, test_samples) -> None:
    bad = compare(_theory_of(problem, model), model, ridge, d=500, seeds=8, test_samples=test_samples)
    assert not bad, "\n".join(bad)


@pytest.mark.slow
@pytest.mark.parametrize(("problem", "model", "ridge", "test_samples"), GRID)
def test_simulation_matches_theory_grid_d1000(problem, model, ridge, test_samples) -> None:
    bad = compare(_theory_of(problem, model), model, ridge, d=1000, seeds=8, test_samples=test_samples)
    assert not bad, "\n".join(bad)


def test_theory_reproduces_the_section7_limits() -> None:
    curve = theory_curve(SECTION7, SECTION7_ALPHAS, 0.1, baseline=False, **SRF_THEORY)
    assert [p.test_error for p in curve.points] == pytest.approx(SECTION7_TEST, rel=1e-6)
    assert [p.train_error for p in curve.points] == pytest.approx(SECTION7_TRAIN, rel=1e-6)


@pytest.mark.parametrize("model", ["network", "srf"])
def test_section7_reference_values_quick_d500(model: str) -> None:
    sim = simulate(SECTION7, SECTION7_ALPHAS, 0.1, model=model, dimension=500, seeds=8)
    bad = disagreements(sim, SECTION7_TEST, SECTION7_TRAIN)
    assert not bad, "\n".join(bad)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["network", "srf"])
def test_section7_reference_values_d2000(model: str) -> None:
    sim = simulate(SECTION7, SECTION7_ALPHAS, 0.1, model=model, dimension=2000, seeds=6)
    bad = disagreements(sim, SECTION7_TEST, SECTION7_TRAIN)
    assert not bad, "\n".join(bad)


@pytest.mark.slow
def test_relu_network_misses_the_mapped_theory_as_section3_says_and_warns() -> None:
    """§3: relu/tanh, η̃ = 2, α0 = 2, λ = 0.05, α = 0.5: network ≈ 0.359, mapped theory 0.430 (15–20 %);
    relu_centered: network 0.285 ± 0.010 vs theory 0.291. The result must carry the warning."""
    d, seeds = 2000, 4
    relu = Problem("relu", "tanh", 2.0, 2.0)
    theory = theory_curve(relu, [0.5], 0.05, baseline=False, **SRF_THEORY).points[0].test_error
    assert theory == pytest.approx(0.430, abs=0.002)
    # the paper's mapping (the theory's here) is what warns of the non-centred student
    net = simulate(relu, [0.5], 0.05, dimension=d, seeds=seeds, mapping=SRF_THEORY["mapping"])
    stats = net.points[0].test_error
    miss = (theory - stats.mean) / theory
    assert 0.10 <= miss <= 0.25, (stats.mean, stats.sem, theory)
    assert (theory - stats.mean) > 5 * stats.sem
    assert stats.mean == pytest.approx(0.359, abs=0.025)
    assert any("not centred" in w for w in net.warnings)
    # the sRF model with the same (c, r, γ) is what the theory describes: it agrees
    srf = simulate(relu, [0.5], 0.05, model="srf", dimension=d, seeds=seeds, mapping=SRF_THEORY["mapping"])
    assert not disagreements(srf, [theory]), disagreements(srf, [theory])

    centred = Problem("relu_centered", "tanh", 2.0, 2.0)
    theory_c = theory_curve(centred, [0.5], 0.05, baseline=False, **SRF_THEORY).points[0].test_error
    assert theory_c == pytest.approx(0.291, abs=0.002)
    net_c = simulate(centred, [0.5], 0.05, dimension=d, seeds=seeds)
    assert not disagreements(net_c, [theory_c]), disagreements(net_c, [theory_c])
    assert net_c.warnings == []


@pytest.mark.slow
def test_finite_size_extrapolation_in_one_over_d_reaches_the_limit() -> None:
    """A case with strong finite-size corrections (sRF, relu_centered/tanh, η̃ = 0.5, α0 = 2: +13 % at
    d = 500, +7 % at 1000, +3–5 % at 2000): a weighted linear fit of the means in 1/d over d = 500, 1000,
    2000 extrapolates to the limit within 3 standard errors of the intercept or 3 % (§9)."""
    problem = Problem("relu_centered", "tanh", 0.5, 2.0)
    limits = [p.test_error for p in theory_curve(problem, ALPHAS, 0.05, baseline=False, **SRF_THEORY).points]
    runs = [
        simulate(
            problem, ALPHAS, 0.05, model="srf", dimension=d, seeds=list(range(20, 20 + s)), mapping="paper"
        )
        for d, s in ((500, 16), (1000, 12), (2000, 8))
    ]
    inv_d = np.array([1.0 / r.dimension for r in runs])
    design = np.vstack([np.ones_like(inv_d), inv_d]).T
    for j, limit in enumerate(limits):
        mean = np.array([r.points[j].test_error.mean for r in runs])
        weight = np.diag(1.0 / np.array([r.points[j].test_error.sem for r in runs]) ** 2)
        normal = design.T @ weight @ design
        intercept = np.linalg.solve(normal, design.T @ weight @ mean)[0]
        error = math.sqrt(np.linalg.inv(normal)[0, 0])
        assert mean[0] > limit * 1.05  # the correction is there at d = 500 ...
        assert abs(intercept - limit) <= max(3 * error, 0.03 * limit), (ALPHAS[j], intercept, error, limit)


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason=(
        "known discrepancy, reported: the width-2 network's training error sits 6-11 % above the mapped "
        "theory at d = 1000, 2000, 3000 (not shrinking with d) while the sRF model with the same (c, r, γ) "
        "matches it to 0.2 %; test errors agree"
    ),
)
def test_network_training_error_width2_relu_centered_matches_theory() -> None:
    """relu_centered/tanh, η̃ = 2, α0 = 2, λ = 0.05, ψ_w = 2, Δ = 0, d = 1000, 12 seeds: training error
    within max(k·sem, 4 %) of the limit. Measured: +11.1 % (z = 3.7), +9.3 % (5.1), +5.6 % (4.6) at
    α = 0.5, 1.5, 3; d = 2000 (6 seeds): +9.6 %, +9.4 %, +7.3 %; d = 3000 (4 seeds): +10.5 %, +6.8 %,
    +5.7 %. sRF at d = 2000 (12 seeds): +0.2 %, −0.1 %, +0.2 %."""
    problem = Problem("relu_centered", "tanh", 2.0, 2.0, width=2.0)
    theory = theory_curve(problem, ALPHAS, 0.05, baseline=False, **SRF_THEORY).points
    sim = simulate(problem, ALPHAS, 0.05, dimension=1000, seeds=list(range(8, 20)))
    k = sem_multiplier(len(sim.seeds))
    for pt, th in zip(sim.points, theory, strict=True):
        gap = abs(pt.train_error.mean - th.train_error)
        assert gap <= max(k * pt.train_error.sem, 0.04 * th.train_error), (
            pt.alpha,
            pt.train_error,
            th.train_error,
        )
