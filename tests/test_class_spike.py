"""The spike's class-wise forms on the one-step bulk (docs/theory.md §12.4), part of ``bulk="one_step"``."""

from __future__ import annotations

import numpy as np
import pytest

from srf_engine import Problem
from srf_engine.theory import class_curve
from srf_engine.theory.class_curve import readout_curve
from srf_engine.theory.class_onestep import OneStepClassSpectrum
from srf_engine.theory.readout import ReadoutLaw, map_classes


def test_the_woodbury_update_is_the_dense_inverse() -> None:
    rng = np.random.default_rng(1)
    d, k = 60, 2
    f = rng.uniform(0.3, 2.0, (d, k))
    q, _ = np.linalg.qr(rng.standard_normal((d, 2)))
    span = np.array([[0.8, 0.2], [0.2, -0.1]])
    u2, tau = np.array([1.0, 0.25]), np.array([0.5, 0.7])
    v1 = np.array([[0.9, 0.3], [0.3, 0.6]])
    y = np.linalg.inv(np.stack([np.diag(1 / (tau * f[j])) + v1 for j in range(d)]))
    pairs = ((0, 0), (1, 1), (0, 1))
    base = np.array([np.einsum("j,j,jkl->kl", q[:, a], q[:, b], y) for a, b in pairs])
    _, _, middle, ends = OneStepClassSpectrum._woodbury(y, f, q, span, u2, tau)
    got = base + np.array([ends[a] @ middle @ ends[b].T for a, b in pairs])
    big = np.zeros((k * d, k * d))
    for i in range(k):
        sigma = np.diag(f[:, i]) + u2[i] * q @ span @ q.T
        big[i * d : (i + 1) * d, i * d : (i + 1) * d] = np.linalg.inv(sigma) / tau[i]
        for m in range(k):
            big[i * d : (i + 1) * d, m * d : (m + 1) * d] += v1[i, m] * np.eye(d)
    inv = np.linalg.inv(big)
    def block(i: int, m: int) -> np.ndarray:
        return inv[i * d : (i + 1) * d, m * d : (m + 1) * d]

    rows = [[[q[:, a] @ block(i, m) @ q[:, b] for m in range(k)] for i in range(k)] for a, b in pairs]
    want = np.array(rows)
    assert np.max(np.abs(got - want)) < 1e-12 and np.max(np.abs(want - base)) > 1e-2


def _curve(monkeypatch, problem: Problem, spike: bool, flat_span: bool = False) -> list[float]:
    class Spectrum(OneStepClassSpectrum):
        def __init__(self, *args) -> None:
            super().__init__(*args, spike=spike)
            if flat_span:
                self.m2_weight = 0.0

    monkeypatch.setattr(class_curve, "OneStepClassSpectrum", Spectrum)
    curve = readout_curve(problem, [0.5, 2.0], 0.05, readout="rademacher", bulk="one_step")
    assert all(p.converged for p in curve.points)
    return [*curve.test_errors, *curve.train_errors]


def test_isotropic_rows_give_the_isotropic_spike(monkeypatch) -> None:
    # tanh: b1 = 0, so f_k(M) is flat; without M2's span part the forms are §12.2's isotropic ones
    problem = Problem("tanh", "tanh", 2.0, 2.0, 1.0, 0.0)
    plain = _curve(monkeypatch, problem, spike=False)
    forms = _curve(monkeypatch, problem, spike=True, flat_span=True)
    assert forms == pytest.approx(plain, rel=1e-8)


def test_the_anisotropic_spike_moves_the_small_alpha0_errors(monkeypatch) -> None:
    problem = Problem("relu", "tanh", 2.0, 1.0, 1.0, 0.0)
    plain = _curve(monkeypatch, problem, spike=False)
    forms = _curve(monkeypatch, problem, spike=True)
    change = np.array(forms) / np.array(plain) - 1.0
    assert np.all(change > 0.01) and np.all(change < 0.08)  # measured +3.4 … +3.7 %


@pytest.mark.parametrize("readout", ["rademacher", "asymmetric"])
def test_the_energy_partials_are_the_derivatives_of_the_forms(readout: str) -> None:
    # the exact ∂E/∂τ and ∂E/∂V̂1 of spike_q against central differences of the forms themselves
    law = ReadoutLaw((1.0, -0.5), (1 / 3, 2 / 3)) if readout == "asymmetric" else ReadoutLaw.named(readout)
    problem = Problem("relu", "tanh", 2.0, 1.0, 1.0, 0.0)
    spectrum = OneStepClassSpectrum(problem, law, map_classes(problem, law, "corrected").c)
    assert np.any(spectrum.m2_weight * spectrum.directions.m2_span != 0.0)  # the Woodbury part is exercised
    v1hat = np.array([[0.3, 0.1], [0.1, 0.5]])
    tau = spectrum.solve(v1hat, np.array([0.2, 0.3])).tau
    t_hat, psi_hat = np.array([0.7, -0.4]), np.array([0.5, 0.2])

    def energy(t: np.ndarray, v1: np.ndarray) -> float:
        f, h, c = spectrum._forms(t, v1)
        return float(t_hat @ f @ t_hat + psi_hat @ h @ psi_hat + 2.0 * t_hat @ c @ psi_hat)

    d_tau, d_v1 = spectrum._energy_partials(tau, v1hat, t_hat, psi_hat)
    step = 1e-5
    for m in range(2):
        e = np.eye(2)[m] * step * tau[m]
        want = (energy(tau + e, v1hat) - energy(tau - e, v1hat)) / (2 * step * tau[m])
        assert d_tau[m] == pytest.approx(want, rel=1e-7)
    for m, n in ((0, 0), (1, 1), (0, 1)):
        # V̂1 is symmetric: a change moves (m, n) and (n, m) together
        e = np.zeros((2, 2))
        e[m, n] = e[n, m] = step
        want = (energy(tau, v1hat + e) - energy(tau, v1hat - e)) / (2 * step)
        got = d_v1[m, n] + (d_v1[n, m] if m != n else 0.0)
        assert got == pytest.approx(want, rel=1e-7)
