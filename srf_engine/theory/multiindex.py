"""Multi-index targets after one step (docs/theory.md §12.3).

Target ``y = g(z_1, …, z_k) + √Δ ξ`` with ``z_j = θ_j·x/√d``, ``θ_i·θ_j = d δ_ij``. With a first batch of
``O(d)`` samples the spike is still rank one, along the target's linear part plus the batch's noise:
``g0 = Σ_j μ1*_j θ_j/√d + (isotropic, norm² E[e²]/α0)``, ``μ1*_j = E[z_j g]``. So the mapping of §3/§10.2
holds with ``μ1* → ‖μ1*‖`` (the vector's norm), and the spike's overlaps with the θ's are the vector
``γ_j = μ1*_j/s`` (``s`` the spike norm). Given ``κ``, ``z = γ κ + L ν`` with ``L = (I − γγᵀ)^{1/2}`` and
``ν ~ N(0, I_k)`` along ``k`` orthonormal directions ``ζ_j ⊥ v`` in the span of the θ's and ``v``. The bulk
sees each ``ν_j`` as §5 sees ``ν`` (``(Bζ_i)ᵀ f(Ω) (Bζ_j)/d → δ_ij (1/d) tr Ω f(Ω)``), so the equations are
§5's with ``h(κ) = E[g | κ]``, ``hh(κ) = E[g² | κ] + Δ`` and ``h1`` the vector ``h1_j(κ) = E[ν_j g | κ]``, one
overlap ``ψ_j`` per direction. ``k = 1`` is §4 exactly; a target that is secretly single-index gives §4's
moments up to quadrature (checked to 1e-10).

Targets are chosen from :data:`MULTI_INDEX_TARGETS` (named, vectorised numpy) or built in Python with a
callable; no user text is ever evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..activations import Activation, gauss_hermite
from ..errors import InvalidParameterError

Array = np.ndarray

#: Gauss–Hermite nodes per dimension of ``ν`` (and of ``z`` for the target's moments).
DEFAULT_NU_NODES = 80
MAX_INDEX = 3


_SQRT2 = math.sqrt(2.0)


def _he2(z: Array) -> Array:
    return (z * z - 1.0) / math.sqrt(2.0)


@dataclass(frozen=True)
class MultiIndexTarget:
    """``g(Z)`` for ``Z`` of shape ``(..., k)``; ``name`` is its canonical spelling."""

    name: str
    k: int
    fn: Callable[[Array], Array] = field(repr=False, compare=False)
    smooth: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.k <= MAX_INDEX:
            raise InvalidParameterError("teacher.k", f"must lie in [1, {MAX_INDEX}]")

    @classmethod
    def single(cls, act: Activation) -> MultiIndexTarget:
        return cls(act.name, 1, lambda z, a=act: np.asarray(a(z[..., 0]), dtype=float), act.smooth)


MULTI_INDEX_TARGETS: dict[str, MultiIndexTarget] = {
    t.name: t
    for t in (
        MultiIndexTarget("z1+he2(z2)", 2, lambda z: z[..., 0] + _he2(z[..., 1])),
        MultiIndexTarget("tanh(z1)+0.5*z1*z2", 2, lambda z: np.tanh(z[..., 0]) + 0.5 * z[..., 0] * z[..., 1]),
        MultiIndexTarget("tanh((z1+z2)/sqrt2)", 2, lambda z: np.tanh((z[..., 0] + z[..., 1]) / _SQRT2)),
    )
}


def check_target(target: object) -> MultiIndexTarget:
    if isinstance(target, MultiIndexTarget):
        return target
    if isinstance(target, str) and target in MULTI_INDEX_TARGETS:
        return MULTI_INDEX_TARGETS[target]
    raise InvalidParameterError(
        "teacher", f"multi-index target must be one of {', '.join(map(repr, MULTI_INDEX_TARGETS))}"
    )


def _tensor_rule(k: int, n: int) -> tuple[Array, Array]:
    x, w = gauss_hermite(n)
    grids = np.meshgrid(*([x] * k), indexing="ij")
    weights = np.ones(1)
    for _ in range(k):
        weights = np.multiply.outer(weights, w)
    return np.stack([g.ravel() for g in grids], axis=-1), weights.ravel()


@dataclass(frozen=True)
class TargetStats:
    """``E g``, ``E g²`` and ``μ1*_j = E[z_j g]`` for ``z ~ N(0, I_k)``."""

    mean: float
    second: float
    mu1_star: Array

    @property
    def mu1_star_norm(self) -> float:
        return float(np.linalg.norm(self.mu1_star))


def target_stats(target: MultiIndexTarget, n: int = DEFAULT_NU_NODES) -> TargetStats:
    z, w = _tensor_rule(target.k, n)
    g = np.asarray(target.fn(z), dtype=float)
    return TargetStats(float(w @ g), float(w @ (g * g)), (w * g) @ z)


def target_moments(
    target: MultiIndexTarget, gamma: Array, kappa: Array, noise: float, n: int = DEFAULT_NU_NODES
) -> tuple[Array, Array, Array]:
    """``h(κ)``, ``h1(κ)`` (``k × n_κ``, one row per ``ν_j``) and ``hh(κ)`` on the nodes ``kappa``."""
    gamma = np.asarray(gamma, dtype=float)
    vals, vecs = np.linalg.eigh(np.eye(target.k) - np.outer(gamma, gamma))
    ell = vecs @ np.diag(np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    nu, w = _tensor_rule(target.k, n)
    spread = nu @ ell.T
    h, hh, h1 = np.empty(kappa.size), np.empty(kappa.size), np.empty((target.k, kappa.size))
    block = max(1, 2_000_000 // (w.size * target.k))  # κ rows per block: bounded memory
    for lo in range(0, kappa.size, block):
        kb = kappa[lo : lo + block]
        g = np.asarray(target.fn(kb[:, None, None] * gamma[None, None, :] + spread[None, :, :]), dtype=float)
        h[lo : lo + block] = g @ w
        hh[lo : lo + block] = (g * g) @ w + noise
        h1[:, lo : lo + block] = ((g * w[None, :]) @ nu).T
    return h, h1, hh
