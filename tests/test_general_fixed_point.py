"""The general fixed point of docs/theory.md §10.1 against §5, and a spike's projections that matter."""

from __future__ import annotations

import numpy as np
import pytest

from srf_engine.problem import Problem
from srf_engine.theory.bulk import QuadratureBulk
from srf_engine.theory.conditional import conditional_moments
from srf_engine.theory.mapping import map_to_srf
from srf_engine.theory.quadrature import marchenko_pastur_rule
from srf_engine.theory.solver import solve_fixed_point

PROBLEM = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.1)


def _isotropic_nodes(width: float, c: float, size: int = 4096) -> QuadratureBulk:
    rule = marchenko_pastur_rule(width, size)
    D = c * rule.nodes
    return QuadratureBulk(D, rule.weights, np.full_like(D, c), D, np.zeros_like(D))


@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
@pytest.mark.parametrize(("alpha", "ridge"), [(0.3, 0.05), (1.7, 0.01), (4.0, 1.0)])
def test_general_path_with_isotropic_projections_is_section_5(width, alpha, ridge) -> None:
    srf = map_to_srf(PROBLEM)
    cm = conditional_moments(PROBLEM.student, PROBLEM.teacher, srf, PROBLEM.noise)
    iso = solve_fixed_point(cm, alpha=alpha, ridge=ridge, width=width, c=srf.c)
    gen = solve_fixed_point(
        cm, alpha=alpha, ridge=ridge, width=width, c=srf.c, bulk=_isotropic_nodes(width, srf.c)
    )
    assert iso.converged and gen.converged and gen.residual < 1e-10
    assert gen.test_error == pytest.approx(iso.test_error, rel=1e-9)
    assert gen.train_error == pytest.approx(iso.train_error, rel=1e-9)
    for name, value in iso.overlaps().items():
        assert getattr(gen, name) == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_cross_projection_and_anisotropic_spike_change_the_answer_consistently() -> None:
    # C ≠ 0 and an F that sits on the top of the bulk move the errors; the literal seven-variable
    # residual (evaluated node by node) must still vanish at the reduced solver's answer.
    width, c = 1.0, map_to_srf(PROBLEM).c
    rule = marchenko_pastur_rule(width, 2048)
    D = c * rule.nodes
    F = D.copy()  # E F = c (E D = c) but weighted towards large D
    C = 0.2 * np.sqrt(F * D)
    srf = map_to_srf(PROBLEM)
    cm = conditional_moments(PROBLEM.student, PROBLEM.teacher, srf, PROBLEM.noise)
    iso = solve_fixed_point(cm, alpha=1.0, ridge=0.05, width=width, c=c)
    gen = solve_fixed_point(
        cm, alpha=1.0, ridge=0.05, width=width, c=c, bulk=QuadratureBulk(D, rule.weights, F, D, C)
    )
    assert gen.converged and gen.residual < 1e-10
    assert abs(gen.test_error / iso.test_error - 1) > 1e-3
