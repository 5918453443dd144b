"""Theory (docs/theory.md §3–§7): reference values, invariances, quadrature convergence, robustness."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from srf_engine import InvalidParameterError, Problem, SRFParams, get_activation, map_to_srf
from srf_engine.theory.conditional import conditional_moments
from srf_engine.theory.curve import theory_curve
from srf_engine.theory.solver import solve_fixed_point

# docs/theory.md §7: tanh student, sin teacher, η̃ = 3, α0 = 20, λ = 0.1, ψ_w = 1, Δ = 0.
REFERENCE = Problem("tanh", "sin", learning_rate=3.0, alpha0=20.0, width=1.0, noise=0.0)
REFERENCE_ALPHAS = [0.2, 0.9, 1.6, 2.3, 3.0]
REFERENCE_TEST = [0.04848290, 0.04250393, 0.03731133, 0.03430466, 0.03251821]
REFERENCE_TRAIN = [0.01249380, 0.01685945, 0.01958977, 0.02118552, 0.02219793]


def test_mapping_reproduces_reference_values_to_1e_6() -> None:
    srf = map_to_srf(REFERENCE)
    assert srf.c == pytest.approx(1.01897320, rel=1e-6)
    assert srf.r == pytest.approx(1.13405551, rel=1e-6)
    assert srf.gamma == pytest.approx(0.97185444, rel=1e-6)


def test_limit_column_reproduced_to_1e_4_relative() -> None:
    curve = theory_curve(REFERENCE, REFERENCE_ALPHAS, 0.1)
    for point, test, train in zip(curve.points, REFERENCE_TEST, REFERENCE_TRAIN, strict=True):
        assert point.converged
        assert point.residual < 1e-12
        assert point.test_error == pytest.approx(test, rel=1e-4)
        assert point.train_error == pytest.approx(train, rel=1e-4)
    # the only warning is the measured distance of the network at d = 1500 (docs/theory.md §10.5)
    assert all("against the network" in w for w in curve.warnings)


def test_mapping_with_label_noise_enters_the_step() -> None:
    noisy = map_to_srf(Problem("tanh", "sin", 3.0, 20.0, 1.0, noise=0.5))
    clean = map_to_srf(REFERENCE)
    y2 = (1 - math.exp(-2)) / 2  # E sin²(z)
    assert noisy.c - 1 == pytest.approx((clean.c - 1) * (y2 + 0.5) / y2, rel=1e-12)
    assert noisy.gamma < clean.gamma


def test_plain_damping_divergent_case_converges() -> None:
    # docs/theory.md §6: damped iteration (0.5) diverges here; the limit is ≈ 0.2758.
    problem = Problem("relu", "tanh", learning_rate=2.0, alpha0=2.0, width=2.0)
    curve = theory_curve(problem, [2.5], 0.05, mapping="paper", bulk="marchenko_pastur")
    point = curve.points[0]
    assert point.converged and point.residual < 1e-12
    assert point.test_error == pytest.approx(0.2758, abs=5e-5)
    assert any("not centred" in w for w in curve.warnings)


def test_centering_caveat_values_and_warning() -> None:
    # docs/theory.md §3: relu/tanh, η̃ = 2, α0 = 2, λ = 0.05, α = 0.5: theory 0.430 (relu), 0.291 (centred).
    paper = {"mapping": "paper", "bulk": "marchenko_pastur"}
    relu = theory_curve(Problem("relu", "tanh", 2.0, 2.0, 1.0), [0.5], 0.05, **paper)
    centred = theory_curve(Problem("relu_centered", "tanh", 2.0, 2.0, 1.0), [0.5], 0.05, **paper)
    assert relu.points[0].test_error == pytest.approx(0.430, abs=5e-4)
    assert centred.points[0].test_error == pytest.approx(0.291, abs=5e-4)
    assert any("not centred" in w for w in relu.warnings)
    assert not any("not centred" in w for w in centred.warnings)
    # sRF given directly: the theory is exact for it, so no warning.
    direct = theory_curve(
        Problem("relu", "tanh", srf=map_to_srf(Problem("relu", "tanh", 2.0, 2.0))), [0.5], 0.05
    )
    assert direct.warnings == []
    assert direct.points[0].test_error == pytest.approx(relu.points[0].test_error, rel=1e-12)


# --- invariances (docs/theory.md §6) -----------------------------------------------------------------


@pytest.mark.parametrize("alpha0", [0.5, 2.0, 20.0])
def test_no_learning_rate_equals_no_step(alpha0: float) -> None:
    alphas = [0.3, 1.0, 2.5]
    no_rate = theory_curve(Problem("tanh", "sin", 0.0, alpha0, 1.5, 0.1), alphas, 0.2)
    no_batch = theory_curve(Problem("tanh", "sin", 3.0, 0.0, 1.5, 0.1), alphas, 0.2)
    for a, b in zip(no_rate.points, no_batch.points, strict=True):
        assert a.test_error == pytest.approx(b.test_error, rel=1e-12)
        assert a.train_error == pytest.approx(b.train_error, rel=1e-12)


@pytest.mark.parametrize(("student", "teacher"), [("tanh", "sin"), ("relu_centered", "tanh"), ("erf", "he3")])
def test_teacher_sign_flip_leaves_errors_unchanged(student: str, teacher: str) -> None:
    plus = Problem(student, teacher, 2.0, 3.0, 1.0, 0.1)
    minus = Problem(student, get_activation(teacher).odd_reflection(), 2.0, 3.0, 1.0, 0.1)
    a = theory_curve(plus, [0.5, 2.0], 0.1)
    b = theory_curve(minus, [0.5, 2.0], 0.1)
    for p, q in zip(a.points + a.baseline, b.points + b.baseline, strict=True):  # type: ignore[operator]
        assert p.test_error == pytest.approx(q.test_error, rel=1e-10)
        assert p.train_error == pytest.approx(q.train_error, rel=1e-10)


def test_zero_spike_is_random_features_for_any_gamma() -> None:
    alphas = [0.4, 1.7]
    base = theory_curve(Problem("tanh", "sin", 3.0, 20.0, 0.7, 0.2), alphas, 0.1).baseline
    for gamma in (0.0, 0.4, -0.8, 1.0):
        srf_curve = theory_curve(
            Problem("tanh", "sin", noise=0.2, width=0.7, srf=SRFParams(1.0, 0.0, gamma)),
            alphas,
            0.1,
            baseline=False,
        )
        for p, b in zip(srf_curve.points, base, strict=True):
            assert p.test_error == pytest.approx(b.test_error, rel=1e-10)


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_infinite_ridge_tends_to_teacher_power_plus_noise(noise: float) -> None:
    # Random features (μ0 ≡ 0 for a centred σ at r = 0): ε_g → E σ*² + Δ as λ → ∞.
    problem = Problem("tanh", "sin", 3.0, 20.0, 1.0, noise)
    limit = (1 - math.exp(-2)) / 2 + noise
    errors = [theory_curve(problem, [1.0], lam).baseline[0].test_error for lam in (1e2, 1e4, 1e6)]
    gaps = [abs(e - limit) for e in errors]
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-5


def test_infinite_ridge_keeps_the_unregularised_mean_direction() -> None:
    # With a spike, μ0(κ) = E_z σ(rκ + √c z) ≠ 0: the readout's mean direction is one direction among
    # p, penalised by λ = O(1) against a loss of O(n), so it is still fitted as λ → ∞ and
    # ε_g → E[hh] − E[μ0 h]²/E[μ0²] rather than E σ*² + Δ (docs/theory.md §5, large ridge).
    problem = Problem("tanh", "sin", 3.0, 20.0, 1.0, 0.1)
    srf = map_to_srf(problem)
    cm = conditional_moments(problem.student, problem.teacher, srf, problem.noise)
    limit = cm.expect(cm.hh) - cm.expect(cm.mu0 * cm.h) ** 2 / cm.expect(cm.mu0**2)
    errors = [
        theory_curve(problem, [1.0], lam, baseline=False).points[0].test_error for lam in (1e2, 1e4, 1e6)
    ]
    assert errors[2] == pytest.approx(limit, rel=1e-5)
    assert abs(errors[0] - limit) > abs(errors[1] - limit) > abs(errors[2] - limit)


def test_noise_floor_and_monotone_in_noise() -> None:
    curves = [
        theory_curve(Problem("tanh", "sin", 3.0, 20.0, 1.0, d), [0.5, 3.0], 0.1) for d in (0.0, 0.2, 0.5)
    ]
    for point_set in zip(*(c.points for c in curves), strict=True):
        errors = [p.test_error for p in point_set]
        assert errors[0] < errors[1] < errors[2]
    assert all(p.test_error > 0.5 for p in curves[2].points)


def test_hermite_teacher_equals_registry_equivalent() -> None:
    a = theory_curve(Problem("tanh", "he3", 2.0, 5.0, 1.0), [0.6, 1.9], 0.1)
    b = theory_curve(Problem("tanh", {"hermite": [0, 0, 0, 1]}, 2.0, 5.0, 1.0), [0.6, 1.9], 0.1)
    assert [p.test_error for p in a.points] == pytest.approx([p.test_error for p in b.points], rel=1e-12)


# --- quadrature convergence ------------------------------------------------------------------------

CONVERGENCE_CASES = [
    (Problem("tanh", "sin", 3.0, 20.0, 1.0), 1e-8),
    (Problem("erf", {"hermite": [0, 0.6, 0.5, 0.3]}, 2.0, 4.0, 0.5, 0.2), 1e-8),
    (Problem("tanh", "sin", 4.0, 1.0, 2.0, 0.1), 1e-8),
    (Problem("erf", "sin", 10.0, 0.5, 1.0, 0.1), 1e-8),  # c ≈ 10: split Gauss–Legendre moments
    (Problem("relu_centered", "tanh", 2.0, 2.0, 2.0), 1e-6),
    (Problem("relu", "relu", 2.0, 3.0, 1.0, 0.1), 1e-6),
    (Problem("tanh", "relu", srf=SRFParams(1.2, 1.0, 0.995)), 1e-6),  # near-kink in κ: split rule
    (Problem("tanh", "relu_centered", srf=SRFParams(1.2, 1.0, 1.0)), 1e-6),  # exact kink in κ
]


@pytest.mark.parametrize(("problem", "tolerance"), CONVERGENCE_CASES)
def test_doubling_every_quadrature_changes_test_error_by_less_than_tolerance(problem, tolerance) -> None:
    alphas = [0.3, 1.0, 2.7]
    once = theory_curve(problem, alphas, 0.05)
    twice = theory_curve(problem, alphas, 0.05, refine=2)
    for a, b in zip(once.points + once.baseline, twice.points + twice.baseline, strict=True):  # type: ignore[operator]
        assert abs(a.test_error - b.test_error) <= tolerance * b.test_error


# --- robustness ------------------------------------------------------------------------------------

GRID_ACTIVATIONS = [
    ("tanh", "sin"),
    ("relu_centered", "tanh"),
    ("erf", {"hermite": [0, 0.6, 0.5, 0.3]}),
    ("he3", "tanh"),
    ("linear", "sin"),
    ("relu", "he2"),
]


@pytest.mark.parametrize(("student", "teacher"), GRID_ACTIVATIONS)
def test_solver_converges_on_grid(student, teacher) -> None:
    alphas = [0.1, 0.5, 0.99, 1.0, 1.01, 2.0, 8.0]
    for width, noise, (eta, alpha0), ridge in itertools.product(
        (0.5, 1.0, 2.0), (0.0, 0.2), ((0.0, 0.0), (2.0, 2.0), (5.0, 0.5)), (1e-3, 0.1, 10.0)
    ):
        curve = theory_curve(Problem(student, teacher, eta, alpha0, width, noise), alphas, ridge)
        for p in curve.points + curve.baseline:  # type: ignore[operator]
            assert p.converged, (student, teacher, width, noise, eta, alpha0, ridge, p.alpha)
            assert math.isfinite(p.test_error) and p.test_error >= noise * (1 - 1e-9)
            assert p.train_error >= 0


def test_ridgeless_limit_and_interpolation_peak_is_flagged() -> None:
    problem = Problem("tanh", "sin", 3.0, 20.0, 1.0)
    curve = theory_curve(problem, [0.3, 1.0, 3.0], 0.0)
    base = curve.baseline
    assert base[0].converged and base[2].converged and curve.points[2].converged
    # λ = 0 at α = ψ_w is the interpolation peak: ε_g = ∞, so no finite fixed point is claimed.
    assert not base[1].converged and not curve.points[1].converged
    assert any("ridgeless limit" in w for w in curve.warnings)
    tiny = theory_curve(problem, [0.3, 3.0], 1e-9)
    assert tiny.baseline[0].test_error == pytest.approx(base[0].test_error, rel=1e-6)
    assert tiny.baseline[1].test_error == pytest.approx(base[2].test_error, rel=1e-6)
    assert tiny.points[1].test_error == pytest.approx(curve.points[2].test_error, rel=1e-6)


def test_order_of_alphas_is_kept_and_warm_start_does_not_change_results() -> None:
    alphas = [2.0, 0.3, 1.1]
    curve = theory_curve(REFERENCE, alphas, 0.1)
    assert [p.alpha for p in curve.points] == alphas
    for p in curve.points:
        single = theory_curve(REFERENCE, [p.alpha], 0.1, baseline=False).points[0]
        assert p.test_error == pytest.approx(single.test_error, rel=1e-11)


def test_optimal_ridge_minimises_test_error() -> None:
    problem = Problem("tanh", "sin", 3.0, 20.0, 1.0, 0.1)
    alphas = [0.4, 1.0, 2.5]
    best = theory_curve(problem, alphas, "optimal")
    for point, base in zip(best.points, best.baseline, strict=True):
        assert point.converged and point.ridge >= 0
        for lam in np.geomspace(1e-4, 1e2, 25):
            fixed = theory_curve(problem, [point.alpha], float(lam))
            assert point.test_error <= fixed.points[0].test_error * (1 + 1e-9)
            assert base.test_error <= fixed.baseline[0].test_error * (1 + 1e-9)


def test_step_beats_random_features_on_reference_problem() -> None:
    curve = theory_curve(REFERENCE, REFERENCE_ALPHAS, 0.1)
    for p, b in zip(curve.points, curve.baseline, strict=True):
        assert p.test_error < b.test_error


def test_progress_is_reported_up_to_one() -> None:
    seen: list[float] = []
    theory_curve(REFERENCE, [0.5, 1.0, 2.0], 0.1, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0) and len(seen) == 6


def test_fixed_point_satisfies_the_literal_equations() -> None:
    # The solver reduces §5; the residual of the unreduced seven-variable map must vanish.
    problem = Problem("relu_centered", {"hermite": [0.2, 0.5, 0.4]}, 2.0, 2.0, 1.3, 0.2)
    srf = map_to_srf(problem)
    cm = conditional_moments(problem.student, problem.teacher, srf, problem.noise)
    fp = solve_fixed_point(cm, alpha=1.7, ridge=0.03, width=1.3, c=srf.c)
    assert fp.converged and fp.residual < 1e-12
    assert fp.m != 0.0  # the non-centred teacher needs the mean direction


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"learning_rate": -1}, "learning_rate"),
        ({"alpha0": float("nan")}, "alpha0"),
        ({"width": 0}, "width"),
        ({"noise": -0.1}, "noise"),
        ({"srf": {"c": 0, "r": 1, "gamma": 0.5}}, "srf.c"),
        ({"srf": {"c": 1, "r": 1, "gamma": 1.5}}, "srf.gamma"),
        ({"srf": {"c": 1, "r": 1}}, "srf"),
    ],
)
def test_invalid_problem_parameters_raise_typed_errors(kwargs, field) -> None:
    with pytest.raises(InvalidParameterError) as err:
        Problem("tanh", "sin", **kwargs)
    assert err.value.field == field


@pytest.mark.parametrize(
    ("alphas", "ridge", "field"),
    [
        ([], 0.1, "alphas"),
        ([0.5, -1.0], 0.1, "alphas[1]"),
        ([1.0], -0.5, "ridge"),
        ([1.0], "best", "ridge"),
        ([float("inf")], 0.1, "alphas[0]"),
    ],
)
def test_invalid_curve_arguments_raise_typed_errors(alphas, ridge, field) -> None:
    with pytest.raises(InvalidParameterError) as err:
        theory_curve(REFERENCE, alphas, ridge)
    assert err.value.field == field


@pytest.mark.slow
def test_engine_agrees_with_naive_nested_quadrature_implementation() -> None:
    """Independent implementation of the literal equations (benchmarks/naive_theory.py)."""
    import importlib.util
    from pathlib import Path

    # Loaded from its file: putting benchmarks/ on sys.path would let benchmarks/distributed.py shadow
    # the dask package in worker processes started later in the same session.
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "naive_theory.py"
    spec = importlib.util.spec_from_file_location("naive_theory", path)
    assert spec is not None and spec.loader is not None
    naive = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(naive)
    naive_point = naive.naive_point

    for problem, alpha, ridge in [
        (REFERENCE, 0.9, 0.1),
        (Problem("relu_centered", "tanh", 2.0, 2.0, 0.7, 0.2), 1.3, 0.1),
    ]:
        test, train, iterations = naive_point(problem, alpha, ridge, tol=1e-9, max_iter=150)
        assert iterations < 150  # the damped iteration converged
        # the naive code is §5 with the paper's mapping and the Marchenko–Pastur bulk
        point = theory_curve(
            problem, [alpha], ridge, baseline=False, mapping="paper", bulk="marchenko_pastur"
        ).points[0]
        assert point.test_error == pytest.approx(test, rel=1e-5)
        assert point.train_error == pytest.approx(train, rel=1e-5)


def test_small_ridge_below_the_width_is_warned_not_changed() -> None:
    """docs/theory.md §10.6: at λ = 1e-6, α = 0.3 the limit (0.914) is right but needs d ≳ 4.5e5 to show
    in a simulation (sRF at d = 2000: 0.43 ± 0.06); the point is kept and warned about, α = 2 is not."""
    problem = Problem("tanh", "sin", srf=SRFParams(1.01897320, 1.13405551, 0.97185444))
    curve = theory_curve(problem, [0.3, 2.0], 1e-6, baseline=False)
    assert all(p.converged for p in curve.points)
    assert curve.points[0].test_error == pytest.approx(0.9140, rel=1e-3)
    (warning,) = [w for w in curve.warnings if "small ridge below the width" in w]
    assert "ridge=1e-06, alpha=0.3 (d ≳ 4.5e+05)" in warning
    assert "alpha=2" not in warning
    assert not any("small ridge" in w for w in theory_curve(problem, [0.3, 2.0], 0.1).warnings)
