"""Theory curves (docs/theory.md §5): test and training error along α, with continuation.

A curve computes the conditional moments once per ``(σ, σ*, c, r, γ, Δ)``, solves the α's in
increasing order warm-starting each from its neighbour, and returns them in the order asked.
``ridge = "optimal"`` minimises the test error over ``λ ≥ 0`` at each α. The baseline is the same
problem at initialisation (``c = 1, r = 0``): random features in the kernel regime.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize

from .bulk import Bulk
from .conditional import ConditionalMoments, conditional_moments
from .errors import InvalidParameterError
from .errors import InvalidParameterError as _Invalid
from .fidelity import fidelity_warnings
from .mapping import Mapping, check_mapping, map_to_srf, mapping_warnings, step_statistics
from .problem import Problem, SRFParams, check_alphas, check_nonnegative
from .results import BaselinePoint, TheoryCurve, TheoryPoint
from .solver import FixedPoint, solve_fixed_point

Ridge = float | Literal["optimal"]
BulkLaw = Literal["marchenko_pastur", "one_step"]
BULKS: tuple[str, ...] = ("marchenko_pastur", "one_step")
#: The most accurate validated combination (benchmarks/fidelity.py; docs/theory.md §10).
DEFAULT_MAPPING: Mapping = "corrected"
DEFAULT_BULK: BulkLaw = "one_step"


def check_bulk(bulk: object) -> BulkLaw:
    if bulk not in BULKS:
        raise _Invalid("bulk", f"must be one of {', '.join(map(repr, BULKS))}")
    return bulk  # type: ignore[return-value]


def bulk_law(problem: Problem, bulk: BulkLaw) -> Bulk | None:
    """The bulk of docs/theory.md §10.3 when asked for and meaningful (a network step, no given srf);
    ``None`` means §5's ``c·MP(ψ_w)``. Odd students (``b1 = 0``) keep ``M2``'s part along the spike."""
    if bulk != "one_step" or problem.srf is not None or not problem.has_step:
        return None
    from .onestep import OneStepBulk  # only curves that ask for it pay its import

    # A step that moves nothing (g0 = 0: the residual y − E σ vanishes) leaves W0: §5 with c = 1 + …
    return OneStepBulk(problem) if step_statistics(problem).spike_norm > 0 else None

#: Search range of the optimal ridge, in log10 λ; λ = 0 is compared separately.
OPTIMAL_RIDGE_LOG10_RANGE = (-6.0, 3.0)
_OPTIMAL_GRID = np.linspace(*OPTIMAL_RIDGE_LOG10_RANGE, 19)


def check_ridge(ridge: object) -> Ridge:
    if ridge == "optimal":
        return "optimal"
    if isinstance(ridge, str):
        raise InvalidParameterError("ridge", 'must be a number ≥ 0 or "optimal"')
    return check_nonnegative("ridge", ridge)  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Model:
    """One ``(σ, σ*, c, r, γ, Δ, ψ_w)``: its conditional moments, solved at any ``(α, λ)``."""

    cm: ConditionalMoments
    srf: SRFParams
    width: float
    refine: int = 1
    bulk: Bulk | None = None

    @classmethod
    def build(cls, problem: Problem, srf: SRFParams, refine: int = 1, bulk: Bulk | None = None) -> _Model:
        cm = conditional_moments(problem.student, problem.teacher, srf, problem.noise, refine=refine)
        return cls(cm, srf, problem.width, refine, bulk)

    def solve(self, alpha: float, ridge: float, start: tuple[float, float] | None = None) -> FixedPoint:
        return solve_fixed_point(
            self.cm,
            alpha=alpha,
            ridge=ridge,
            width=self.width,
            c=self.srf.c,
            start=start,
            refine=self.refine,
            bulk=self.bulk,
        )

    def optimal_ridge(self, alpha: float) -> tuple[float, FixedPoint]:
        """``λ* = argmin_λ ε_g(λ)`` at one α: a log-grid scan, then Brent's method around the best node."""
        cache: dict[float, FixedPoint] = {}
        start: tuple[float, float] | None = None

        def at(log_ridge: float) -> FixedPoint:
            nonlocal start
            if log_ridge not in cache:
                fp = self.solve(alpha, 10.0**log_ridge, start)
                cache[log_ridge] = fp
                if fp.converged:
                    start = fp.V
            return cache[log_ridge]

        def objective(log_ridge: float) -> float:
            fp = at(float(log_ridge))
            return fp.test_error if fp.converged else math.inf

        # Descending λ: V grows as λ shrinks, so each warm start sits below the next fixed point.
        scan = [objective(x) for x in _OPTIMAL_GRID[::-1]][::-1]
        best = int(np.argmin(scan))
        lo = _OPTIMAL_GRID[max(best - 1, 0)]
        hi = _OPTIMAL_GRID[min(best + 1, len(_OPTIMAL_GRID) - 1)]
        candidates = [(scan[best], float(_OPTIMAL_GRID[best]))]
        res = optimize.minimize_scalar(objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-5})
        candidates.append((float(res.fun), float(res.x)))
        value, log_ridge = min(candidates)
        best_ridge, best_fp = 10.0**log_ridge, at(log_ridge)
        if best == 0:
            ridgeless = self.solve(alpha, 0.0)
            if ridgeless.converged and ridgeless.test_error <= value:
                best_ridge, best_fp = 0.0, ridgeless
        return best_ridge, best_fp

    def curve(
        self,
        alphas: Sequence[float],
        ridge: Ridge,
        progress: Callable[[float], None] | None = None,
        done: int = 0,
        total: int = 1,
    ) -> list[tuple[float, FixedPoint]]:
        """``(λ, fixed point)`` at every α, solved in increasing α with warm starts, in the given order."""
        order = np.argsort(alphas, kind="stable")
        results: list[tuple[float, FixedPoint] | None] = [None] * len(alphas)
        start: tuple[float, float] | None = None
        for count, i in enumerate(order, start=1):
            alpha = float(alphas[i])
            if ridge == "optimal":
                lam, fp = self.optimal_ridge(alpha)
            else:
                lam = float(ridge)
                fp = self.solve(alpha, lam, start)
                if not fp.converged and start is not None:
                    fp = self.solve(alpha, lam)
            if fp.converged:
                start = fp.V
            results[i] = (lam, fp)
            if progress is not None:
                progress((done + count) / total)
        return [r for r in results if r is not None]


def theory_curve(
    problem: Problem,
    alphas: Sequence[float],
    ridge: Ridge,
    *,
    baseline: bool = True,
    progress: Callable[[float], None] | None = None,
    refine: int = 1,
    mapping: Mapping = DEFAULT_MAPPING,
    bulk: BulkLaw = DEFAULT_BULK,
) -> TheoryCurve:
    """Test and training error of ridge on the readout at each ``α``, with the baseline curve.

    Each point reports the order parameters, ``converged``, the solver's iterations and the
    residual of the full fixed-point map; a point that did not converge says so in ``warnings``.
    ``refine`` multiplies every quadrature's node count (convergence checks).
    ``mapping`` (``"paper"``, §3, or ``"corrected"``, §10.2) gives ``(c, r, γ)``; ``bulk``
    (``"marchenko_pastur"``, §5, or ``"one_step"``, §10.3) the bulk law. Both are reported in the result.
    """
    alphas = check_alphas(alphas)
    ridge = check_ridge(ridge)
    mapping = check_mapping(mapping)
    bulk = check_bulk(bulk)
    srf = map_to_srf(problem, mapping)
    warnings = mapping_warnings(problem, mapping)
    total = len(alphas) * (2 if baseline else 1)

    law = bulk_law(problem, bulk)
    bulk = "one_step" if law is not None else "marchenko_pastur"  # what was used (equal for odd σ)
    warnings += fidelity_warnings(problem, mapping, bulk)
    model = _Model.build(problem, srf, refine, law)
    solved = model.curve(alphas, ridge, progress, 0, total)
    points = [
        TheoryPoint(
            alpha=float(a),
            test_error=fp.test_error,
            train_error=fp.train_error,
            ridge=lam,
            converged=fp.converged,
            iterations=fp.iterations,
            residual=fp.residual,
            overlaps=fp.overlaps(),
        )
        for a, (lam, fp) in zip(alphas, solved, strict=True)
    ]

    base_points: list[BaselinePoint] = []
    if baseline:
        base_srf = SRFParams(c=1.0, r=0.0, gamma=srf.gamma)  # γ does not enter when r = 0
        base_model = _Model.build(problem, base_srf, refine)
        base = base_model.curve(alphas, ridge, progress, len(alphas), total)
        base_points = [
            BaselinePoint(float(a), fp.test_error, fp.train_error, lam, fp.converged)
            for a, (lam, fp) in zip(alphas, base, strict=True)
        ]

    failed = [p.alpha for p in points if not p.converged]
    failed += [p.alpha for p in base_points if not p.converged]
    if failed:
        where = ", ".join(f"{a:g}" for a in sorted(set(failed)))
        if ridge == 0.0:
            warnings.append(
                f"the ridgeless limit (ridge = 0) is not resolved at alpha = {where}: the test error "
                "diverges at the interpolation peak (alpha = width) and can approach its limit too slowly "
                "in ridge to be computed; those points have converged = false; use a small positive ridge"
            )
        else:
            warnings.append(
                f"the fixed-point solver did not converge at alpha = {where}; "
                "those points are reported with converged = false and must not be trusted"
            )
    return TheoryCurve(
        srf=srf, points=points, baseline=base_points, warnings=warnings, mapping=mapping, bulk=bulk
    )
