"""Conditional Gaussian equivalence on a ``κ`` grid (docs/theory.md §4).

Given ``κ = v·x/√d``, neuron ``i`` sees ``rκ + √c z_i`` and its feature is equivalent to
``μ0(κ) + μ1(κ)(√c W0 x)_i + μ2(κ) ξ_i`` with

    μ0 = E_z σ(rκ + √c z),  μ1 = E_z[z σ(rκ + √c z)]/√c,  μ2² = E_z σ(rκ + √c z)² − μ0² − c μ1².

The target ``σ*(γκ + ρν) + √Δ ξ`` enters through ``h = E_ν σ*``, ``h1 = E_ν[ν σ*]``,
``hh = E_ν σ*² + Δ``. All are computed once per ``(σ, σ*, c, r, γ, Δ)`` and reused for every
``α``, ``λ`` and iteration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..activations import Activation
from ..problem import SRFParams
from .quadrature import kappa_rule

Array = np.ndarray

DEFAULT_KAPPA_NODES = 200


@dataclass(frozen=True)
class ConditionalMoments:
    """``κ`` nodes and weights with ``μ0, μ1, μ2, h, h1, hh`` at each node."""

    kappa: Array
    weights: Array
    mu0: Array
    mu1: Array
    mu2: Array
    h: Array
    h1: Array
    hh: Array

    def expect(self, values: Array) -> float:
        """``E_κ[values(κ)]``."""
        return float(self.weights @ values)


def _kappa_kinks(teacher: Activation, srf: SRFParams) -> tuple[float, ...]:
    """Kinks (or near-kinks) of the ``κ`` integrand: a kinked teacher at ``γκ = kink`` is smoothed
    only over a width ``ρ/|γ|`` in ``κ``; below 0.3 the rule is split there."""
    if teacher.smooth or srf.gamma == 0.0 or srf.rho > 0.3 * abs(srf.gamma):
        return ()
    return tuple(k / srf.gamma for k in teacher.kinks)


def kappa_nodes(n_kappa: int, srf: SRFParams) -> int:
    """``κ`` nodes for a student seen through ``rκ + √c z``: its conditional moments vary on the
    scale ``√c/r`` in ``κ``, and Gauss–Hermite needs nodes growing like ``(r/√c)²`` to keep pace."""
    ratio = srf.r * srf.r / srf.c
    factor = 1
    while factor < ratio and factor < 64:
        factor *= 2  # powers of two, so that rules are cached
    return n_kappa * factor


def conditional_moments(
    student: Activation,
    teacher: Activation,
    srf: SRFParams,
    noise: float,
    n_kappa: int = DEFAULT_KAPPA_NODES,
    refine: int = 1,
) -> ConditionalMoments:
    """Evaluate the conditional moments of §4 on the ``κ`` rule (``refine`` multiplies all nodes)."""
    rule = kappa_rule(kappa_nodes(n_kappa, srf) * refine, _kappa_kinks(teacher, srf))
    kappa = rule.nodes
    sqrt_c = math.sqrt(srf.c)
    m0, mz, m2 = student.gaussian_moments(srf.r * kappa, np.full_like(kappa, sqrt_c), refine)
    mu1 = mz / sqrt_c
    mu2 = np.sqrt(np.clip(m2 - m0 * m0 - srf.c * mu1 * mu1, 0.0, None))
    h, h1, t2 = teacher.gaussian_moments(srf.gamma * kappa, np.full_like(kappa, srf.rho), refine)
    return ConditionalMoments(
        kappa=kappa,
        weights=rule.weights,
        mu0=m0,
        mu1=mu1,
        mu2=mu2,
        h=h,
        h1=h1,
        hh=t2 + noise,
    )
