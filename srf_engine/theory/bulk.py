"""Bulk laws of the general fixed point (docs/theory.md §10.1): the spectrum ``D`` of ``Ω = B Π Bᵀ`` and
the spike's projections on it.

The equations of §5 meet the bulk only through sums over its ``p`` eigenpairs ``(D_k, u_k)`` weighted by
``1/S_k`` or ``1/S_k²``, ``S_k = λ + V̂1 D_k + V̂2``, and by the projections
``F_k = (u_kᵀ B v)²``, ``H_k = (u_kᵀ B ζ)²``, ``C_k = (u_kᵀ B v)(u_kᵀ B ζ)`` (``‖v‖² = ‖ζ‖² = d``).
A bulk answers exactly those sums, written with ``S = s0 + v1 D`` (``s0 = λ + V̂2``, ``v1 = V̂1``):

- ``v_sums``: ``f = E[(D, 1)/S]`` and ``K = E[g gᵀ/S²]``, ``g = (D, 1)`` (the closed ``(V1, V2)`` system);
- ``spike_sums``: ``b = E[(F, C, H)/S]`` and ``G_X = E[g X/S²]`` for ``X = F, H, C``.

:class:`MarchenkoPasturBulk` is §5's isotropic case (``F ≡ c``, ``H ≡ D``, ``C ≡ 0``, ``D = c·MP(ψ_w)``);
:class:`QuadratureBulk` takes any nodes ``(D_k, F_k, H_k, C_k)`` with weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .quadrature import marchenko_pastur_rule

Array = np.ndarray
dot = np.dot  # 1-D reductions without threaded BLAS (see solver.py)


@dataclass(frozen=True)
class SpikeSums:
    """``b = (E[F/S], E[C/S], E[H/S])`` and ``E[(D, 1) X/S²]`` for ``X = F, H, C``."""

    b_f: float
    b_c: float
    b_h: float
    g_f: Array
    g_h: Array
    g_c: Array


class Bulk(Protocol):
    """What the general fixed point needs of a bulk law (see module docstring)."""

    #: ``E_k D_k``, the mean row norm² of the bulk (``c`` for §5).
    mean: float

    def v_sums(self, s0: float, v1: float) -> tuple[Array, Array]: ...

    def spike_sums(self, s0: float, v1: float, f: Array, k_mat: Array) -> SpikeSums: ...


class _NodeSums:
    """``v_sums`` for a bulk given by nodes ``D`` and weights ``u``."""

    D: Array
    u: Array
    uD: Array
    uD2: Array

    def _set_nodes(self, D: Array, u: Array) -> None:
        self.D = np.asarray(D, dtype=float)
        self.u = np.asarray(u, dtype=float)
        self.uD = self.u * self.D
        self.uD2 = self.uD * self.D
        self.mean = float(np.sum(self.uD))

    def v_sums(self, s0: float, v1: float) -> tuple[Array, Array]:
        inv_s = 1.0 / (s0 + v1 * self.D)
        inv_s2 = inv_s * inv_s
        f = np.array([dot(self.uD, inv_s), dot(self.u, inv_s)])
        k12 = dot(self.uD, inv_s2)
        k_mat = np.array([[dot(self.uD2, inv_s2), k12], [k12, dot(self.u, inv_s2)]])
        return f, k_mat


class MarchenkoPasturBulk(_NodeSums):
    """§5: ``D = c X``, ``X`` Marchenko–Pastur of ratio ``ψ_w`` (``size`` nodes); ``F ≡ c, H ≡ D, C ≡ 0``."""

    def __init__(self, width: float, c: float, size: int) -> None:
        rule = marchenko_pastur_rule(width, size)
        self.size = size
        self.c = c
        self._set_nodes(c * rule.nodes, rule.weights)

    def spike_sums(self, s0: float, v1: float, f: Array, k_mat: Array) -> SpikeSums:
        # Isotropic: every sum follows from those of the (V1, V2) system, at no extra cost.
        zero = np.zeros(2)
        return SpikeSums(self.c * f[1], 0.0, f[0], self.c * k_mat[:, 1], k_mat[:, 0], zero)

    def nodes(self) -> tuple[Array, Array, Array, Array, Array]:
        """``(D, u, F, H, C)`` node by node, for the literal residual."""
        return self.D, self.u, np.full_like(self.D, self.c), self.D, np.zeros_like(self.D)


class QuadratureBulk(_NodeSums):
    """Any bulk on nodes: ``E_k[φ(D_k) X_k] = Σ_j u_j φ(D_j) X_j`` for ``X = 1, F, H, C``.

    ``F, H, C`` are the projections' averages at each node (a sampled ``Ω`` gives them eigenpair by
    eigenpair with ``u = 1/p``).
    """

    def __init__(self, D: Array, weights: Array, F: Array, H: Array, C: Array) -> None:
        self._set_nodes(D, weights)
        self.F = np.asarray(F, dtype=float)
        self.H = np.asarray(H, dtype=float)
        self.C = np.asarray(C, dtype=float)
        self.uF, self.uH, self.uC = self.u * self.F, self.u * self.H, self.u * self.C
        self.size = int(self.D.size)

    def spike_sums(self, s0: float, v1: float, f: Array, k_mat: Array) -> SpikeSums:
        inv_s = 1.0 / (s0 + v1 * self.D)
        inv_s2 = inv_s * inv_s
        d_s2 = self.D * inv_s2

        def g(ux: Array) -> Array:
            return np.array([dot(ux, d_s2), dot(ux, inv_s2)])

        return SpikeSums(
            dot(self.uF, inv_s), dot(self.uC, inv_s), dot(self.uH, inv_s), g(self.uF), g(self.uH), g(self.uC)
        )

    def nodes(self) -> tuple[Array, Array, Array, Array, Array]:
        return self.D, self.u, self.F, self.H, self.C
