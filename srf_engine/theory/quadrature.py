"""Quadrature rules of the theory: the ``κ`` average and the Marchenko–Pastur spectral average.

``κ ~ N(0, 1)``: probabilists' Gauss–Hermite, or Gauss–Legendre panels split at kinks when an
integrand has one (a kinked teacher with ``ρ = 0``).

``D`` runs over the spectrum of ``Ω = c W0 Π W0ᵀ``, ``D = c X`` with ``X`` Marchenko–Pastur of ratio
``ψ_w``: density ``√((b−x)(x−a))/(2π ψ_w x)`` on ``[a, b] = [(1 ∓ √ψ_w)²]`` plus an atom ``1 − 1/ψ_w``
at 0 when ``ψ_w > 1``. With ``x = (a+b)/2 + (b−a)/2 cos φ`` the density becomes smooth and even in
``φ``, so the trapezoidal rule in ``φ`` converges geometrically, at a rate set by the distance from
``[a, b]`` of the nearest pole of the integrand (``x = 0`` of the density, ``x = −w`` of ``1/S``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..activations import gauss_hermite

Array = np.ndarray

#: Target exponent of the trapezoidal error ``exp(−2Nδ)``: 2N δ ≥ 40 gives ≈ 1e-17.
_TRAPEZOID_EXPONENT = 40.0
MIN_SPECTRAL_NODES = 64
#: Largest Gauss–Legendre rule of one ``κ`` panel (see ``kappa_rule``).
MAX_LEGENDRE_NODES = 128
MAX_SPECTRAL_NODES = 1 << 16


@dataclass(frozen=True)
class Rule:
    """Nodes and weights with ``Σ weights·f(nodes) ≈ E f``."""

    nodes: Array
    weights: Array

    @property
    def size(self) -> int:
        return int(self.nodes.size)


@lru_cache(maxsize=32)
def kappa_rule(n: int, kinks: tuple[float, ...] = (), half_width: float = 13.0) -> Rule:
    """Rule for ``E_κ`` with ``κ ~ N(0, 1)``; split into Gauss–Legendre panels at ``kinks``."""
    if not kinks:
        nodes, weights = gauss_hermite(n)
        return Rule(nodes, weights)
    edges = sorted({-half_width, half_width, *(k for k in kinks if abs(k) < half_width)})
    per_panel = max(16, n // (len(edges) - 1))
    # Gauss–Legendre nodes cost O(m³) to compute (an eigenproblem): beyond MAX_LEGENDRE_NODES a panel
    # is split into equal sub-panels instead, which keeps the total node count at O(1) cost per node.
    pieces = math.ceil(per_panel / MAX_LEGENDRE_NODES)
    x, w = np.polynomial.legendre.leggauss(math.ceil(per_panel / pieces))
    edges = [
        float(lo + (hi - lo) * j / pieces) for lo, hi in itertools.pairwise(edges) for j in range(pieces)
    ] + [edges[-1]]
    nodes, weights = [], []
    for lo, hi in itertools.pairwise(edges):
        mid, half = 0.5 * (hi + lo), 0.5 * (hi - lo)
        k = mid + half * x
        nodes.append(k)
        weights.append(half * w * np.exp(-0.5 * k * k) / math.sqrt(2.0 * math.pi))
    return Rule(np.concatenate(nodes), np.concatenate(weights))


def marchenko_pastur_edges(ratio: float) -> tuple[float, float]:
    root = math.sqrt(ratio)
    return (1.0 - root) ** 2, (1.0 + root) ** 2


def spectral_nodes_needed(ratio: float, pole: float | None = None) -> int:
    """Trapezoidal nodes so that an integrand pole at ``x = −pole`` (``pole ≥ 0``) costs < 1e-16.

    The density's own pole at ``x = 0`` cancels for ``ψ_w = 1`` only.
    """
    a, b = marchenko_pastur_edges(ratio)
    mid, half = 0.5 * (a + b), 0.5 * (b - a)
    poles = ([] if ratio == 1.0 else [0.0]) + ([max(0.0, pole)] if pole is not None else [])
    if not poles:
        return MIN_SPECTRAL_NODES
    if half <= 0.0:  # ψ_w = 0 to rounding: a point mass, any rule is exact
        return MIN_SPECTRAL_NODES
    delta = min(math.acosh(max(1.0, (mid + p) / half)) for p in poles)
    if delta <= 0.0:
        return MAX_SPECTRAL_NODES
    needed = math.ceil(_TRAPEZOID_EXPONENT / (2.0 * delta))
    size = MIN_SPECTRAL_NODES
    while size < needed and size < MAX_SPECTRAL_NODES:
        size *= 2  # powers of two so that rules are cached and refinement is nested
    return size


def spectral_nodes_needed_many(ratio: float, poles: np.ndarray) -> np.ndarray:
    """:func:`spectral_nodes_needed` at each of ``poles`` (NaN: no pole), vectorised (batched solves)."""
    poles = np.asarray(poles, dtype=float)
    a, b = marchenko_pastur_edges(ratio)
    mid, half = 0.5 * (a + b), 0.5 * (b - a)
    out = np.full(poles.shape, MIN_SPECTRAL_NODES)
    if half <= 0.0:
        return out
    with np.errstate(invalid="ignore"):
        delta = np.arccosh(np.maximum(1.0, (mid + np.maximum(0.0, poles)) / half))
    delta = np.where(np.isnan(poles), np.inf, delta)
    if ratio != 1.0:
        delta = np.minimum(delta, math.acosh(max(1.0, mid / half)))
    with np.errstate(divide="ignore"):
        needed = np.ceil(_TRAPEZOID_EXPONENT / (2.0 * delta))
    # powers of two from MIN_SPECTRAL_NODES, as the scalar rule
    exponent = np.ceil(np.log2(np.maximum(needed, MIN_SPECTRAL_NODES) / MIN_SPECTRAL_NODES))
    top = math.log2(MAX_SPECTRAL_NODES / MIN_SPECTRAL_NODES)
    size = MIN_SPECTRAL_NODES * 2.0 ** np.minimum(exponent, top)
    return np.where(np.isfinite(delta), size, MIN_SPECTRAL_NODES).astype(int)


@lru_cache(maxsize=64)
def marchenko_pastur_rule(ratio: float, n: int) -> Rule:
    """Rule for ``E_X`` with ``X`` Marchenko–Pastur of ratio ``ψ_w`` (``E X = 1``, ``E X² = 1 + ψ_w``)."""
    a, b = marchenko_pastur_edges(ratio)
    mid, half = 0.5 * (a + b), 0.5 * (b - a)
    phi = np.linspace(0.0, math.pi, n + 1)
    trapezoid = np.full(n + 1, math.pi / n)
    trapezoid[[0, -1]] *= 0.5
    cos = np.cos(phi)
    x = mid + half * cos
    if ratio == 1.0:
        # x = 2(1 + cos φ): sin²φ / x = (1 − cos φ)/2 stays finite at the hard edge x = 0.
        sin2_over_x = 0.5 * (1.0 - cos)
        x[-1] = 0.0
    else:
        sin2_over_x = (1.0 - cos * cos) / x
    weights = trapezoid * half * half * sin2_over_x / (2.0 * math.pi * ratio)
    keep = weights > 0.0
    nodes, weights = x[keep], weights[keep]
    if ratio > 1.0:
        nodes = np.append(nodes, 0.0)
        weights = np.append(weights, 1.0 - 1.0 / ratio)
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return Rule(nodes, weights)
