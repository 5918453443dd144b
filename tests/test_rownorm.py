"""The row-norm channel of docs/theory.md §10.4: its weight V_c (derived), μ0c, and the solver with it."""

from __future__ import annotations

import importlib.util
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from srf_engine.problem import Problem, SRFParams
from srf_engine.theory.bulk import QuadratureBulk
from srf_engine.theory.conditional import conditional_moments
from srf_engine.theory.curve import theory_curve
from srf_engine.theory.mapping import map_to_srf, step_statistics
from srf_engine.theory.quadrature import marchenko_pastur_rule
from srf_engine.theory.rownorm import mu0_c, row_norm_spread, slope_moments
from srf_engine.theory.solver import RowNormChannel, solve_fixed_point

HERMITE = {"hermite": [0.5, 0.8, 0.3]}


def test_slope_moments_match_closed_forms() -> None:
    # relu: τ = 1{u > 0} − 1/2, so uτ = |u|/2 and τ² ≡ 1/4
    relu = slope_moments(Problem("relu", "tanh", 2.0, 2.0).student)
    assert relu.b1 == pytest.approx(1 / math.sqrt(2 * math.pi), abs=1e-12)
    assert relu.var_u_tau == pytest.approx(0.25 - 1 / (2 * math.pi), abs=1e-12)
    assert relu.tau2 == pytest.approx(0.25, abs=1e-12)
    assert relu.var_tau2 == pytest.approx(0.0, abs=1e-12)
    assert relu.u2_tau == pytest.approx(0.0, abs=1e-12) and relu.u_tau2 == pytest.approx(0.0, abs=1e-12)
    # 0.5 + 0.8 He1 + 0.3 He2/√2: τ = k u with k = 0.3 √2
    k = 0.3 * math.sqrt(2)
    herm = slope_moments(Problem(HERMITE, "tanh", 2.0, 2.0).student)
    assert herm.b1 == pytest.approx(k, rel=1e-12)
    assert herm.var_u_tau == pytest.approx(2 * k * k, rel=1e-12)  # Var(k u²)
    assert herm.var_tau2 == pytest.approx(2 * k**4, rel=1e-12)
    assert herm.cov_u_tau_tau2 == pytest.approx(2 * k**3, rel=1e-12)


def test_spread_terms_follow_the_step_statistics() -> None:
    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    st = step_statistics(problem)
    spread = row_norm_spread(problem)
    shrink = st.row_shrink
    assert spread.a_term == pytest.approx(
        4 * 4 * shrink**2 * st.e2 * (0.25 - 1 / (2 * math.pi)) / 2, rel=1e-9
    )
    assert spread.o_term == pytest.approx(2 * 16 * st.e2**2 * 0.25**2 / 4, rel=1e-9)
    assert abs(spread.d_term) + abs(spread.ad_term) + abs(spread.overlap_term) < 1e-12
    # proportional to the width; none without a step
    wide = row_norm_spread(Problem("relu", "tanh", 2.0, 2.0, 2.0, 0.0))
    assert wide.V_c == pytest.approx(2 * spread.V_c, rel=1e-12)
    assert row_norm_spread(Problem("relu", "tanh", 0.0, 2.0)).V_c == 0.0
    assert row_norm_spread(Problem("relu", "tanh", 2.0, 0.0)).V_c == 0.0


def test_mu0c_is_half_the_mean_second_derivative() -> None:
    # relu: μ0 = m Φ(m/s) + s φ(m/s), so ∂μ0/∂c = φ(m/s)/(2s) with s = √c
    srf = SRFParams(c=0.8, r=0.7, gamma=0.6)
    kappa = np.linspace(-4, 4, 41)
    got = mu0_c(Problem("relu", "tanh", 2.0, 2.0).student, srf, kappa)
    s = math.sqrt(srf.c)
    assert np.allclose(got, stats.norm.pdf(srf.r * kappa / s) / (2 * s), atol=1e-9)


def _isotropic(width: float, c: float, extra: float = 0.0) -> QuadratureBulk:
    rule = marchenko_pastur_rule(width, 2048)
    D = c * rule.nodes
    return QuadratureBulk(D, rule.weights, np.full_like(D, c + extra), D, np.zeros_like(D))


@pytest.mark.parametrize("width", [0.5, 2.0])
def test_channel_along_the_spike_function_is_a_heavier_spike(width) -> None:
    """With ``μ0c = κ μ1`` the channel is the spike's own function: ``t + s`` must be the spike overlap
    of a bulk with ``F ≡ c + V_c/ψ_w`` and no channel (an independent route through the solver)."""
    problem = Problem("relu", "tanh", 2.0, 2.0, width, 0.1)
    srf = map_to_srf(problem, "corrected")
    cm = conditional_moments(problem.student, problem.teacher, srf, problem.noise)
    weight = 0.6
    channel = RowNormChannel(cm.kappa * cm.mu1, weight)
    kw = {"alpha": 1.3, "ridge": 0.05, "width": width, "c": srf.c}
    with_channel = solve_fixed_point(cm, bulk=_isotropic(width, srf.c), channel=channel, **kw)
    heavier = solve_fixed_point(cm, bulk=_isotropic(width, srf.c, weight / width), **kw)
    assert with_channel.converged and heavier.converged and with_channel.residual < 1e-10
    assert with_channel.s != 0.0
    assert with_channel.test_error == pytest.approx(heavier.test_error, rel=1e-10)
    assert with_channel.train_error == pytest.approx(heavier.train_error, rel=1e-10)
    assert with_channel.t + with_channel.s == pytest.approx(heavier.t, rel=1e-10)
    for name in ("q1", "q2", "V1", "V2", "psi", "m"):
        assert getattr(with_channel, name) == pytest.approx(getattr(heavier, name), rel=1e-10, abs=1e-13)


def test_zero_weight_channel_is_the_equations_without_it() -> None:
    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    srf = map_to_srf(problem, "corrected")
    cm = conditional_moments(problem.student, problem.teacher, srf, problem.noise)
    kw = {"alpha": 0.7, "ridge": 0.05, "width": 1.0, "c": srf.c}
    plain = solve_fixed_point(cm, **kw)
    zero = solve_fixed_point(cm, channel=RowNormChannel(mu0_c(problem.student, srf, cm.kappa), 0.0), **kw)
    assert zero.converged and zero.s == 0.0
    assert zero.test_error == pytest.approx(plain.test_error, rel=1e-12)
    assert zero.train_error == pytest.approx(plain.train_error, rel=1e-12)


def test_row_norm_option_moves_only_the_one_step_theory() -> None:
    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    alphas = [0.5, 2.0]
    for mapping, bulk in (("paper", "marchenko_pastur"), ("corrected", "marchenko_pastur")):
        off = theory_curve(problem, alphas, 0.05, baseline=False, mapping=mapping, bulk=bulk, row_norm=False)
        on = theory_curve(problem, alphas, 0.05, baseline=False, mapping=mapping, bulk=bulk, row_norm=True)
        assert [p.test_error for p in on.points] == [p.test_error for p in off.points]
    off = theory_curve(problem, alphas, 0.05, baseline=False, bulk="one_step", row_norm=False)
    on = theory_curve(problem, alphas, 0.05, baseline=False, bulk="one_step", row_norm=True)
    assert all(p.converged for p in on.points)
    assert all(abs(a.test_error - b.test_error) > 1e-4 for a, b in zip(on.points, off.points, strict=True))


def _benchmark():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "rownorm.py"
    spec = importlib.util.spec_from_file_location("rownorm_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.parametrize(
    ("student", "alpha0", "width"),
    [("relu", 2.0, 1.0), ("relu_centered", 1.0, 2.0), (HERMITE, 2.0, 1.0), ("erf", 5.0, 1.0)],
)
def test_predicted_row_norm_spread_against_sampled_first_layers(student, alpha0, width) -> None:
    """V_c derived (docs/theory.md §10.4) against first steps drawn as the simulations draw them."""
    problem = Problem(student, "tanh", 2.0, alpha0, width, 0.0)
    bench = _benchmark()
    runs = [bench.sampled(problem, 600, seed) for seed in range(4)]
    measured = np.array([r["norms"] for r in runs])
    predicted = row_norm_spread(problem).V_c
    sem = measured.std(ddof=1) / math.sqrt(len(runs))
    assert abs(predicted - measured.mean()) <= max(0.06 * predicted, 3 * sem)
    # the first layer's own V_c adds only the 1/d part of the mean row and Π
    v_c = np.mean([r["V_c"] for r in runs])
    assert abs(v_c - measured.mean()) <= 0.1 * predicted


def test_row_norm_over_http_and_in_the_learned_function(tmp_path: Path) -> None:
    """`row_norm` is a request field: it changes a non-centred student's curve, is reported, changes the
    cache key, and the learned function then carries μ0c(κ)·s (docs/theory.md §10.4)."""
    from test_service_support import client

    from srf_engine.theory.function import learned_function, mean_prediction

    body = {
        "student": "relu",
        "teacher": "tanh",
        "learning_rate": 2.0,
        "alpha0": 2.0,
        "ridge": 0.05,
        "alphas": [0.5, 2.0],
    }
    with client(tmp_path) as http:
        plain = http.post("/theory/curve", json={**body, "row_norm": False}).json()
        channel = http.post("/theory/curve", json={**body, "row_norm": True}).json()
        odd = http.post("/theory/curve", json={**body, "student": "erf", "row_norm": True}).json()
        bad = http.post("/theory/curve", json={**body, "row_norm": "yes please"})
    assert (plain["row_norm"], channel["row_norm"], odd["row_norm"]) == (False, True, False)
    assert plain["key"] != channel["key"]
    assert "s" in channel["points"][0]["overlaps"] and "s" not in plain["points"][0]["overlaps"]
    assert abs(channel["points"][0]["test_error"] / plain["points"][0]["test_error"] - 1) > 1e-3
    assert bad.status_code == 422 and "row_norm" in bad.text

    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    kappa = np.linspace(-2.0, 2.0, 9)
    f = learned_function(problem, [0.5], 0.05, kappa=list(kappa), row_norm=True)
    point = theory_curve(problem, [0.5], 0.05, row_norm=True).points[0]
    assert f.row_norm and point.overlaps["s"] != 0.0
    without_s = mean_prediction(problem, f.srf, replace(point, overlaps=point.overlaps | {"s": 0.0}), kappa)
    np.testing.assert_allclose(
        np.array(f.points[0].after_step) - without_s,
        mu0_c(problem.student, f.srf, kappa) * point.overlaps["s"],
    )
