"""Extrapolation of simulated means in 1/d (docs/theory.md §9)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srf_engine import InvalidParameterError
from srf_engine.extrapolation import extrapolate_in_inverse_dimension


def test_exact_line_in_inverse_dimension_is_recovered() -> None:
    dims = [400, 800, 1600]
    means = [0.035 + 1.1 / d for d in dims]
    fit = extrapolate_in_inverse_dimension(dims, means, [1e-3, 1e-3, 1e-3])
    assert fit.limit == pytest.approx(0.035, rel=1e-12)
    assert fit.slope == pytest.approx(1.1, rel=1e-10)


def test_standard_error_matches_monte_carlo_scatter() -> None:
    rng = np.random.default_rng(0)
    dims = np.array([400, 800, 1600])
    sems = np.array([0.002, 0.0015, 0.001])
    fits = [
        extrapolate_in_inverse_dimension(dims, 0.03 + 2.0 / dims + sems * rng.standard_normal(3), sems)
        for _ in range(4000)
    ]
    limits = np.array([f.limit for f in fits])
    assert abs(limits.mean() - 0.03) < 4 * limits.std() / math.sqrt(len(limits))
    assert fits[0].limit_sem == pytest.approx(limits.std(), rel=0.05)


def test_two_dimensions_give_the_line_through_them() -> None:
    fit = extrapolate_in_inverse_dimension([500, 1000], [0.05, 0.045], [0.0, 0.0])
    assert fit.limit == pytest.approx(0.04)
    assert math.isnan(fit.limit_sem)  # one seed and two points: no noise estimate


@pytest.mark.parametrize(
    ("dims", "means", "sems"), [([500], [0.1], [0.01]), ([500, 500], [0.1, 0.2], [0, 0])]
)
def test_too_few_dimensions_are_refused(dims, means, sems) -> None:
    with pytest.raises(InvalidParameterError):
        extrapolate_in_inverse_dimension(dims, means, sems)
