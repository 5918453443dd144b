"""Activations: Gaussian moments against adaptive quadrature, registry and Hermite parsing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from srf_engine import ACTIVATIONS, InvalidParameterError, get_activation, hermite_activation

GAUSS = 1.0 / math.sqrt(2.0 * math.pi)


def reference_moments(fn, mean: float, std: float) -> tuple[float, float, float]:
    """``E σ(m+sz), E zσ(m+sz), E σ²`` by adaptive quadrature split at the kink of relu."""
    # Split where σ(m + s z) changes (|m + s z| ≤ 20), as adaptive quadrature cannot find a step
    # of width 1/s by itself.
    points = sorted({-mean / std, (-20 - mean) / std, (20 - mean) / std}) if std > 0 else None

    def expect(g):
        return integrate.quad(
            lambda z: g(z) * GAUSS * math.exp(-0.5 * z * z),
            -40,
            40,
            points=points,
            epsabs=1e-15,
            epsrel=1e-13,
            limit=500,
        )[0]

    def sigma(z):
        return float(fn(np.array(mean + std * z)))

    return expect(sigma), expect(lambda z: z * sigma(z)), expect(lambda z: sigma(z) ** 2)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize(("mean", "std"), [(0.0, 1.0), (0.7, 1.3), (-1.9, 0.4), (2.5, 2.0)])
def test_gaussian_moments_match_adaptive_quadrature_to_1e_10(name: str, mean: float, std: float) -> None:
    act = ACTIVATIONS[name]
    got = act.gaussian_moments(np.array([mean]), np.array([std]))
    want = reference_moments(act.fn, mean, std)
    for g, w in zip(got, want, strict=True):
        assert abs(float(g[0]) - w) <= 1e-10 * max(1.0, abs(w))


@pytest.mark.parametrize("name", ["tanh", "erf"])
@pytest.mark.parametrize(("mean", "std"), [(0.3, 3.0), (-1.0, 25.0), (40.0, 300.0), (0.0, 5000.0)])
def test_wide_scale_moments_stay_accurate(name: str, mean: float, std: float) -> None:
    # Large c makes σ(rκ + √c z) a near-step in z; Gauss–Hermite alone would lose digits here.
    act = ACTIVATIONS[name]
    got = act.gaussian_moments(np.array([mean]), np.array([std]))
    want = reference_moments(act.fn, mean, std)
    for g, w in zip(got, want, strict=True):
        assert abs(float(g[0]) - w) <= 1e-10 * max(1.0, abs(w))


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_second_moment_matches_quadrature(name: str) -> None:
    act = ACTIVATIONS[name]
    want = integrate.quad(
        lambda z: float(act.derivative(np.array(z))) ** 2 * GAUSS * math.exp(-0.5 * z * z),
        -40,
        40,
        points=[0.0],
        epsabs=1e-14,
        limit=500,
    )[0]
    assert act.derivative_second_moment == pytest.approx(want, rel=1e-10, abs=1e-12)


def test_stein_identity_first_hermite_coefficient_is_mean_derivative() -> None:
    # μ1 = E[z σ(z)] = E[σ'(z)]: the mapping uses the first as the second.
    for act in ACTIVATIONS.values():
        _, mu1, _ = act.standard_moments()
        want = integrate.quad(
            lambda z, a=act: float(a.derivative(np.array(z))) * GAUSS * math.exp(-0.5 * z * z),
            -40,
            40,
            points=[0.0],
            limit=500,
        )[0]
        assert mu1 == pytest.approx(want, abs=1e-10)


def test_centering_flags() -> None:
    assert not ACTIVATIONS["relu"].centered
    assert ACTIVATIONS["relu"].mean == pytest.approx(1.0 / math.sqrt(2.0 * math.pi), rel=1e-14)
    for name in ("linear", "tanh", "sin", "erf", "relu_centered", "he2", "he3"):
        assert ACTIVATIONS[name].centered, name


def test_hermite_coefficients_define_orthonormal_expansion() -> None:
    coeffs = [0.1, 0.5, 0.3, -0.2]
    act = get_activation({"hermite": coeffs})
    mean, mu1, second = act.standard_moments()
    assert mean == pytest.approx(0.1, abs=1e-14)
    assert mu1 == pytest.approx(0.5, abs=1e-14)
    assert second == pytest.approx(sum(c * c for c in coeffs), rel=1e-13)
    assert act.derivative_second_moment == pytest.approx(sum(k * c * c for k, c in enumerate(coeffs)))
    z = np.linspace(-3, 3, 7)
    assert np.allclose(hermite_activation([0, 0, 1]).fn(z), ACTIVATIONS["he2"].fn(z))
    assert np.allclose(ACTIVATIONS["he3"].fn(z), (z**3 - 3 * z) / math.sqrt(6))


@pytest.mark.parametrize(
    "spec",
    [
        "softmax",
        "__import__('os')",
        {"hermite": []},
        {"hermite": ["a"]},
        {"hermite": [float("nan")]},
        {"hermite": [0.0] * 40},
        {"poly": [1]},
        3.0,
    ],
)
def test_bad_activation_specs_raise_typed_errors(spec: object) -> None:
    with pytest.raises(InvalidParameterError) as err:
        get_activation(spec, "student")
    assert err.value.field == "student"
