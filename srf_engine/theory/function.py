"""The function the trained network expresses along the spike direction (docs/theory.md §4, §5).

Given ``κ = v·x/√d``, the target's mean is ``E[y | κ] = h(κ) = E_ν σ*(γκ + ρν)`` and the trained
readout's mean prediction is ``ŷ(κ) = μ0(κ) m + μ1(κ) κ t`` with the conditional moments of §4 and
the order parameters ``m, t`` of the fixed point of §5. After the step (``r ≠ 0``) ``μ0, μ1`` vary
with ``κ`` and ``ŷ`` can be a non-linear function of it; at initialisation (``c = 1, r = 0``) they are
constants and ``ŷ`` is linear in ``κ``: what random features can express along the spike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidParameterError
from ..grid import GridSpec
from ..problem import Problem, SRFParams, check_alphas
from ..results import TheoryPoint
from .curve import DEFAULT_BULK, DEFAULT_MAPPING, DEFAULT_ROW_NORM, BulkLaw, Ridge, check_ridge, theory_grid
from .mapping import Mapping, map_to_srf
from .rownorm import mu0_c

Array = np.ndarray

#: κ values of the default answer: 101 values in [-4, 4].
DEFAULT_KAPPA: tuple[float, ...] = tuple(float(k) for k in np.linspace(-4.0, 4.0, 101))
MAX_KAPPA_VALUES = 10_000


@dataclass(frozen=True)
class FunctionPoint:
    """At one ``α``: the target, the prediction after the step and at initialisation, along ``κ``."""

    alpha: float
    kappa: tuple[float, ...]
    target: tuple[float, ...]
    after_step: tuple[float, ...] | None
    at_initialisation: tuple[float, ...] | None
    test_error: float
    baseline_test_error: float
    ridge: float
    baseline_ridge: float
    converged: bool
    baseline_converged: bool


@dataclass(frozen=True)
class LearnedFunction:
    srf: SRFParams
    points: list[FunctionPoint]
    warnings: list[str] = field(default_factory=list)
    mapping: str = DEFAULT_MAPPING  # docs/theory.md §3 ("paper") or §10.2 ("corrected")
    bulk: str = DEFAULT_BULK  # docs/theory.md §5 ("marchenko_pastur") or §10.3 ("one_step", …)
    bulk_sample: dict[str, int] | None = None  # the first batch of bulk "one_step_sampled"
    row_norm: bool = False  # whether docs/theory.md §10.4's row-norm channel entered
    theory_reason: str | None = None  # why bulk/row_norm differ from the ones asked for

    def as_dict(self) -> dict[str, Any]:
        sample = {} if self.bulk_sample is None else {"bulk_sample": dict(self.bulk_sample)}
        return {
            "mapping": self.mapping,
            "bulk": self.bulk,
            **sample,
            "row_norm": self.row_norm,
            "theory_reason": self.theory_reason,
            "srf": self.srf.as_dict(),
            "points": [
                {name: list(v) if isinstance(v, tuple) else v for name, v in p.__dict__.items()}
                for p in self.points
            ],
            "warnings": list(self.warnings),
        }


def check_kappa(kappa: Any) -> tuple[float, ...]:
    if kappa is None:
        return DEFAULT_KAPPA
    try:
        values = tuple(float(k) for k in kappa)
    except (TypeError, ValueError):
        raise InvalidParameterError("kappa", "must be a list of finite numbers") from None
    if not values or len(values) > MAX_KAPPA_VALUES:
        raise InvalidParameterError("kappa", f"must hold 1 to {MAX_KAPPA_VALUES} values")
    if not all(math.isfinite(k) for k in values):
        raise InvalidParameterError("kappa", "must be finite numbers")
    return values


def mean_prediction(problem: Problem, srf: SRFParams, point: TheoryPoint, kappa: Array) -> Array:
    """``ŷ(κ) = μ0(κ) m + μ1(κ) κ t`` with ``μ0 = E_z σ(rκ + √c z)``, ``μ1 = E_z[z σ(rκ + √c z)]/√c``,
    plus ``μ0c(κ) s`` where the row-norm channel of docs/theory.md §10.4 entered the fixed point."""
    sqrt_c = math.sqrt(srf.c)
    mu0, mz, _ = problem.student.gaussian_moments(srf.r * kappa, np.full_like(kappa, sqrt_c))
    out = mu0 * point.overlaps["m"] + (mz / sqrt_c) * kappa * point.overlaps["t"]
    if point.overlaps.get("s", 0.0) != 0.0:
        out = out + mu0_c(problem.student, srf, kappa) * point.overlaps["s"]
    return out


def _along(problem: Problem, srf: SRFParams, point: TheoryPoint, kappa: Array) -> tuple[float, ...] | None:
    """The mean prediction at ``kappa``, or ``None`` when the fixed point is not trustworthy."""
    if not point.converged:
        return None
    return tuple(map(float, mean_prediction(problem, srf, point, kappa)))


def learned_function(
    problem: Problem,
    alphas: Sequence[float],
    ridge: Ridge,
    kappa: Sequence[float] | None = None,
    *,
    progress: Callable[[float], None] | None = None,
    mapping: Mapping = DEFAULT_MAPPING,
    bulk: BulkLaw = DEFAULT_BULK,
    row_norm: bool = DEFAULT_ROW_NORM,
) -> LearnedFunction:
    """Target, mean prediction after the step and at initialisation along ``κ``, at each ``α``.

    ``mapping``, ``bulk`` and ``row_norm`` choose the theory after the step as in :func:`theory_grid`
    (the fixed point of §10.1 keeps ``ŷ(κ) = μ0(κ) m + μ1(κ) κ t``, plus ``μ0c(κ) s`` with the row-norm
    channel of §10.4); at initialisation there is no step and they are moot.
    """
    alphas = check_alphas(alphas)
    ridge = check_ridge(ridge)
    grid_kappa = np.asarray(check_kappa(kappa), dtype=float)

    def curve(given: SRFParams | None, share: float, start: float) -> Any:
        spec = GridSpec.build(
            width=problem.width,
            noise=problem.noise,
            alpha0=problem.alpha0,
            learning_rate=problem.learning_rate,
            ridge=ridge,
            alphas=alphas,
        )
        report = None if progress is None else (lambda f: progress(start + share * f))
        return theory_grid(
            problem.student,
            problem.teacher,
            spec,
            srf=given,
            baseline=False,
            progress=report,
            mapping=mapping,
            bulk=bulk,
            row_norm=row_norm,
        )

    after = curve(problem.srf, 0.5, 0.0)
    srf = after.srf if after.srf is not None else map_to_srf(problem, mapping)
    base_srf = SRFParams(c=1.0, r=0.0, gamma=srf.gamma)  # the baseline of theory_grid (γ does not enter)
    before = curve(base_srf, 0.5, 0.5)
    target, _, _ = problem.teacher.gaussian_moments(srf.gamma * grid_kappa, np.full_like(grid_kappa, srf.rho))
    points = []
    for a, p, b in zip(alphas, after.points, before.points, strict=True):
        points.append(
            FunctionPoint(
                alpha=float(a),
                kappa=tuple(map(float, grid_kappa)),
                target=tuple(map(float, target)),
                after_step=_along(problem, srf, p, grid_kappa),
                at_initialisation=_along(problem, base_srf, b, grid_kappa),
                test_error=p.test_error,
                baseline_test_error=b.test_error,
                ridge=p.ridge,
                baseline_ridge=b.ridge,
                converged=p.converged,
                baseline_converged=b.converged,
            )
        )
    warnings = list(dict.fromkeys(after.warnings + before.warnings))
    return LearnedFunction(
        srf=srf,
        points=points,
        warnings=warnings,
        mapping=after.mapping,
        bulk=after.bulk,
        bulk_sample=after.bulk_sample,
        row_norm=after.row_norm,
        theory_reason=after.theory_reason,
    )
