"""The corrected mapping (docs/theory.md §10.2) and the one-step bulk law (§10.3) against sampled networks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srf_engine.problem import Problem
from srf_engine.simulation.first_layer import decompose, measure_first_layer, row_shrink
from srf_engine.theory.curve import theory_curve
from srf_engine.theory.mapping import map_to_srf, step_statistics
from srf_engine.theory.onestep import OneStepBulk


def network_first_layer(problem: Problem, d: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(W1, W0, θ)`` of one giant step (docs/theory.md §2), written out apart from the engine."""
    rng = np.random.default_rng(seed)
    p, n0 = round(problem.width * d), round(problem.alpha0 * d)
    w0 = rng.standard_normal((p, d))
    w0 /= np.linalg.norm(w0, axis=1, keepdims=True)
    theta = rng.standard_normal(d)
    theta *= math.sqrt(d) / np.linalg.norm(theta)
    x = rng.standard_normal((n0, d))
    y = problem.teacher(x @ theta / math.sqrt(d)) + math.sqrt(problem.noise) * rng.standard_normal(n0)
    z = x @ w0.T
    e = y - problem.student(z).mean(axis=1)
    g = problem.student.derivative(z) * e[:, None]
    return w0 + problem.learning_rate / n0 * (g.T @ x), w0, theta


def test_corrected_mapping_is_the_paper_one_for_a_centred_student_and_target() -> None:
    for student, teacher in (("relu_centered", "tanh"), ("tanh", "sin"), ("erf", "he3")):
        problem = Problem(student, teacher, 2.5, 1.5, 1.0, 0.1)
        paper, corrected = map_to_srf(problem), map_to_srf(problem, "corrected")
        assert corrected.c == pytest.approx(paper.c, rel=1e-10)
        assert corrected.r == pytest.approx(paper.r, rel=1e-10)
        assert corrected.gamma == pytest.approx(paper.gamma, rel=1e-10)


@pytest.mark.parametrize(
    "student", ["relu", {"hermite": [0.5, 0.8, 0.3]}], ids=["relu", "hermite_noncentred"]
)
def test_corrected_mapping_matches_the_measured_first_layer(student) -> None:
    problem = Problem(student, "tanh", 2.0, 2.0, 1.0, 0.0)
    srf, paper = map_to_srf(problem, "corrected"), map_to_srf(problem)
    shrink = step_statistics(problem).row_shrink
    w1, w0, theta = network_first_layer(problem, 1000, 0)
    m = measure_first_layer(w1, theta, row_shrink(w1, w0))
    # d = 1000: fluctuations of a few percent; the paper's mapping is off by 20–60 % here.
    assert m.c_eff == pytest.approx(srf.c, rel=0.03) and abs(m.c_eff / paper.c - 1) > 0.15
    assert m.r == pytest.approx(srf.r, rel=0.03)
    assert m.gamma == pytest.approx(srf.gamma, rel=0.03)
    assert m.row_shrink == pytest.approx(shrink, rel=0.03)


def test_one_step_resolvents_match_a_sampled_first_layer() -> None:
    # E_k[X_k/(D_k − z)] for X = 1, F, C, H at real z < 0, against one sampled network at d = 1000.
    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    w1, _, theta = network_first_layer(problem, 1000, 1)
    d = w1.shape[1]
    dec = decompose(w1)
    zeta = theta - (theta @ dec.v / d) * dec.v
    zeta *= math.sqrt(d) / np.linalg.norm(zeta)
    eig, vecs = np.linalg.eigh(dec.projected @ dec.projected.T)
    bv, bz = vecs.T @ (dec.bulk @ dec.v), vecs.T @ (dec.bulk @ zeta)
    law = OneStepBulk(problem)
    assert law.mean == pytest.approx(dec.c_eff, rel=0.03)
    for z in (-0.3, -1.0, -5.0):
        measured = [np.mean(x / (eig - z)) for x in (np.ones_like(eig), bv * bv, bv * bz, bz * bz)]
        g, s_f, s_c, s_h = law.resolvents(z)
        assert g == pytest.approx(measured[0], rel=0.04)
        assert s_f == pytest.approx(measured[1], rel=0.04)  # without M2's own term: −35 %
        assert s_h == pytest.approx(measured[3], rel=0.06)
        assert s_c == pytest.approx(measured[2], rel=0.35)  # the cross projection is the weakest part


def test_curves_say_which_mapping_and_bulk_they_used() -> None:
    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0)
    paper = theory_curve(problem, [0.5], 0.05, baseline=False, mapping="paper", bulk="marchenko_pastur")
    fixed = theory_curve(problem, [0.5], 0.05, baseline=False)  # the default
    assert (paper.mapping, paper.bulk) == ("paper", "marchenko_pastur")
    assert fixed.as_dict()["mapping"] == "corrected" and fixed.as_dict()["bulk"] == "one_step"
    assert any("not centred" in w for w in paper.warnings) and fixed.points[0].converged
    # docs/theory.md §10: the network gives 0.353 here; the paper's theory 0.430.
    assert fixed.points[0].test_error < 0.9 * paper.points[0].test_error
    # An odd student has b1 = 0: no row shrink, and the one-step bulk is §5's exactly (fast, §7's values).
    odd = Problem("tanh", "sin", 3.0, 2.0, 1.0)
    a = theory_curve(odd, [1.0], 0.1, baseline=False, mapping="corrected", bulk="one_step")
    b = theory_curve(odd, [1.0], 0.1, baseline=False, mapping="corrected", bulk="marchenko_pastur")
    assert a.points[0].test_error == b.points[0].test_error and a.bulk == "marchenko_pastur"

def test_warnings_follow_the_validation_table() -> None:
    from srf_engine.theory.curve import DEFAULT_BULK, DEFAULT_MAPPING, DEFAULT_ROW_NORM
    from srf_engine.theory.fidelity import MEASURED, TARGETS, _off, _span

    def warnings(student: str, alphas: list[float], alpha0: float = 2.0, **theory) -> list[str]:
        problem = Problem(student, "tanh", 2.0, alpha0, 1.0)
        return theory_curve(problem, alphas, 0.05, baseline=False, **theory).warnings

    def fits(theory: tuple, regime: tuple) -> bool:
        return not _off(MEASURED[theory][regime])

    # every theory the validation measured has both sides of the width for students with E σ'' ≠ 0
    for theory in (("corrected", "one_step", False), ("corrected", "marchenko_pastur", False)):
        assert {("curved", "below_width"), ("curved", "above_width")} <= set(MEASURED[theory])
    # a warning quotes the measured range of the regime it is about, and only where it leaves a target
    default = (DEFAULT_MAPPING, DEFAULT_BULK, DEFAULT_ROW_NORM)
    for alphas, side in (([0.5], "below_width"), ([2.0], "above_width")):
        said = " ".join(warnings("relu", alphas))
        ranges = MEASURED[default][("curved", side)]
        assert ("against the network" in said) == (not fits(default, ("curved", side)))
        for key, bounds in ranges.items():
            if max(map(abs, bounds)) > TARGETS[key]:
                assert _span(bounds) in said
    # odd students at large α0: the §5 theory, within the targets where validated
    if fits(("corrected", "marchenko_pastur", False), ("odd", "above_width")):
        assert not [w for w in warnings("tanh", [2.0], 20.0) if "against the network" in w]
    # a combination that was not validated says so
    said = warnings("relu", [2.0], bulk="one_step_sampled", row_norm=True)
    if ("corrected", "one_step_sampled", True) not in MEASURED:
        assert any("not validated" in w for w in said)
    # the paper's mapping for a non-centred student: the mapping's own warning, not this one
    assert not [w for w in warnings("relu", [2.0], mapping="paper") if "against the network" in w]
    assert any("below the validated range" in w for w in warnings("relu", [1.0], 0.5))


@pytest.mark.slow
def test_one_step_spectrum_quantiles_and_edge_match_a_sampled_first_layer() -> None:
    # relu_centered/tanh, width 2, α0 = 2 (docs/theory.md §10.3): c·MP puts the top edge near 7, the
    # network near 10.4. Measured at d = 1000: edge 10.51 against 10.35, median 1.655 against 1.638.
    problem = Problem("relu_centered", "tanh", 2.0, 2.0, 2.0, 0.0)
    w1, _, theta = network_first_layer(problem, 1000, 3)
    measured = measure_first_layer(w1, theta)
    law = OneStepBulk(problem)
    top = 1.3 * measured.spectrum_edges[1]
    grid = np.linspace(top / 600, top, 600)
    density = law.density(grid, eps=1e-9)
    cdf = np.cumsum(density) * (grid[1] - grid[0])
    assert cdf[-1] == pytest.approx(0.5, abs=0.01)  # p = 2d: half the modes are null
    edge = grid[np.nonzero(density > 1e-3)[0][-1]]
    assert edge == pytest.approx(measured.spectrum_edges[1], rel=0.04)
    assert abs(edge / (map_to_srf(problem, "corrected").c * (1 + math.sqrt(2)) ** 2) - 1) > 0.3
    for q in (0.5, 0.75, 0.9):  # the low quantiles are 5–16 % low: M2's own spread is not modelled
        theory = float(np.interp(q * cdf[-1], cdf, grid))
        assert theory == pytest.approx(measured.spectrum_quantiles[f"q{round(100 * q)}"], rel=0.04)


@pytest.mark.slow
def test_corrected_theory_matches_the_relu_network() -> None:
    # docs/fidelity.md, first rows: relu/tanh, η̃ = 2, α0 = 2, λ = 0.05, width 1, d = 1500, 16 seeds (8 are
    # not enough: seeds 0–7 sit 7–10 % high on the training error below the width, docs/theory.md §10.5)
    from srf_engine import simulate

    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    sim = simulate(problem, [0.5, 2.0], 0.05, dimension=1500, seeds=16, test_samples=6000)
    paper = theory_curve(problem, [0.5, 2.0], 0.05, baseline=False, mapping="paper", bulk="marchenko_pastur")
    fixed = theory_curve(problem, [0.5, 2.0], 0.05, baseline=False)
    for point, old, new in zip(sim.points, paper.points, fixed.points, strict=True):
        net = point.test_error.mean
        assert abs(old.test_error / net - 1) > 0.1  # the paper's theory misses by 14–21 %
        assert new.test_error == pytest.approx(net, rel=0.02, abs=2 * point.test_error.sem)
        # training error: the 3 % target, or 2 sem (docs/fidelity.md: −1.9 % and +0.8 % over 24 seeds)
        train = point.train_error
        assert new.train_error == pytest.approx(train.mean, rel=0.03, abs=2 * train.sem)
    layers = sim.as_dict()["first_layer"]
    assert len(layers) == 16
    assert all(layer["row_shrink"] == pytest.approx(0.682, rel=0.03) for layer in layers)


def test_simulate_reports_each_seeds_measured_first_layer() -> None:
    from srf_engine import simulate

    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0)
    result = simulate(problem, [0.5], 0.05, dimension=300, seeds=[4, 5]).as_dict()
    layers = result["first_layer"]
    assert len(layers) == 2 and layers[0] != layers[1]
    srf = map_to_srf(problem, "corrected")
    for layer in layers:  # d = 300: within ~5 % of the corrected mapping, far from the paper's c = 1.197
        assert layer["c_eff"] == pytest.approx(srf.c, rel=0.06)
        assert layer["row_shrink"] == pytest.approx(step_statistics(problem).row_shrink, rel=0.05)
        quantiles = layer["spectrum_quantiles"]
        assert layer["spectrum_edges"][1] > quantiles["q90"] > quantiles["q10"]
    assert "first_layer" not in simulate(problem, [0.5], 0.05, model="srf", dimension=100, seeds=1).as_dict()
