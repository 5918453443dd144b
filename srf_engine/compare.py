"""Theory against simulation: z-scores, relative errors and verdicts (docs/theory.md §9).

Works on results in their JSON form (``TheoryCurve.as_dict()``, ``SimulationResult.as_dict()``), so a
stored result and a fresh one are judged alike. A point agrees when ``|z| ≤ z_threshold`` with
``z = (estimate − theory)/sem``, or when ``|relative_error| ≤ relative_tolerance`` (the allowance for
finite-size effects). A point whose theory did not converge (its ``test_error`` is null) gets no
verdict (``agree`` null) and is left out of the summary's; the summary agrees only if at least one
point was judged and every judged point agrees.

Each simulated model is judged against the theory of the same model (:func:`reference_curve`):
``random_features`` (no step) against the baseline, ``srf`` and ``network`` against the sRF theory
with the (mapped or given) ``(c, r, γ)``.
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


#: The theory curve each simulated model is judged against: the model's own limit.
REFERENCE = {"random_features": "baseline", "srf": "points", "network": "points"}

_UNJUDGED = (
    "a point whose theory did not converge has no verdict (agree = null) and is left out; agree = at "
    "least one point judged and every judged point agrees"
)


def reference_curve(theory: Mapping[str, Any], model: str) -> tuple[list[Mapping[str, Any]], str]:
    """The theory points to judge a simulation of ``model`` against, and a phrase naming them."""
    if REFERENCE.get(model, "points") == "baseline":
        # The coordinates stay those of the step's points; errors and convergence are the baseline's.
        baseline = [
            {**t, "test_error": b["test_error"], "converged": b.get("converged", True)}
            for t, b in zip(theory["points"], theory["baseline"], strict=True)
        ]
        return baseline, "the no-step baseline (random features, c = 1, r = 0)"
    return list(theory["points"]), "the sRF theory with the same (c, r, γ)"


def criterion_text(z_threshold: float, relative_tolerance: float, against: str = "the theory") -> str:
    return (
        f"the simulation is judged against {against}; "
        f"a point agrees when |z| ≤ {z_threshold:g} (z = (simulation_mean − theory)/simulation_sem) or "
        f"|relative_error| ≤ {relative_tolerance:g} (finite-size allowance, docs/theory.md §9); z is null "
        f"when the sem is 0 (a single seed), leaving the relative allowance; {_UNJUDGED}"
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
    converged = bool(theory_point.get("converged", True)) and exact is not None
    agree: bool | None = None  # no verdict against a theory that is not a verified fixed point
    if converged:
        agree = (z is not None and abs(z) <= z_threshold) or (
            rel is not None and abs(rel) <= relative_tolerance
        )
    return {"theory": exact, "z": z, "relative_error": rel, "agree": agree, "theory_converged": converged}


def summarise(points: Sequence[Mapping[str, Any]], criterion: str) -> dict[str, Any]:
    judged = [p for p in points if p["agree"] is not None]
    zs = [abs(p["z"]) for p in judged if p["z"] is not None]
    rels = [abs(p["relative_error"]) for p in judged if p["relative_error"] is not None]
    return {
        "max_abs_z": max(zs) if zs else None,
        "max_relative_error": max(rels) if rels else None,
        "agree": bool(judged) and all(p["agree"] for p in judged),
        "criterion": criterion,
    }


def unjudged_warning(points: Sequence[Mapping[str, Any]]) -> list[str]:
    """A warning naming the points left out of the verdict, if any."""
    left = [p["alpha"] for p in points if p["agree"] is None]
    if not left:
        return []
    where = ", ".join(f"{a:g}" for a in left[:10]) + (f" and {len(left) - 10} more" if len(left) > 10 else "")
    return [
        f"no verdict at alpha = {where}: the theory did not converge there (test_error null); those "
        "points are left out of summary.agree"
    ]


def compare_points(
    theory: Mapping[str, Any],
    simulation: Mapping[str, Any],
    z_threshold: float,
    relative_tolerance: float,
    model: str | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per-point z-scores and relative errors of ``simulation`` against the theory of the same
    ``model`` (default: the simulation's own), and their summary over all points (both in the grid's
    C order; each comparison point carries the six coordinates)."""
    reference, against = reference_curve(theory, model or str(simulation.get("model", "network")))
    points = []
    for t, s in zip(reference, simulation["points"], strict=True):
        mean, sem = s["test_error"]["mean"], s["test_error"]["sem"]
        verdict = judge(t, mean, sem, z_threshold, relative_tolerance)
        points.append({**coordinates(t), "simulation_mean": mean, "simulation_sem": sem, **verdict})
    return points, summarise(points, criterion_text(z_threshold, relative_tolerance, against))


def extrapolation_block(
    theory: Mapping[str, Any],
    simulations: Mapping[int, Mapping[str, Any]],
    z_threshold: float,
    relative_tolerance: float,
    model: str | None = None,
) -> dict[str, Any]:
    """Fit each α's simulated means to ``ε∞ + b/d`` and judge ``ε∞`` against the theory of the same
    model."""
    dimensions = sorted(simulations)
    first = simulations[dimensions[0]]
    reference, against = reference_curve(theory, model or str(first.get("model", "network")))
    points = []
    for i, t in enumerate(reference):
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
        f"(weights 1/sem²) and ε∞ is judged against {against}; a point agrees when |z| ≤ "
        f"{z_threshold:g} (z = (ε∞ − theory)/sem(ε∞)) or |relative_error| ≤ {relative_tolerance:g} "
        f"(relative_error = (ε∞ − theory)/theory); {_UNJUDGED}"
    )
    return {"dimensions": dimensions, "points": points, "summary": summarise(points, criterion)}
