"""theory/mapping.py: network → sRF parameters (docs/theory.md §3), against Gauss–Hermite moments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srf_engine import Problem, SRFParams, map_to_srf, mapping_warnings

Z, W = np.polynomial.hermite_e.hermegauss(120)
W = W / W.sum()  # E over z ~ N(0, 1)


def expect(values: np.ndarray) -> float:
    return float(values @ W)


def test_no_step_is_random_features() -> None:
    for problem in (Problem("tanh", "sin", 0.0, 5.0), Problem("tanh", "sin", 2.0, 0.0)):
        srf = map_to_srf(problem)
        assert srf.c == 1.0 and srf.r == 0.0


@pytest.mark.parametrize(("eta", "alpha0", "noise"), [(3.0, 20.0, 0.0), (0.7, 2.5, 0.3)])
def test_tanh_sin_mapping_matches_independent_moments(eta: float, alpha0: float, noise: float) -> None:
    d_tanh = 1.0 - np.tanh(Z) ** 2
    mu1 = expect(d_tanh)
    varsigma2 = expect(d_tanh**2) - mu1**2
    mu1_star = expect(Z * np.sin(Z))
    y2 = expect(np.sin(Z) ** 2) + noise
    s = math.sqrt(mu1_star**2 + y2 / alpha0)
    srf = map_to_srf(Problem("tanh", "sin", eta, alpha0, 1.0, noise))
    assert srf.c == pytest.approx(1 + eta**2 * y2 * varsigma2 / alpha0, rel=1e-10)
    assert srf.r == pytest.approx(eta * mu1 * s, rel=1e-10)
    assert srf.gamma == pytest.approx(mu1_star / s, rel=1e-10)


def test_linear_student_has_no_bulk_rescaling() -> None:
    srf = map_to_srf(Problem("linear", "linear", 2.0, 4.0))
    s = math.sqrt(1 + 1 / 4.0)
    assert (
        srf.c == pytest.approx(1.0) and srf.r == pytest.approx(2.0 * s) and srf.gamma == pytest.approx(1 / s)
    )


def test_given_srf_is_used_as_is_and_warnings_flag_a_non_centred_student() -> None:
    given = SRFParams(1.5, 0.4, -0.2)
    assert map_to_srf(Problem("relu", "tanh", 3.0, 10.0, srf=given)) == given
    assert mapping_warnings(Problem("relu", "tanh", 3.0, 10.0))
    assert not mapping_warnings(Problem("relu", "tanh", 3.0, 10.0, srf=given))
    assert not mapping_warnings(Problem("tanh", "sin", 3.0, 10.0))
