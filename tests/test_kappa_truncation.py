"""The κ rule keeps only the nodes whose terms can matter (docs/theory.md §6.2): the errors are those of
the whole rule, with far fewer nodes."""

from __future__ import annotations

import numpy as np
import pytest

from srf_engine.activations import get_activation
from srf_engine.problem import Problem, SRFParams
from srf_engine.theory import conditional
from srf_engine.theory.curve import theory_curve

CASES = [
    ("tanh", "sin", 6.0),
    ("relu", "relu", 3.0),  # a kink: Gauss–Legendre panels when aligned
    ("erf", {"hermite": [0.0] * 31 + [1.0]}, 1.0),  # a teacher of degree 31: large far from κ = 0
    ("he3", "he2", 0.5),
]


def _errors(student, teacher, eta: float) -> list[float]:
    problem = Problem(student, teacher, eta, 20.0, 1.0, 0.1)
    curve = theory_curve(problem, [0.3, 1.0, 2.5], 0.05, bulk="marchenko_pastur")
    points = [*curve.points, *curve.baseline]
    assert all(p.converged for p in points)
    return [v for p in points for v in (p.test_error, p.train_error)]


@pytest.mark.parametrize(("student", "teacher", "eta"), CASES, ids=[f"{c[0]}-{c[2]}" for c in CASES])
def test_truncated_rule_gives_the_errors_of_the_whole_rule(monkeypatch, student, teacher, eta) -> None:
    truncated = _errors(student, teacher, eta)
    monkeypatch.setattr(conditional, "NEGLIGIBLE_TERM", 0.0)
    monkeypatch.setattr(conditional, "CENTRAL_WEIGHT", 0.0)
    whole = _errors(student, teacher, eta)
    assert truncated == pytest.approx(whole, rel=1e-11, abs=0.0)


def test_a_large_step_keeps_a_small_part_of_its_rule() -> None:
    srf = SRFParams(c=1.0, r=8.0, gamma=0.5)  # (r/√c)² = 64: the largest rule, 12800 nodes
    cm = conditional.conditional_moments(get_activation("tanh"), get_activation("sin"), srf, 0.0)
    assert conditional.kappa_nodes(conditional.DEFAULT_KAPPA_NODES, srf) == 12800
    assert 600 < cm.kappa.size < 1000
    assert 11.0 < max(abs(cm.kappa)) < 14.0
    assert abs(float(cm.weights.sum()) - 1.0) < 1e-14


def test_a_high_degree_teacher_keeps_its_far_nodes() -> None:
    srf = SRFParams(c=1.0, r=0.5, gamma=1.0)
    smooth = conditional.conditional_moments(get_activation("tanh"), get_activation("sin"), srf, 0.0)
    wide = conditional.conditional_moments(
        get_activation("tanh"), get_activation({"hermite": [0.0] * 31 + [1.0]}, "teacher"), srf, 0.0
    )
    assert max(abs(wide.kappa)) > max(abs(smooth.kappa)) + 2.0


@pytest.mark.parametrize("n", [200, 800, 3200, 12800])
def test_the_time_models_node_counts_follow_the_rules(n: int) -> None:
    from srf_engine.theory.quadrature import kappa_rule

    rule = kappa_rule(n)
    bound = rule.weights * (1.0 + rule.nodes**2) ** 2
    kept = int(np.count_nonzero(bound >= conditional.NEGLIGIBLE_TERM * bound.max()))
    evaluated = int(np.count_nonzero(rule.weights >= conditional.CENTRAL_WEIGHT * rule.weights.max()))
    model = conditional.kappa_nodes_used(n)
    assert model[0] == pytest.approx(evaluated, rel=0.05) and model[1] == pytest.approx(kept, rel=0.05)
