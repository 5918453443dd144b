"""Theory against simulation: z-scores, relative errors and verdicts (docs/theory.md §9).

Works on results in their JSON form (``TheoryCurve.as_dict()``, ``SimulationResult.as_dict()``), so a
stored result and a fresh one are judged alike. A point agrees when ``|z| ≤ z_threshold`` with
``z = (estimate − theory)/sem``, or when ``|relative_error| ≤ relative_tolerance`` (the allowance for
finite-size effects); a point whose theory did not converge never agrees.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from .extrapolation import extrapolate_in_inverse_dimension
from .results import COORDINATES


def coordinates(point: Mapping[str, Any]) -> dict[str, Any]:
    """The six coordinates of a point (those it carries), and its ``srf`` where the mapping varies."""
    return {name: point[name] for name in (*COORDINATES, "srf") if name in point}


def criterion_text(z_threshold: float, relative_tolerance: float) -> str:
    return (
        f"a point agrees when |z| ≤ {z_threshold:g} (z = (simulation_mean − theory)/simulation_sem) or "
        f"|relative_error| ≤ {relative_tolerance:g} (finite-size allowance, docs/theory.md §9); z is null "
        "when the sem is 0 (a single seed), leaving the relative allowance; a point whose theory did not "
        "converge never agrees; agree = every point agrees"
    )


def judge(
    theory_point: Mapping[str, Any],
    estimate: float | None,
    sem: float | None,
    z_threshold: float,
    relative_tolerance: float,
) -> dict[str, Any]:
    """z-score, relative error and verdict of one estimate of the test error against the theory."""
    exact = theory_point["test_error"]
    z = rel = None
    if exact is not None and estimate is not None:
        if sem is not None and math.isfinite(sem) and sem > 0:
            z = (estimate - exact) / sem
        if exact != 0:
            rel = (estimate - exact) / exact
    converged = bool(theory_point.get("converged", True))
    agree = converged and (
        (z is not None and abs(z) <= z_threshold) or (rel is not None and abs(rel) <= relative_tolerance)
    )
    return {"theory": exact, "z": z, "relative_error": rel, "agree": agree, "theory_converged": converged}


def summarise(points: Sequence[Mapping[str, Any]], criterion: str) -> dict[str, Any]:
    zs = [abs(p["z"]) for p in points if p["z"] is not None]
    rels = [abs(p["relative_error"]) for p in points if p["relative_error"] is not None]
    return {
        "max_abs_z": max(zs) if zs else None,
        "max_relative_error": max(rels) if rels else None,
        "agree": all(p["agree"] for p in points),
        "criterion": criterion,
    }


def compare_points(
    theory: Mapping[str, Any], simulation: Mapping[str, Any], z_threshold: float, relative_tolerance: float
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-point z-scores and relative errors of simulation against theory, and their summary over all
    points (both in the grid's C order; each comparison point carries the six coordinates)."""
    points = []
    for t, s in zip(theory["points"], simulation["points"], strict=True):
        mean, sem = s["test_error"]["mean"], s["test_error"]["sem"]
        verdict = judge(t, mean, sem, z_threshold, relative_tolerance)
        points.append({**coordinates(t), "simulation_mean": mean, "simulation_sem": sem, **verdict})
    return points, summarise(points, criterion_text(z_threshold, relative_tolerance))


def extrapolation_block(
    theory: Mapping[str, Any],
    simulations: Mapping[int, Mapping[str, Any]],
    z_threshold: float,
    relative_tolerance: float,
) -> dict[str, Any]:
    """Fit each α's simulated means to ``ε∞ + b/d`` and judge ``ε∞`` against the theory."""
    dimensions = sorted(simulations)
    points = []
    for i, t in enumerate(theory["points"]):
        stats = [simulations[d]["points"][i]["test_error"] for d in dimensions]
        usable = [
            (d, s["mean"], s["sem"] or 0.0)
            for d, s in zip(dimensions, stats, strict=True)
            if s["mean"] is not None
        ]
        limit = limit_sem = slope = None
        if len(usable) >= 2:
            fit = extrapolate_in_inverse_dimension(*zip(*usable, strict=True))
            limit, limit_sem, slope = fit.limit, fit.limit_sem, fit.slope
        verdict = judge(t, limit, limit_sem, z_threshold, relative_tolerance)
        verdict.pop("theory_converged")
        points.append({**coordinates(t), "limit": limit, "limit_sem": limit_sem, "slope": slope, **verdict})
    criterion = (
        f"the simulated means at d = {', '.join(str(d) for d in dimensions)} are fitted to ε∞ + b/d "
        f"(weights 1/sem²); a point agrees when |z| ≤ {z_threshold:g} (z = (ε∞ − theory)/sem(ε∞)) or "
        f"|relative_error| ≤ {relative_tolerance:g} (relative_error = (ε∞ − theory)/theory); a point "
        "whose theory did not converge never agrees; agree = every point agrees"
    )
    return {"dimensions": dimensions, "points": points, "summary": summarise(points, criterion)}
