"""Theory curves and the learned function with a random readout at initialisation (docs/theory.md §12.2).

:func:`readout_curve` is the engine entry: a :class:`~srf_engine.problem.Problem`, sample ratios, one
ridge and a :class:`~srf_engine.theory.readout.ReadoutLaw`; it maps the step class by class
(``mapping``), evaluates the per-class conditional moments once, and solves the ``K``-class equations
along ``α`` with warm starts. The bulk is, by default (``bulk="one_step"``), §10.3's bulk class by class
with the spike's projections on it (§12.4, :mod:`~srf_engine.theory.class_onestep`; the
Marchenko–Pastur law wherever there is no step or the target has several indices), or the ``K``-atom
generalised Marchenko–Pastur law (``bulk="marchenko_pastur"``: each class ``c_k·W0``, §12.2); §10.4's
row-norm channel is not derived class by class (results say which bulk was used in ``warnings``).

:func:`readout_function` gives ``ŷ(κ) = Σ_k μ0k(κ) m_k + κ Σ_k μ1k(κ) t_k`` against ``h(κ)``: with several
classes a non-odd student can follow functions of ``κ`` that one class cannot.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidParameterError
from ..problem import Problem, check_alphas, check_nonnegative
from .class_onestep import OneStepClassSpectrum
from .class_solver import ClassFixedPoint, solve_classes
from .class_spectrum import ClassSpectrum
from .mapping import Mapping, check_mapping, curvature
from .multiindex import MultiIndexTarget, check_target, target_moments
from .readout import ClassMoments, ClassParams, ReadoutLaw, check_readout, class_moments, map_classes

Array = np.ndarray

DEFAULT_READOUT_MAPPING: Mapping = "corrected"

ONE_STEP_NOTE = (
    "readout classes use the one-step bulk class by class (rows f_k(M), M's law from one seeded sample, "
    "docs/theory.md §12.4) with the spike's projections on it; the row-norm channel (§10.4) is not "
    "derived class by class"
)
NO_ONE_STEP_NOTE = (
    "bulk 'one_step' is not derived for multi-index targets: the K-atom Marchenko–Pastur bulk is used"
)
BULK_NOTE = (
    "readout classes use the K-atom generalised Marchenko–Pastur bulk (each class c_k·W0, docs/theory.md "
    "§12.2); bulk 'one_step' adds §10.3's bulk class by class (§12.4), the row-norm channel (§10.4) is "
    "not derived class by class"
)


@dataclass(frozen=True)
class ReadoutPoint:
    alpha: float
    test_error: float | None
    train_error: float | None
    converged: bool
    residual: float
    fixed_point: ClassFixedPoint


@dataclass(frozen=True)
class ReadoutCurve:
    readout: ReadoutLaw
    classes: ClassParams
    mapping: str
    ridge: float
    points: list[ReadoutPoint]
    warnings: list[str] = field(default_factory=list)

    @property
    def test_errors(self) -> list[float | None]:
        return [p.test_error for p in self.points]

    @property
    def train_errors(self) -> list[float | None]:
        return [p.train_error for p in self.points]


@dataclass(frozen=True)
class _Prepared:
    problem: Problem
    law: ReadoutLaw
    classes: ClassParams
    moments: ClassMoments
    spectrum: ClassSpectrum
    mapping: str
    target: MultiIndexTarget | None = None
    bulk: str = "one_step"  # the bulk asked for; the spectrum says which one is used


CLASS_BULKS = ("marchenko_pastur", "one_step")


def _prepare(
    problem: Problem,
    readout: object,
    mapping: object,
    refine: int,
    target: object,
    bulk: str = "one_step",
) -> _Prepared:
    if not isinstance(problem, Problem):
        raise InvalidParameterError("problem", "must be a Problem")
    law = check_readout(readout)
    mapping = check_mapping(mapping)
    multi = None if target is None else check_target(target)
    classes = map_classes(problem, law, mapping, multi)
    cm = class_moments(problem, classes, refine=refine, target=multi)
    if bulk not in CLASS_BULKS:
        raise InvalidParameterError("bulk", f"must be one of {', '.join(map(repr, CLASS_BULKS))}")
    spectrum = ClassSpectrum(problem.width, classes.pi, classes.c)
    if bulk == "one_step" and problem.has_step and problem.srf is None and target is None:
        spectrum = OneStepClassSpectrum(problem, law, classes.c)
    return _Prepared(problem, law, classes, cm, spectrum, mapping, multi, bulk)


#: Measured ranges of theory/network − 1 in % (test lo, hi, training lo, hi) by regime: docs/fidelity.md,
#: "Readout classes and multi-index targets" (network at d = 1000–1500, 6–8 seeds, η̃ = 2, λ = 0.05);
#: tests/test_readout_fidelity_table.py recomputes them from the document's rows.
MEASURED: dict[tuple[str, bool], tuple[float, float, float, float]] = {
    ("curved", False): (-7.5, 4.6, -18.8, 1.9),  # E σ'' ≠ 0, α ≥ width: 47 rows
    ("curved", True): (-5.6, 5.5, -17.1, 39.2),  # E σ'' ≠ 0, α < width: 33 rows
    ("odd", False): (-3.1, -0.6, -2.0, 2.2),  # tanh/tanh, rademacher and [1, −0.5]: 5 rows each
    ("odd", True): (-2.1, 8.2, -4.2, 2.6),
    ("multi-index", False): (-0.5, 6.4, -10.7, 22.0),  # two targets, rademacher and [1, −0.5]: 7 rows each
    ("multi-index", True): (-3.3, 1.3, -29.9, 6.5),
}
#: The same with ``bulk="one_step"`` (§12.4: the one-step bulk and the spike's projections class by class),
#: where it changes the theory.
MEASURED_ONE_STEP: dict[tuple[str, bool], tuple[float, float, float, float]] = {
    ("curved", False): (-8.7, 4.6, -17.7, 2.9),
    ("curved", True): (-3.2, 5.5, -12.0, 58.0),
    ("odd", False): (-1.2, -0.0, -0.4, 2.8),
    ("odd", True): (-0.7, 8.2, -4.2, 3.1),
}
TARGETS = (2.0, 3.0)  # % on the test and the training error
KINDS = {
    "curved": "a student with E σ'' ≠ 0",
    "odd": "an odd student (a symmetric law makes the network the uniform one in law: §10.5 applies)",
    "multi-index": "a multi-index target",
}


def _regime_warnings(prep: _Prepared, alphas: Sequence[float]) -> list[str]:
    """The measured range of each regime the curve meets where it leaves the 2 % / 3 % targets."""
    problem = prep.problem
    if not problem.has_step or problem.srf is not None:
        return []
    if prep.law.size == 1 and prep.target is None:
        return [
            "one readout class: theory_curve is the validated theory of a uniform readout (its default adds "
            "the spike's projections on the one-step bulk and the row-norm channel, docs/theory.md "
            "§10.3–§10.4) and is closer to the network"
        ]
    if prep.target is not None:
        kind = "multi-index"
    else:
        kind = "curved" if abs(curvature(problem.student)) > 1e-6 else "odd"
    out = []
    if problem.alpha0 < 1.0:
        out.append("α0 < 1 with readout classes: not validated against the network")
    for below in sorted({a < problem.width for a in alphas}):
        one_step = isinstance(prep.spectrum, OneStepClassSpectrum)
        lo, hi, tlo, thi = (MEASURED_ONE_STEP if one_step else MEASURED).get(
            (kind, below), MEASURED[(kind, below)]
        )
        if max(abs(lo), abs(hi)) > TARGETS[0] or max(abs(tlo), abs(thi)) > TARGETS[1]:
            where = "below" if below else "from"
            out.append(
                f"readout classes with {KINDS[kind]}, α {where} the width: the theory was measured against "
                f"the network at {lo:+.1f} … {hi:+.1f} % (test) and {tlo:+.1f} … {thi:+.1f} % (training), "
                "docs/fidelity.md; only η̃ = 2, λ = 0.05 were validated"
            )
    return out


def _warnings(prep: _Prepared, failed: Sequence[float], alphas: Sequence[float] = ()) -> list[str]:
    out = []
    if prep.problem.has_step and prep.problem.srf is None:
        out.append(ONE_STEP_NOTE if isinstance(prep.spectrum, OneStepClassSpectrum) else BULK_NOTE)
        if prep.bulk == "one_step" and prep.target is not None:
            out.append(NO_ONE_STEP_NOTE)
    out += _regime_warnings(prep, alphas)
    f0 = prep.law.mean * prep.problem.student.mean
    step = prep.problem.has_step and prep.problem.srf is None
    if prep.mapping == "paper" and step and abs(f0) > 1e-12:
        out.append(f"the paper's mapping assumes f0 = E[u] E σ(z) = 0; it is {f0:.4g} here (use 'corrected')")
    if failed:
        out.append(
            "no verified fixed point at α = "
            + ", ".join(f"{a:g}" for a in failed)
            + ": errors there are null"
        )
    return out


def readout_curve(
    problem: Problem,
    alphas: Sequence[float],
    ridge: float,
    readout: object = "rademacher",
    mapping: Mapping = DEFAULT_READOUT_MAPPING,
    refine: int = 1,
    target: object = None,
    bulk: str = "one_step",
) -> ReadoutCurve:
    """Test and training errors along ``alphas`` with readout law ``readout`` (a :class:`ReadoutLaw`,
    ``"uniform"``, ``"rademacher"``, ``"gaussian"`` or ``{"values", "weights"}``), docs/theory.md §12.2.

    ``target``: a multi-index target (§12.3; a :class:`~srf_engine.theory.multiindex.MultiIndexTarget` or a
    name of ``MULTI_INDEX_TARGETS``) in place of ``problem.teacher``. A point whose fixed point is not
    verified (residual > 1e-8) has ``None`` errors and a warning."""
    alphas = check_alphas(alphas)
    ridge = check_nonnegative("ridge", ridge)
    prep = _prepare(problem, readout, mapping, refine, target, bulk)
    order = sorted(range(len(alphas)), key=lambda i: alphas[i])
    points: list[ReadoutPoint | None] = [None] * len(alphas)
    start = None
    failed: list[float] = []
    for i in order:
        fp, x = solve_classes(
            prep.moments, prep.spectrum, alpha=alphas[i], ridge=ridge, width=problem.width, start=start
        )
        if fp.converged:
            start = x
        else:
            failed.append(alphas[i])
        ok = fp.converged and math.isfinite(fp.test_error)
        points[i] = ReadoutPoint(
            alphas[i],
            fp.test_error if ok else None,
            fp.train_error if ok else None,
            fp.converged,
            fp.residual,
            fp,
        )
    warnings = _warnings(prep, sorted(failed), alphas)
    return ReadoutCurve(prep.law, prep.classes, prep.mapping, ridge, points, warnings)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ReadoutFunction:
    """Along ``κ``: the target ``h(κ)``, the prediction after the step ``ŷ(κ)``, and the test error."""

    readout: ReadoutLaw
    alpha: float
    kappa: tuple[float, ...]
    target: tuple[float, ...]
    after_step: tuple[float, ...] | None
    test_error: float | None
    converged: bool
    warnings: list[str] = field(default_factory=list)


def readout_function(
    problem: Problem,
    alpha: float,
    ridge: float,
    kappa: Sequence[float],
    readout: object = "rademacher",
    mapping: Mapping = DEFAULT_READOUT_MAPPING,
    target: object = None,
    bulk: str = "one_step",
) -> ReadoutFunction:
    """``ŷ(κ) = Σ_k μ0k(κ) m_k + κ Σ_k μ1k(κ) t_k`` at the fixed point, and ``h(κ) = E[y | κ]``."""
    (alpha,) = check_alphas([alpha], "alpha")
    ridge = check_nonnegative("ridge", ridge)
    grid = np.asarray(_check_kappa(kappa), dtype=float)
    prep = _prepare(problem, readout, mapping, 1, target, bulk)
    fp, _ = solve_classes(prep.moments, prep.spectrum, alpha=alpha, ridge=ridge, width=problem.width)
    cl = prep.classes
    mean = cl.r[:, None] * grid[None, :]
    sqrt_c = np.sqrt(cl.c)[:, None] * np.ones_like(grid)[None, :]
    m0, mz, _ = problem.student.gaussian_moments(mean.ravel(), sqrt_c.ravel())
    m0, mu1 = m0.reshape(mean.shape), (mz.reshape(mean.shape) / sqrt_c)
    if prep.target is not None:
        h = target_moments(prep.target, cl.gamma_vec, grid, 0.0)[0]
    else:
        rho = np.full_like(grid, math.sqrt(max(0.0, 1 - cl.gamma**2)))
        h = problem.teacher.gaussian_moments(cl.gamma * grid, rho)[0]
    y_hat = fp.m @ m0 + grid * (fp.t @ mu1)
    ok = fp.converged
    return ReadoutFunction(
        prep.law,
        alpha,
        tuple(grid.tolist()),
        tuple(h.tolist()),
        tuple(y_hat.tolist()) if ok else None,
        fp.test_error if ok else None,
        ok,
        _warnings(prep, [] if ok else [alpha], [alpha]),
    )


def _check_kappa(values: Sequence[float]) -> tuple[float, ...]:
    """``κ`` values: a non-empty list of finite numbers."""
    try:
        items = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InvalidParameterError("kappa", "must be a list of numbers") from None
    if not items or not all(math.isfinite(v) for v in items):
        raise InvalidParameterError("kappa", "must be a non-empty list of finite numbers")
    return items
