"""The theory endpoints for a random readout law and multi-index teachers (docs/theory.md §12).

A request with ``readout`` ≠ uniform, or with a ``{"multi_index": …}`` teacher, is answered by the
engine's class-by-class theory (``readout_curve``, ``readout_function``) where it covers the request:
one step, ``learning_rate_exponent = 0``, a fixed ``λ`` and ``η̃``, bulk ``marchenko_pastur`` or
``one_step`` (the row-norm channel, §10.4, is not derived class by class: ``row_norm`` is then ignored,
the answer says ``row_norm: false`` and warns), a multi-index teacher of at most ``MAX_INDEX`` directions
and no ``srf`` with it. :func:`check_covered` raises a 422 naming the field for everything else.

The answer has the shape of today's theory answers (points in C order of the grid's axes, each with
its six coordinates; a baseline; ``srf``), plus ``readout`` (the law used) and ``srf_classes``: the
per-class ``(u, weight, c, r, γ)`` of §12.2. ``srf`` is the one class's parameters when there is one
class, else ``null``; where the classes vary between grid points each point carries its own
``srf_classes`` and the top-level one is ``null``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from srf_engine import InvalidParameterError, Problem
from srf_engine.grid import AXES, OPTIMAL
from srf_engine.problem import SRFParams
from srf_engine.protocols import Protocol
from srf_engine.teachers import MultiIndexTeacher
from srf_engine.theory import readout_curve, readout_function
from srf_engine.theory.multiindex import DEFAULT_NU_NODES, MAX_INDEX, MultiIndexTarget
from srf_engine.theory.readout import ClassParams, check_readout

Progress = Callable[[float], None] | None

WHERE = "; POST /simulate answers this protocol"
#: A smooth single-index placeholder: with a multi-index target the engine reads the target, and the
#: problem's teacher only picks κ-rule kinks (none for a smooth teacher).
PLACEHOLDER_TEACHER = "linear"
CLASS_BULKS = ("marchenko_pastur", "one_step")


def applies(protocol: Protocol, problem: Problem) -> bool:
    """Whether the request leaves today's theory: a readout law other than uniform, a multi-index teacher."""
    return not protocol.readout.uniform or isinstance(problem.teacher, MultiIndexTeacher)


def target_of(teacher: MultiIndexTeacher) -> MultiIndexTarget:
    """The engine's multi-index target ``g(Z)`` (``Z`` of shape ``(…, k)``) of a request's teacher."""
    if teacher.k > MAX_INDEX:
        raise InvalidParameterError(
            "teacher",
            f"the theory covers multi-index teachers of at most {MAX_INDEX} directions, "
            f"this one has {teacher.k}" + WHERE,
        )
    smooth = all(a.smooth for a in teacher.sum)

    def g(z: np.ndarray, t: MultiIndexTeacher = teacher) -> np.ndarray:
        flat = np.asarray(z, dtype=float).reshape(-1, t.k)
        return t(flat).reshape(np.shape(z)[:-1])

    return MultiIndexTarget(str(teacher.spec), teacher.k, g, smooth)


def check_covered(protocol: Protocol, problem: Problem, normal: Mapping[str, Any]) -> None:
    """Raise ``InvalidParameterError(field, rule)`` (a 422) for what §12's theory does not cover."""
    if protocol.steps != (1,):
        raise InvalidParameterError("steps", "the theory covers steps = 1 only" + WHERE)
    if protocol.learning_rate_exponent != 0.0:
        raise InvalidParameterError(
            "learning_rate_exponent", "the theory covers learning_rate_exponent = 0 only" + WHERE
        )
    what = "a readout law" if not protocol.readout.uniform else "a multi-index teacher"
    for name in ("ridge", "learning_rate"):
        if normal[name] == OPTIMAL:
            raise InvalidParameterError(name, f'"optimal" is not offered with {what}: give numbers')
    if normal.get("bulk", "marchenko_pastur") not in CLASS_BULKS:
        raise InvalidParameterError("bulk", f"with {what} the theory offers marchenko_pastur or one_step")
    if isinstance(problem.teacher, MultiIndexTeacher):
        if problem.srf is not None:
            raise InvalidParameterError("srf", "cannot be given with a multi-index teacher")
        target_of(problem.teacher)
        for a0, eta in (
            (a0, eta) for a0 in _list(normal["alpha0"]) for eta in _list(normal["learning_rate"])
        ):
            if a0 == 0 or eta == 0:
                raise InvalidParameterError(
                    "learning_rate" if eta == 0 else "alpha0",
                    "a multi-index teacher needs a step in the theory (learning_rate > 0, alpha0 > 0)",
                )


#: The time model of a §12 curve, measured on one core (scripts in the commit message of this module):
#: per curve a setup (the one-step bulk class by class samples and diagonalises four first batches,
#: d = 800), per α a solve growing with the classes K (the one-step bulk class by class grows like K³:
#: the gaussian law's 12 atoms take 0.6–0.8 s per α, rademacher 0.02–0.03 s), and a multi-index
#: target's tensor rule of 80^k nodes (k = 3: about 6 s per curve).
CURVE_SETUP_SECONDS = 0.02
ONE_STEP_SETUP_SECONDS = 0.5
MP_SECONDS_PER_ALPHA = (0.001, 0.0002)  # × K, × K²
ONE_STEP_SECONDS_PER_ALPHA = (0.012, 0.0004)  # × K, × K³
TARGET_SECONDS_PER_NODE = 1.2e-5


def readout_seconds(prepared: Any) -> float:
    """Predicted seconds of :func:`run_readout_theory` / :func:`run_readout_function` (and the baseline)."""
    grid, normal, problem = prepared.grid, prepared.normal, prepared.problem
    law = check_readout(prepared.protocol.readout)
    k = law.size
    multi = isinstance(problem.teacher, MultiIndexTeacher)
    one_step = normal.get("bulk") == "one_step" and problem.srf is None and not multi
    a, b = ONE_STEP_SECONDS_PER_ALPHA if one_step else MP_SECONDS_PER_ALPHA
    per_alpha = a * k + b * k ** (3 if one_step else 2)
    setup = CURVE_SETUP_SECONDS + (ONE_STEP_SETUP_SECONDS if one_step else 0.0) + (
        TARGET_SECONDS_PER_NODE * DEFAULT_NU_NODES**problem.teacher.k if multi else 0.0
    )
    lines = math.prod(len(grid.values(name)) for name in AXES[:-1])
    n_alpha = len(grid.alpha)
    baseline = 0.0 if multi else CURVE_SETUP_SECONDS + n_alpha * sum(MP_SECONDS_PER_ALPHA)
    return lines * (setup + n_alpha * per_alpha + baseline)


def _row_norm_note(normal: Mapping[str, Any]) -> list[str]:
    if not normal.get("row_norm") or normal.get("bulk") != "one_step":  # elsewhere it never applies
        return []
    return [
        "row_norm was asked for: the row-norm channel (docs/theory.md §10.4) is not derived class by class "
        "and was left out"
    ]


def _reason(normal: Mapping[str, Any]) -> str | None:
    """Why ``row_norm`` in the answer differs from the request's (``theory_reason``)."""
    if not normal.get("row_norm") or normal.get("bulk") != "one_step":
        return None
    return "the row-norm channel (docs/theory.md §10.4) is not derived class by class (§12): left out"


def _envelope(
    normal: Mapping[str, Any], readout: Any, classes: list[dict[str, float]] | None
) -> dict[str, Any]:
    """Which theory answered (§12, class by class) and the classes' sRF parameters."""
    return {
        "mapping": normal["mapping"],
        "bulk": normal["bulk"],
        "row_norm": False,
        "theory_reason": _reason(normal),
        "fidelity": None,  # the class-by-class rows of docs/fidelity.md reach the answer as its warnings
        "readout": readout.spec,
        "srf": _srf(classes) if classes else None,
        "srf_classes": classes,
    }


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _engine_problem(problem: Problem) -> tuple[Problem, MultiIndexTarget | None]:
    if isinstance(problem.teacher, MultiIndexTeacher):
        return dataclasses.replace(problem, teacher=PLACEHOLDER_TEACHER), target_of(problem.teacher)
    return problem, None


def _classes(cl: ClassParams) -> list[dict[str, float]]:
    return [
        {
            "u": float(cl.u[k]),
            "weight": float(cl.pi[k]),
            "c": float(cl.c[k]),
            "r": float(cl.r[k]),
            "gamma": float(cl.gamma),
        }
        for k in range(cl.size)
    ]


def _theory_options(prepared: Any, target: MultiIndexTarget | None) -> dict[str, Any]:
    """The keywords of ``readout_curve`` / ``readout_function`` that a request sets."""
    normal = prepared.normal
    return {
        "readout": prepared.protocol.readout,
        "mapping": normal["mapping"],
        "target": target,
        "bulk": normal["bulk"],
    }


def _srf(classes: list[dict[str, float]]) -> dict[str, float] | None:
    """The sRF parameters when every class has the same ``(c, r)``, else ``None``."""
    first = classes[0]
    if all(c["c"] == first["c"] and c["r"] == first["r"] for c in classes):
        return {"c": first["c"], "r": first["r"], "gamma": first["gamma"]}
    return None


def run_readout_theory(prepared: Any, progress: Progress = None) -> dict[str, Any]:
    """``/theory/curve``: ``readout_curve`` along ``α`` for every line of the grid, and the baseline (no
    step: the same law, which random features at initialisation do not feel, §12.2)."""
    grid, normal = prepared.grid, prepared.normal
    base, target = _engine_problem(prepared.problem)
    options = _theory_options(prepared, target)
    readout = prepared.protocol.readout
    line_axes = AXES[:-1]
    lines = list(np.ndindex(*(len(grid.values(a)) for a in line_axes)))
    points: list[dict[str, Any]] = []
    baseline: list[dict[str, Any]] = []
    warnings: list[str] = []
    per_point: list[list[dict[str, float]]] = []
    base_cache: dict[tuple[float, float, float], Any] = {}
    for done, line in enumerate(lines):
        w, n, a0, eta, lam = (grid.values(a)[i] for a, i in zip(line_axes, line, strict=True))
        problem = dataclasses.replace(base, width=w, noise=n, alpha0=a0, learning_rate=eta)
        curve = readout_curve(
            problem,
            grid.alpha,
            lam,
            **options,
        )
        warnings += curve.warnings
        classes = _classes(curve.classes)
        coords = {"learning_rate": eta, "alpha0": a0, "ridge": lam, "noise": n, "width": w}
        for p in curve.points:
            fp = p.fixed_point
            points.append(
                {
                    "alpha": p.alpha,
                    **coords,
                    "test_error": p.test_error,
                    "train_error": p.train_error,
                    "converged": p.converged,
                    "iterations": fp.iterations,
                    "residual": p.residual,
                    "overlaps": fp.overlaps(),
                }
            )
            per_point.append(classes)
        if target is None:  # without a step every readout law is random features (§12.2)
            key = (w, n, lam)
            if key not in base_cache:
                start = dataclasses.replace(problem, learning_rate=0.0, alpha0=0.0)
                base_cache[key] = readout_curve(
                    start, grid.alpha, lam, readout="uniform", mapping="corrected"
                )
            for p in base_cache[key].points:
                baseline.append(
                    {
                        "alpha": p.alpha,
                        **coords,
                        "test_error": p.test_error,
                        "train_error": p.train_error,
                        "converged": p.converged,
                    }
                )
        if progress is not None:
            progress((done + 1) / len(lines))
    warnings += _row_norm_note(normal)
    if target is not None:
        warnings.append("no baseline with a multi-index teacher: the theory at initialisation is not derived")
    shared = all(c == per_point[0] for c in per_point)
    if not shared:
        for point, classes in zip(points, per_point, strict=True):
            point["srf_classes"] = classes
    top = per_point[0] if shared else None
    return {
        **_envelope(normal, readout, top),
        "grid": grid.as_dict(),
        "points": points,
        "baseline": baseline,
        "warnings": list(dict.fromkeys(warnings)),
    }


def run_readout_function(prepared: Any, progress: Progress = None) -> dict[str, Any]:
    """``/theory/function``: ``readout_function`` at each ``α``; at initialisation the uniform theory's
    line (no step: every law is random features, §12.2; none with a multi-index teacher)."""
    normal = prepared.normal
    problem, target = _engine_problem(prepared.problem)
    options = _theory_options(prepared, target)
    readout = prepared.protocol.readout
    points, warnings = [], []
    classes = None
    kappa = normal["kappa"]
    alphas = normal["alphas"]
    initial = None
    if target is None:
        from srf_engine.theory.function import learned_function

        gamma = readout_curve(
            problem, alphas[:1], normal["ridge"], readout=readout, mapping=normal["mapping"]
        )
        # at initialisation only γ (the spike's overlap, which sets κ) matters: §7's baseline along κ
        initial = learned_function(
            dataclasses.replace(problem, srf=SRFParams(c=1.0, r=0.0, gamma=gamma.classes.gamma)),
            alphas,
            normal["ridge"],
            kappa,
            mapping="corrected",
            bulk="marchenko_pastur",
            row_norm=False,
        )
    for i, alpha in enumerate(alphas):
        fn = readout_function(
            problem,
            alpha,
            normal["ridge"],
            kappa,
            **options,
        )
        warnings += fn.warnings
        if classes is None:
            curve = readout_curve(
                problem,
                [alpha],
                normal["ridge"],
                **options,
            )
            classes = _classes(curve.classes)
        at0 = initial.points[i] if initial is not None else None
        points.append(
            {
                "alpha": alpha,
                "kappa": list(fn.kappa),
                "target": list(fn.target),
                "after_step": None if fn.after_step is None else list(fn.after_step),
                "at_initialisation": None if at0 is None else at0.at_initialisation,
                "test_error": fn.test_error,
                "baseline_test_error": None if at0 is None else at0.test_error,
                "ridge": normal["ridge"],
                "baseline_ridge": None if at0 is None else at0.ridge,
                "converged": fn.converged,
                "baseline_converged": None if at0 is None else at0.converged,
            }
        )
        if progress is not None:
            progress((i + 1) / len(alphas))
    warnings += _row_norm_note(normal)
    if target is not None:
        warnings.append("no prediction at initialisation with a multi-index teacher: not derived")
    return {
        **_envelope(normal, readout, classes),
        "points": points,
        "warnings": list(dict.fromkeys(warnings)),
    }
