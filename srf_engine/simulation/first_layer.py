"""The measured sRF of a first layer (docs/theory.md §10): how far a trained ``W`` is from any mapping.

For ``W`` (``p × d``) and the teacher direction ``θ`` (``‖θ‖² = d``; or the ``k × d`` directions of a
multi-index teacher, docs/theory.md §11):

- the spike is the mean row ``w̄``: ``r = √(‖w̄‖² − c/p)`` (the bulk's own mean removed), ``v = √d w̄/‖w̄‖``,
  ``γ = θ·v/d``;
- the bulk ``B = W − 1 w̄ᵀ`` and ``Π = I − v vᵀ/d``: ``c_eff = mean_i ‖Π b_i‖²``, the row-norm spread
  ``V_c = Σ_i (‖Π b_i‖² − c_eff)²`` (§10.4), and the spectrum of ``Ω = B Π Bᵀ`` (edges, quantiles);
- with ``W0`` given, the row shrink ``mean_i (w_i·w0_i)/‖w0_i‖²`` (§10.2).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

Array = np.ndarray

#: Quantiles of the bulk spectrum that are reported.
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True)
class FirstLayerStats:
    """Measured sRF parameters and bulk spectrum of one first layer."""

    c_eff: float
    r: float
    gamma: float
    row_shrink: float | None
    V_c: float
    spectrum_edges: tuple[float, float]
    spectrum_quantiles: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["spectrum_edges"] = list(self.spectrum_edges)
        return out


@dataclass(frozen=True)
class Decomposition:
    """Spike, bulk and projector of a first layer: ``W = B + 1 w̄ᵀ``, ``Π = I − v vᵀ/d``."""

    v: Array
    bulk: Array  # B: W minus its mean row
    projected: Array  # B Π: rows projected off v
    r: float
    c_eff: float


def decompose(w: Array) -> Decomposition:
    p, d = w.shape
    mean_row = w.mean(axis=0)
    norm = float(np.linalg.norm(mean_row))
    v = mean_row * (math.sqrt(d) / norm) if norm > 0 else np.zeros(d)
    bulk = w - mean_row
    projected = bulk - np.outer(bulk @ v, v) / d
    c_eff = float(np.einsum("ij,ij->", projected, projected)) / p
    r = math.sqrt(max(0.0, norm * norm - c_eff / p))
    return Decomposition(v=v, bulk=bulk, projected=projected, r=r, c_eff=c_eff)


def row_shrink(w: Array, w0: Array) -> float:
    """``mean_i (w_i·w0_i)/‖w0_i‖²``: how much of each initial row is left (docs/theory.md §10.2)."""
    return float(np.mean(np.einsum("ij,ij->i", w, w0) / np.einsum("ij,ij->i", w0, w0)))


def measure_first_layer(w: Array, theta: Array, shrink: float | None = None) -> FirstLayerStats:
    """The measured sRF of ``w`` (see module docstring; ``shrink`` from :func:`row_shrink`).

    Costs ``p·min(p, d)·d`` for ``Ω`` and ``min(p, d)³`` for its spectrum, and one ``p × d`` copy.
    """
    p, d = w.shape
    mean_row = w.mean(axis=0)
    norm = float(np.linalg.norm(mean_row))
    v = mean_row * (math.sqrt(d) / norm) if norm > 0 else np.zeros(d)
    projected = w - mean_row
    projected -= np.outer(projected @ v, v) / d
    norms = np.einsum("ij,ij->i", projected, projected)
    c_eff = float(norms.mean())
    small, large = (projected, projected.T) if p <= d else (projected.T, projected)
    eig = np.linalg.eigvalsh(small @ large)  # the nonzero spectrum of Ω (null modes excluded)
    del projected, small, large
    return FirstLayerStats(
        c_eff=c_eff,
        r=math.sqrt(max(0.0, norm * norm - c_eff / p)),
        # a multi-index teacher (Θ: k × d): the norm of v's projection on the teacher span
        gamma=float(theta @ v) / d if theta.ndim == 1 else float(np.linalg.norm(theta @ v)) / d,
        row_shrink=shrink,
        V_c=float(np.sum((norms - c_eff) ** 2)),
        spectrum_edges=(float(eig[0]), float(eig[-1])),
        spectrum_quantiles={f"q{round(100 * q)}": float(np.quantile(eig, q)) for q in QUANTILES},
    )
