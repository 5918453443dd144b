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
from dataclasses import dataclass, fields

import numpy as np

from ..activations import Activation
from ..problem import SRFParams
from .quadrature import kappa_rule

Array = np.ndarray

DEFAULT_KAPPA_NODES = 200
#: Nodes whose every term is below this fraction of the largest term are dropped (see ``_significant``).
NEGLIGIBLE_TERM = 1e-32
#: Nodes of weight below this fraction of the largest are evaluated only when ``_significant`` asks
#: (``|κ| ≳ 19``): the bound of a polynomial amplitude of degree ≤ 31 falls monotonically there.
CENTRAL_WEIGHT = 1e-80


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


#: ``|κ|`` within which a Gauss–Hermite rule's nodes are evaluated (weight ≥ ``CENTRAL_WEIGHT`` of the
#: largest) and kept for bounded amplitudes (``w (1 + κ²)² ≥ NEGLIGIBLE_TERM`` of the largest).
EVALUATED_HALF_WIDTH = 19.2
KEPT_HALF_WIDTH = 12.85


def kappa_nodes_used(n: int) -> tuple[int, int]:
    """``(evaluated, kept)`` nodes of a Gauss–Hermite ``κ`` rule of ``n`` nodes for bounded amplitudes
    (the time model's node counts), without building the rule: its nodes follow the semicircle law of
    radius ``2√n``, so a fraction ``(2/π)(arcsin u + u√(1 − u²))``, ``u = X/(2√n)``, lie within
    ``|κ| < X``."""

    def within(half_width: float) -> int:
        u = min(1.0, half_width / (2.0 * math.sqrt(n)))
        return min(n, math.ceil(n * 2.0 / math.pi * (math.asin(u) + u * math.sqrt(1.0 - u * u))))

    return within(EVALUATED_HALF_WIDTH), within(KEPT_HALF_WIDTH)


def conditional_moments(
    student: Activation,
    teacher: Activation,
    srf: SRFParams,
    noise: float,
    n_kappa: int = DEFAULT_KAPPA_NODES,
    refine: int = 1,
) -> ConditionalMoments:
    """Evaluate the conditional moments of §4 on the ``κ`` rule (``refine`` multiplies all nodes),
    keeping the nodes whose terms can matter (``_significant``)."""
    rule = kappa_rule(kappa_nodes(n_kappa, srf) * refine, _kappa_kinks(teacher, srf))
    # First the nodes of weight ≥ CENTRAL_WEIGHT (|κ| ≲ 19): the far ones are needed only where the
    # bound is not yet negligible at the edge of these (an amplitude growing too fast to be cut here).
    inner = np.flatnonzero(rule.weights >= CENTRAL_WEIGHT * rule.weights.max())
    central = slice(int(inner[0]), int(inner[-1]) + 1)
    cm = _evaluate(student, teacher, srf, noise, refine, rule.nodes[central], rule.weights[central])
    keep = _significant(cm)
    edge = keep.start == 0 or keep.stop == cm.kappa.size
    if edge and cm.kappa.size < rule.size:
        cm = _evaluate(student, teacher, srf, noise, refine, rule.nodes, rule.weights)
        keep = _significant(cm)
    return ConditionalMoments(*(getattr(cm, f.name)[keep] for f in fields(ConditionalMoments)))


def _evaluate(
    student: Activation,
    teacher: Activation,
    srf: SRFParams,
    noise: float,
    refine: int,
    kappa: Array,
    weights: Array,
) -> ConditionalMoments:
    sqrt_c = math.sqrt(srf.c)
    m0, mz, m2 = student.gaussian_moments(srf.r * kappa, np.full_like(kappa, sqrt_c), refine)
    mu1 = mz / sqrt_c
    mu2 = np.sqrt(np.clip(m2 - m0 * m0 - srf.c * mu1 * mu1, 0.0, None))
    h, h1, t2 = teacher.gaussian_moments(srf.gamma * kappa, np.full_like(kappa, srf.rho), refine)
    return ConditionalMoments(kappa, weights, m0, mu1, mu2, h, h1, t2 + noise)


def _significant(cm: ConditionalMoments) -> slice:
    """The nodes between the first and the last whose terms can matter.

    A Gauss–Hermite rule of ``n`` nodes spreads them to ``|κ| ≈ 2√n``, and beyond ``|κ| ≈ 12`` their
    weights fall below ``1e-31``: at the ``(r/√c)²``-grown rules of a large step most nodes carry
    nothing. Every sum of §5 is ``E_κ`` of a product of at most four of ``μ0, μ1, μ2, h, h1`` (or two
    and ``hh``), with ``κ`` at most squared; a node whose bound ``w (1 + κ²)² a²``,
    ``a = 1 + μ0² + μ1² + μ2² + h² + h1² + |hh|``, is below ``NEGLIGIBLE_TERM`` times the largest
    contributes less than that fraction of the sum's scale to any of them, for any activation (a
    polynomial teacher of high degree keeps its far nodes, where its values are large).
    """
    a = 1.0 + np.abs(cm.hh)
    for values in (cm.mu0, cm.mu1, cm.mu2, cm.h, cm.h1):
        a += values * values
    bound = cm.weights * (1.0 + cm.kappa * cm.kappa) ** 2 * a * a
    if not np.all(np.isfinite(bound)):  # keep everything: the solver's checks see the non-finite values
        return slice(0, cm.kappa.size)
    kept = np.flatnonzero(bound >= NEGLIGIBLE_TERM * bound.max())
    return slice(int(kept[0]), int(kept[-1]) + 1)
