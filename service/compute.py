"""The computations behind the POST endpoints, shared by the HTTP service and the CLI.

``run_theory``, ``run_simulate`` and ``run_compare`` take a validated request model and return the
200 body of a cache miss: ``key``, ``cached`` (always false here), ``engine_version``, the engine's
result, and ``elapsed_seconds`` (the computing time). The service stores exactly this body; on a hit
it only flips ``cached`` and reports its own (short) ``elapsed_seconds``. All maths is srf_engine's;
this module translates, checks nothing the engine checks, and turns non-finite numbers (which JSON
cannot carry) into ``null`` with a warning.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from srf_engine import ENGINE_VERSION, Problem
from srf_engine.extrapolation import extrapolate_in_inverse_dimension
from srf_engine.theory import theory_curve

from .canonical import endpoint_of, normalise, request_key
from .schemas import CompareRequest, SimulateRequest, TheoryRequest

Progress = Callable[[float], None] | None
#: Looks a stored body up by key (the service passes its cache; the CLI nothing).
Lookup = Callable[[str], dict[str, Any] | None]
#: Keeps a freshly computed body: ``keep(key, endpoint, body)``.
Keep = Callable[[str, str, dict[str, Any]], None]

#: Share of a /compare's progress given to the theory (it is fast next to a simulation).
THEORY_SHARE_OF_COMPARE = 0.05


def build_problem(normal: Mapping[str, Any]) -> Problem:
    """The engine's problem from a normalised request (raises InvalidParameterError → 422)."""
    return Problem(
        normal["student"],
        normal["teacher"],
        normal["learning_rate"],
        normal["alpha0"],
        normal["width"],
        normal["noise"],
        normal["srf"],
    )


def json_ready(value: Any, bad: list[int] | None = None) -> Any:
    """numpy scalars → Python, non-finite floats → None (counted in ``bad``), tuples → lists."""
    if isinstance(value, dict):
        return {str(k): json_ready(v, bad) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v, bad) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, bool | int | float | str):
        value = value.tolist()
        if isinstance(value, list):
            return json_ready(value, bad)
    if isinstance(value, float) and not math.isfinite(value):
        if bad is not None:
            bad.append(1)
        return None
    return value


def _body(
    req: TheoryRequest | SimulateRequest | CompareRequest, result: dict[str, Any], started: float
) -> dict[str, Any]:
    bad: list[int] = []
    clean = json_ready(result, bad)
    warnings = list(clean.pop("warnings", []) or [])
    if bad:
        warnings.append(f"{len(bad)} non-finite value(s) from the engine are reported as null")
    return {
        "key": request_key(req),
        "cached": False,
        "engine_version": ENGINE_VERSION,
        **clean,
        "warnings": warnings,
        "elapsed_seconds": round(time.perf_counter() - started, 6),
    }


def run_theory(req: TheoryRequest, progress: Progress = None) -> dict[str, Any]:
    """``POST /theory/curve``: the limit curve of THEORY.md §5 and the random-features baseline."""
    started = time.perf_counter()
    normal = normalise(req)
    curve = theory_curve(
        build_problem(normal), normal["alphas"], normal["ridge"], baseline=True, progress=progress
    )
    return _body(req, curve.as_dict(), started)


def run_simulate(
    req: SimulateRequest, progress: Progress = None, *, n_jobs: int | None = None
) -> dict[str, Any]:
    """``POST /simulate``: statistics over seeds of the finite-size model (THEORY.md §2, §8)."""
    from srf_engine.simulation import simulate  # imported late: the heavy module loads only when used

    started = time.perf_counter()
    normal = normalise(req)
    result = simulate(
        build_problem(normal),
        normal["alphas"],
        normal["ridge"],
        model=normal["model"],
        dimension=normal["dimension"],
        seeds=normal["seeds"],
        test_samples=normal["test_samples"],
        progress=progress,
        n_jobs=n_jobs,
    )
    return _body(req, result.as_dict(), started)


def theory_part(req: CompareRequest) -> TheoryRequest:
    """The /theory/curve request of the same problem (its key is the theory part's key)."""
    return TheoryRequest.model_validate(req.model_dump(include=set(TheoryRequest.model_fields)))


def simulation_part(req: CompareRequest) -> SimulateRequest:
    """The /simulate request of the same problem and simulation settings."""
    return req.simulation_requests()[req.dimension]


def _scaled(progress: Progress, start: float, share: float) -> Progress:
    if progress is None:
        return None
    return lambda fraction: progress(start + share * fraction)


def criterion_text(z_threshold: float, relative_tolerance: float) -> str:
    return (
        f"a point agrees when |z| ≤ {z_threshold:g} (z = (simulation_mean − theory)/simulation_sem) or "
        f"|relative_error| ≤ {relative_tolerance:g} (finite-size allowance, THEORY.md §9); z is null when "
        "the sem is 0 (a single seed), leaving the relative allowance; a point whose theory did not converge "
        "never agrees; agree = every point agrees"
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
    """Per-α z-scores and relative errors of simulation against theory, and their summary."""
    points = []
    for t, s in zip(theory["points"], simulation["points"], strict=True):
        mean, sem = s["test_error"]["mean"], s["test_error"]["sem"]
        verdict = judge(t, mean, sem, z_threshold, relative_tolerance)
        points.append({"alpha": t["alpha"], "simulation_mean": mean, "simulation_sem": sem, **verdict})
    return points, summarise(points, criterion_text(z_threshold, relative_tolerance))


def _dimension_shares(dimensions: Sequence[int]) -> list[float]:
    """Progress shares of simulations at several ``d``: their cost grows like ``d³``."""
    costs = [float(d) ** 3 for d in dimensions]
    total = sum(costs)
    return [c / total for c in costs]


def extrapolation_block(
    req: CompareRequest, theory: Mapping[str, Any], simulations: Mapping[int, Mapping[str, Any]]
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
        verdict = judge(t, limit, limit_sem, req.z_threshold, req.relative_tolerance)
        verdict.pop("theory_converged")
        points.append(
            {"alpha": t["alpha"], "limit": limit, "limit_sem": limit_sem, "slope": slope, **verdict}
        )
    criterion = (
        f"the simulated means at d = {', '.join(str(d) for d in dimensions)} are fitted to ε∞ + b/d "
        f"(weights 1/sem²); a point agrees when |z| ≤ {req.z_threshold:g} (z = (ε∞ − theory)/sem(ε∞)) or "
        f"|relative_error| ≤ {req.relative_tolerance:g} (relative_error = (ε∞ − theory)/theory); a point "
        "whose theory did not converge never agrees; agree = every point agrees"
    )
    return {"dimensions": dimensions, "points": points, "summary": summarise(points, criterion)}


def run_compare(
    req: CompareRequest,
    progress: Progress = None,
    *,
    n_jobs: int | None = None,
    lookup: Lookup | None = None,
    keep: Keep | None = None,
) -> dict[str, Any]:
    """``POST /compare``: theory and simulation of one problem side by side, z-scores and a verdict.

    With ``lookup``/``keep`` (the service's cache) a part already computed — by an earlier
    /theory/curve or /simulate of the same problem — is reused, and a new part is stored under its
    own key, so the three endpoints share work. With ``extrapolate_dimensions`` the simulation is
    also run at those dimensions (each a /simulate part of its own) and extrapolated in ``1/d``.
    """
    started = time.perf_counter()
    simulations = req.simulation_requests()
    dimensions = list(simulations)
    sim_share = 1 - THEORY_SHARE_OF_COMPARE
    plan: list[tuple[Any, Any, Any, float, float]] = [
        ("theory", theory_part(req), run_theory, 0.0, THEORY_SHARE_OF_COMPARE)
    ]
    start = THEORY_SHARE_OF_COMPARE
    for d, share in zip(dimensions, _dimension_shares(dimensions), strict=True):
        plan.append((d, simulations[d], run_simulate, start, sim_share * share))
        start += sim_share * share
    parts: dict[Any, dict[str, Any]] = {}
    for name, part, run, begin, share in plan:
        key = request_key(part)
        stored = lookup(key) if lookup is not None else None
        if stored is not None:
            parts[name] = {**stored, "cached": True}
        else:
            kwargs = {"n_jobs": n_jobs} if run is run_simulate else {}
            parts[name] = run(part, _scaled(progress, begin, share), **kwargs)
            if keep is not None:
                keep(key, endpoint_of(part), parts[name])
        if progress is not None:
            progress(begin + share)
    theory, simulation = parts["theory"], parts[req.dimension]
    points, summary = compare_points(theory, simulation, req.z_threshold, req.relative_tolerance)
    bad: list[int] = []
    points = json_ready(points, bad)
    warnings = list(dict.fromkeys(theory["warnings"] + simulation["warnings"]))
    body = {
        "key": request_key(req),
        "cached": False,
        "engine_version": ENGINE_VERSION,
        "theory": theory,
        "simulation": simulation,
        "points": points,
        "summary": json_ready(summary),
        "warnings": warnings,
        "elapsed_seconds": round(time.perf_counter() - started, 6),
    }
    if req.extrapolate_dimensions:
        body["extrapolation"] = json_ready(
            extrapolation_block(req, theory, {d: parts[d] for d in dimensions})
        )
    return body
