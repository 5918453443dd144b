"""The engine adapter: a :class:`Prepared` request → srf_engine → a JSON-ready dict.

``run_theory``, ``run_simulate`` and ``run_compare`` return the result of a request: ``key``,
``engine_version``, the engine's result and ``warnings``. The envelope (``cached``,
``elapsed_seconds``) is :mod:`service.pipeline`'s. Nothing here checks what the engine checks; the
one translation is that non-finite numbers (which JSON cannot carry) become ``null`` with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from srf_engine import ENGINE_VERSION
from srf_engine.compare import compare_points, extrapolation_block, unjudged_warning
from srf_engine.simulation import simulate_grid
from srf_engine.theory.curve import theory_grid
from srf_engine.theory.fidelity import is_network_accuracy_warning
from srf_engine.theory.function import learned_function

from .prepare import SRF_MODEL_REASON, Prepared
from .readout_theory import applies, run_readout_function, run_readout_theory

Progress = Callable[[float], None] | None
#: Where simulations run: ``None`` (this process's threads), or a function returning a
#: ``distributed.Client`` (called only when a simulation is actually computed: docs/scaling.md).
ClientFactory = Callable[[], Any] | None
#: How ``/compare`` obtains one of its parts (the body of a ``/theory/curve`` or ``/simulate``
#: request, with its envelope): the service looks in its store first; the CLI computes it.
Part = Callable[[Prepared, Progress], dict[str, Any]]

#: Share of a /compare's progress given to the theory (it is fast next to a simulation).
THEORY_SHARE_OF_COMPARE = 0.05


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


def _result(prepared: Prepared, result: dict[str, Any]) -> dict[str, Any]:
    bad: list[int] = []
    clean = json_ready(result, bad)
    warnings = list(clean.pop("warnings", []) or [])
    if bad:
        warnings.append(f"{len(bad)} non-finite value(s) from the engine are reported as null")
    return {
        "key": prepared.key,
        "engine_version": ENGINE_VERSION,
        "request": prepared.normal,
        **clean,
        "warnings": warnings,
    }


def run_theory(
    prepared: Prepared,
    progress: Progress = None,
    *,
    n_jobs: int | None = None,
    client: ClientFactory = None,
    part: Part | None = None,
) -> dict[str, Any]:
    """``POST /theory/curve``: the limit of docs/theory.md §5 at every grid point, and the baseline."""
    problem = prepared.problem
    normal = prepared.normal
    if applies(prepared.protocol, problem):  # a readout law or a multi-index teacher: §12
        return _result(prepared, run_readout_theory(prepared, progress))
    curve = theory_grid(
        problem.student,
        problem.teacher,
        prepared.grid,
        srf=problem.srf,
        baseline=True,
        progress=progress,
        mapping=normal["mapping"],
        bulk=normal["bulk"],
        row_norm=normal["row_norm"],
    )
    return _result(prepared, curve.as_dict())


def run_function(
    prepared: Prepared,
    progress: Progress = None,
    *,
    n_jobs: int | None = None,
    client: ClientFactory = None,
    part: Part | None = None,
) -> dict[str, Any]:
    """``POST /theory/function``: target, prediction after the step and at initialisation along κ."""
    normal = prepared.normal
    if applies(prepared.protocol, prepared.problem):  # a readout law or a multi-index teacher: §12
        return _result(prepared, run_readout_function(prepared, progress))
    result = learned_function(
        prepared.problem,
        normal["alphas"],
        normal["ridge"],
        normal["kappa"],
        progress=progress,
        mapping=normal["mapping"],
        bulk=normal["bulk"],
        row_norm=normal["row_norm"],
    )
    return _result(prepared, result.as_dict())


def run_simulate(
    prepared: Prepared,
    progress: Progress = None,
    *,
    n_jobs: int | None = None,
    client: ClientFactory = None,
    part: Part | None = None,
) -> dict[str, Any]:
    """``POST /simulate``: statistics over seeds of the finite-size model (docs/theory.md §2, §8)."""
    assert prepared.spec is not None  # prepare() builds it for every simulation request
    result = simulate_grid(
        prepared.problem,
        prepared.grid,
        prepared.spec,
        progress=progress,
        n_jobs=n_jobs,
        client=client() if client is not None else None,
        protocol=prepared.protocol,
    )
    return _result(prepared, result.as_dict())


def _scaled(progress: Progress, start: float, share: float) -> Progress:
    if progress is None:
        return None
    return lambda fraction: progress(start + share * fraction)


def _dimension_shares(dimensions: Sequence[int]) -> list[float]:
    """Progress shares of simulations at several ``d``: their cost grows like ``d³``."""
    costs = [float(d) ** 3 for d in dimensions]
    total = sum(costs)
    return [c / total for c in costs]


def _theory_warnings(theory: Mapping[str, Any], model: str) -> list[str]:
    """The theory's warnings that concern this comparison: against an sRF simulation the theory is the
    model's exact limit, so its measured distance to the network (docs/fidelity.md) is left out."""
    if model != "srf":
        return list(theory["warnings"])
    return [w for w in theory["warnings"] if not is_network_accuracy_warning(w)]


def run_compare(
    prepared: Prepared,
    progress: Progress = None,
    *,
    n_jobs: int | None = None,
    client: ClientFactory = None,
    part: Part | None = None,
) -> dict[str, Any]:
    """``POST /compare``: theory and simulation of one problem side by side, z-scores and a verdict.

    Each part (the theory, the simulation at each dimension) comes from ``part``, so that parts
    already computed by /theory/curve or /simulate of the same problem are reused. With
    ``extrapolate_dimensions`` the simulated means are also extrapolated in ``1/d``.
    """
    if part is None:
        raise ValueError("run_compare needs a `part` function")
    normal = prepared.normal
    simulations = prepared.simulation_parts
    dimensions = list(simulations)
    sim_share = 1 - THEORY_SHARE_OF_COMPARE
    plan: list[tuple[Any, Prepared, float, float]] = [
        ("theory", prepared.theory_part, 0.0, THEORY_SHARE_OF_COMPARE)
    ]
    start = THEORY_SHARE_OF_COMPARE
    for d, share in zip(dimensions, _dimension_shares(dimensions), strict=True):
        plan.append((d, simulations[d], start, sim_share * share))
        start += sim_share * share
    parts: dict[Any, dict[str, Any]] = {}
    for name, sub, begin, share in plan:
        parts[name] = part(sub, _scaled(progress, begin, share))
        if progress is not None:
            progress(begin + share)
    z_threshold, tolerance = normal["z_threshold"], normal["relative_tolerance"]
    theory, simulation = parts["theory"], parts[normal["dimension"]]
    model = normal["model"]  # judged against the theory of the model simulated
    points, summary = compare_points(theory, simulation, z_threshold, tolerance, model)
    body = {
        "key": prepared.key,
        "engine_version": ENGINE_VERSION,
        "request": prepared.normal,
        "grid": theory["grid"],
        # one (c, r, γ) for both sides: the simulation part was prepared with the theory's mapping
        "srf": theory.get("srf"),
        "mapping": theory.get("mapping"),
        **({"theory_reason": SRF_MODEL_REASON} if model == "srf" else {}),
        "theory": theory,
        "simulation": simulation,
        "points": json_ready(points),
        "summary": json_ready(summary),
        "warnings": list(
            dict.fromkeys(_theory_warnings(theory, model) + simulation["warnings"] + unjudged_warning(points))
        ),
    }
    if normal.get("extrapolate_dimensions"):
        sims = {d: parts[d] for d in dimensions}
        block = extrapolation_block(theory, sims, z_threshold, tolerance, model)
        body["extrapolation"] = json_ready(block)
    return body
