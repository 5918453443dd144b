"""Finite-size extrapolation of simulations to ``d → ∞`` (docs/theory.md §9).

Simulations approach the limit with corrections of order ``1/d``; fitting the simulated means at
several dimensions to ``ε(d) = ε∞ + b/d`` by weighted least squares (weights ``1/sem²``) estimates
the limit ``ε∞`` with a standard error that carries both the seeds' noise and the extrapolation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .errors import InvalidParameterError


@dataclass(frozen=True)
class InverseDimensionFit:
    """``ε(d) ≈ limit + slope/d``; ``limit_sem`` is the standard error of ``limit``."""

    limit: float
    limit_sem: float
    slope: float


def extrapolate_in_inverse_dimension(
    dimensions: Sequence[int], means: Sequence[float], sems: Sequence[float]
) -> InverseDimensionFit:
    """Weighted least-squares fit of ``means`` against ``1/d``.

    Weights are ``1/sem²`` when every sem is positive, equal otherwise (a single seed); with more
    points than parameters and equal weights the scatter about the line estimates the noise.
    """
    d = np.asarray(dimensions, dtype=float)
    y = np.asarray(means, dtype=float)
    s = np.asarray(sems, dtype=float)
    if d.size < 2 or len(set(d.tolist())) < 2:
        raise InvalidParameterError("dimensions", "need at least two different dimensions to extrapolate")
    if not (d.size == y.size == s.size):
        raise InvalidParameterError("dimensions", "dimensions, means and sems must have the same length")
    design = np.column_stack([np.ones_like(d), 1.0 / d])
    weighted = bool(np.all(s > 0))
    w = 1.0 / s**2 if weighted else np.ones_like(d)
    normal = design.T @ (w[:, None] * design)
    coef = np.linalg.solve(normal, design.T @ (w * y))
    covariance = np.linalg.inv(normal)
    if not weighted:
        dof = d.size - 2
        residual = y - design @ coef
        covariance *= float(residual @ residual) / dof if dof > 0 else math.nan
    return InverseDimensionFit(
        limit=float(coef[0]), limit_sem=float(math.sqrt(covariance[0, 0])), slope=float(coef[1])
    )
