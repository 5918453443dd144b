# ruff: noqa: B007, B023  (closures are used immediately inside the iteration, as in the reference)
"""A straightforward implementation of docs/theory.md §5, the way the public reference code does it.

Every ``κ`` average is ``scipy.integrate.quad`` over ``κ`` whose integrand computes ``μ0, μ1, μ2``
and the target conditionals by ``quad`` over ``z`` (nested adaptive quadrature), at every
iteration; the spectral averages are ``quad`` over the Marchenko–Pastur density; the fixed point
is plain damped iteration of all seven order parameters (damping 0.5, as in the reference).

It exists as the baseline of ``benchmarks/theory.py`` and as an independent cross-check of the
engine's reduced solver in the slow tests. It is deliberately not optimised.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate

from srf_engine.problem import Problem
from srf_engine.theory.mapping import map_to_srf

_GAUSS = 1.0 / math.sqrt(2.0 * math.pi)


def _expect(f, lo: float = -10.0, hi: float = 10.0) -> float:
    return integrate.quad(lambda z: f(z) * _GAUSS * math.exp(-0.5 * z * z), lo, hi, limit=200)[0]


def naive_point(
    problem: Problem,
    alpha: float,
    ridge: float,
    *,
    damping: float = 0.5,
    tol: float = 1e-9,
    max_iter: int = 2000,
) -> tuple[float, float, int]:
    """``(test error, training error, iterations)`` at one ``(α, λ)``."""
    srf = map_to_srf(problem)
    c, r, gamma, rho = srf.c, srf.r, srf.gamma, srf.rho
    sigma, teacher, noise, width = problem.student, problem.teacher, problem.noise, problem.width
    alpha_p = alpha / width
    sc = math.sqrt(c)

    def moments(kappa: float) -> tuple[float, ...]:
        mu0 = _expect(lambda z: float(sigma(r * kappa + sc * z)))
        mu1 = _expect(lambda z: z * float(sigma(r * kappa + sc * z))) / sc
        m2 = _expect(lambda z: float(sigma(r * kappa + sc * z)) ** 2)
        mu2 = math.sqrt(max(0.0, m2 - mu0**2 - c * mu1**2))
        h = _expect(lambda v: float(teacher(gamma * kappa + rho * v)))
        h1 = _expect(lambda v: v * float(teacher(gamma * kappa + rho * v)))
        hh = _expect(lambda v: float(teacher(gamma * kappa + rho * v)) ** 2) + noise
        return mu0, mu1, mu2, h, h1, hh

    a, b = (1 - math.sqrt(width)) ** 2, (1 + math.sqrt(width)) ** 2
    atom = max(0.0, 1.0 - 1.0 / width)

    def spectral(f) -> float:
        def density(x: float) -> float:
            return math.sqrt(max(0.0, (b - x) * (x - a))) / (2 * math.pi * width * x)

        return integrate.quad(lambda x: f(c * x) * density(x), a, b, limit=200)[0] + atom * f(0.0)

    q1 = q2 = V1 = V2 = t = psi = m = 0.0
    V1, V2 = 1.0, 1.0
    for iteration in range(1, max_iter + 1):

        def kexp(g, q1=q1, q2=q2, V1=V1, V2=V2, t=t, psi=psi, m=m):
            def integrand(kappa: float) -> float:
                mu0, mu1, mu2, h, h1, hh = moments(kappa)
                V = mu1**2 * V1 + mu2**2 * V2
                y_hat = mu0 * m + mu1 * kappa * t
                energy = hh - 2 * y_hat * h - 2 * mu1 * psi * h1 + y_hat**2 + mu1**2 * q1 + mu2**2 * q2
                return g(kappa, mu0, mu1, mu2, h, h1, V, y_hat, energy)

            return _expect(integrand)

        q1h = alpha_p * kexp(lambda k, m0, m1, m2, h, h1, V, y, e: m1**2 * e / (1 + V) ** 2)
        q2h = alpha_p * kexp(lambda k, m0, m1, m2, h, h1, V, y, e: m2**2 * e / (1 + V) ** 2)
        V1h = alpha_p * kexp(lambda k, m0, m1, m2, h, h1, V, y, e: m1**2 / (1 + V))
        V2h = alpha_p * kexp(lambda k, m0, m1, m2, h, h1, V, y, e: m2**2 / (1 + V))
        th = alpha_p * kexp(lambda k, m0, m1, m2, h, h1, V, y, e: k * m1 * (h - y) / (1 + V))
        psih = alpha_p * kexp(lambda k, m0, m1, m2, h, h1, V, y, e: m1 * h1 / (1 + V))
        num = kexp(lambda k, m0, m1, m2, h, h1, V, y, e: m0 * (h - m1 * k * t) / (1 + V))
        den = kexp(lambda k, m0, m1, m2, h, h1, V, y, e: m0**2 / (1 + V))

        def S(D: float) -> float:
            return ridge + V1h * D + V2h

        def A(D: float) -> float:
            return q1h * D + q2h + width * (c * th**2 + psih**2 * D)

        new = np.array(
            [
                spectral(lambda D: D * A(D) / S(D) ** 2),
                spectral(lambda D: A(D) / S(D) ** 2),
                spectral(lambda D: D / S(D)),
                spectral(lambda D: 1 / S(D)),
                width * c * th * spectral(lambda D: 1 / S(D)),
                width * psih * spectral(lambda D: D / S(D)),
                num / den if abs(den) > 1e-14 else 0.0,
            ]
        )
        old = np.array([q1, q2, V1, V2, t, psi, m])
        if np.max(np.abs(new - old) / (1 + np.abs(old))) < tol:
            break
        q1, q2, V1, V2, t, psi, m = damping * old + (1 - damping) * new
    test = kexp(lambda k, m0, m1, m2, h, h1, V, y, e: e)
    train = kexp(lambda k, m0, m1, m2, h, h1, V, y, e: e / (1 + V) ** 2)
    return test, train, iteration
