"""Theory on grids (docs/theory.md §5): test and training error at every ``(ψ_w, Δ, α0, η̃, λ, α)``.

A grid computes the conditional moments once per distinct ``(σ, σ*, c, r, γ, Δ)`` and reuses them
for every width, ridge and α. Points are solved line by line (a line: all α's of one
``(ψ_w, Δ, α0, η̃, λ)``), each axis walked in increasing order; a point warm-starts from the same α
on the neighbouring line (one step back along the last axis that changed; extrapolated linearly from
two steps back when there are two), else from the previous α
of its line — continuation along every axis. ``ridge = "optimal"`` minimises the test error over
``λ ≥ 0`` at each point, ``learning_rate = "optimal"`` over ``η̃ ≥ 0`` (both: the joint minimum).
The baseline is the same problem at initialisation (``c = 1, r = 0``): random features in the
kernel regime, solved once per distinct ``(ψ_w, Δ, γ, λ, α)``. A point's numbers do not depend on
which other points were asked (warm starts change them by the solver's tolerance only).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import optimize

from ..activations import Activation, get_activation
from ..blas import single_threaded_blas
from ..cancel import checkpoint
from ..errors import InvalidParameterError
from ..errors import InvalidParameterError as _Invalid
from ..grid import AXES, OPTIMAL, GridSpec, sorted_order
from ..problem import Problem, SRFParams, check_nonnegative
from ..results import BaselinePoint, TheoryCurve, TheoryPoint, frozen_instance
from ..teachers import MULTI_INDEX_REFUSAL, is_multi_index
from .batch import BatchModel, solve_batch
from .bulk import Bulk
from .conditional import ConditionalMoments, conditional_moments
from .fidelity import fidelity_of, fidelity_warnings, merge_fidelity
from .mapping import DEFAULT_MAPPING as _DEFAULT_MAPPING
from .mapping import Mapping, check_mapping, map_to_srf, mapping_warnings, step_statistics
from .solver import FixedPoint, RowNormChannel, solve_fixed_point
from .used import theory_used_reason

Ridge = float | Literal["optimal"]
BulkLaw = Literal["marchenko_pastur", "one_step", "one_step_sampled"]
BULKS: tuple[str, ...] = ("marchenko_pastur", "one_step", "one_step_sampled")
#: The most accurate validated combination (benchmarks/fidelity.py; docs/theory.md §10.5).
DEFAULT_MAPPING: Mapping = _DEFAULT_MAPPING  # one default for the theory and the sRF simulation
DEFAULT_BULK: BulkLaw = "one_step"
#: Whether the row-norm channel (docs/theory.md §10.4) joins the one-step bulk law by default.
DEFAULT_ROW_NORM = True
#: ``|η̃ b1|`` below this is an odd student's (``b1`` is a numerical derivative, ~1e-12 for erf).
FLAT_SLOPE = 1e-6
#: Effective training samples on which the mean direction's fit must rest for a simulation's median to be
#: within about 5 % of the limit (docs/theory.md §10.6, measured), and the dimension beyond which a point
#: needing more is warned about (about the largest routinely simulated).
FIT_SAMPLES = 50.0
SIMULATED_DIMENSION = 2000.0
#: Largest row scale c (docs/theory.md §10.2) for which a one-step bulk law is used (c = 1.4e5 at α0 = 1e-6
#: for relu/tanh, η̃ = 1: solved in 0.8 s; at α0 = 1e-12, c = 1.4e11, over 30 s).
MAX_ONE_STEP_C = 1e6


def check_bulk(bulk: object) -> BulkLaw:
    if bulk not in BULKS:
        raise _Invalid("bulk", f"must be one of {', '.join(map(repr, BULKS))}")
    return bulk  # type: ignore[return-value]


def bulk_law(problem: Problem, bulk: BulkLaw, sample: BulkSample | None = None) -> Bulk | None:
    """The bulk of docs/theory.md §10.3 when asked for and meaningful (a network step, no given srf);
    ``None`` means §5's ``c·MP(ψ_w)``. ``"one_step"``: odd students (``b1 = 0``: no row shrink) keep §5
    exactly, fast and equal to docs/theory.md §7's values; the one-step law would add only ``M2``'s part
    along the spike. ``"one_step_sampled"`` applies to every student, with the first batch of ``sample``
    (default: dimension ``BULK_DIMENSION``, seed ``BULK_SEED``)."""
    if not law_applies(problem, bulk):
        return None
    if bulk == "one_step_sampled":
        return (sample or BulkSample()).law(problem)
    from .onestep import OneStepBulk  # only curves that ask for it pay its import

    return OneStepBulk(problem)


def law_applies(problem: Problem, bulk: BulkLaw) -> bool:
    """Whether :func:`bulk_law` gives a law of §10.3 for ``problem`` (without building it)."""
    if bulk == "marchenko_pastur" or problem.srf is not None or not problem.has_step:
        return False
    # A step that moves nothing (g0 = 0: the residual y − E σ vanishes) leaves W0: §5 applies.
    st = step_statistics(problem)
    if st.spike_norm == 0:
        return False
    # A step that scales the rows by more than MAX_ONE_STEP_C (α0 far below the validated range): the
    # law's quadratures lose their range and the solve can take minutes; §5's path says not converged.
    if map_to_srf(problem, "corrected").c > MAX_ONE_STEP_C:
        return False
    return bulk == "one_step_sampled" or abs(problem.learning_rate * st.b1) >= FLAT_SLOPE


class BulkSample:
    """The sampled first batch of bulk ``"one_step_sampled"`` (docs/theory.md §10.3): its dimension and
    seed, and the batches drawn last, one per ``(σ, σ*, Δ, α0, ψ_w)`` (``η̃`` only changes ``Σ``), kept for
    one grid: each holds two ``d × d`` matrices, so only the ``capacity`` most recent are kept (a grid walks
    η̃ innermost, so its lines of one batch come one after the other)."""

    capacity = 2

    def __init__(self, dimension: int | None = None, seed: int | None = None) -> None:
        from .sampled_bulk import BULK_DIMENSION, BULK_SEED

        dimension = BULK_DIMENSION if dimension is None else dimension
        self.dimension = _check_sample("bulk_dimension", dimension, 2)
        self.seed = _check_sample("bulk_seed", BULK_SEED if seed is None else seed, 0)
        self._batches: dict[tuple[object, ...], object] = {}

    def law(self, problem: Problem) -> Bulk:
        from .sampled_bulk import SampledOneStepBulk, first_batch

        key = (problem.student.name, problem.teacher.name, problem.noise, problem.alpha0, problem.width)
        batch = self._batches.pop(key, None)
        if batch is None:
            batch = first_batch(problem, self.dimension, self.seed)
        self._batches[key] = batch  # most recently used last
        while len(self._batches) > self.capacity:
            del self._batches[next(iter(self._batches))]
        return SampledOneStepBulk(problem, batch)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, int]:
        return {"dimension": self.dimension, "seed": self.seed}


#: Largest sampling dimension of bulk "one_step_sampled": a ``d × d`` eigendecomposition per η̃.
MAX_BULK_DIMENSION = 4000


def _check_sample(field: str, value: object, low: int) -> int:
    high = MAX_BULK_DIMENSION if field == "bulk_dimension" else 2**32 - 1
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not low <= int(value) <= high:
        raise _Invalid(field, f"must be an integer in [{low}, {high}]")
    return int(value)


def _curved(problem: Problem) -> bool:
    """Whether the step reshapes the rows through ``η̃ E σ''`` (docs/theory.md §10.2–§10.4)."""
    return abs(problem.learning_rate * step_statistics(problem).b1) >= FLAT_SLOPE


def channel_applies(problem: Problem, law_in_use: bool, row_norm: bool) -> bool:
    """Whether the row-norm channel of docs/theory.md §10.4 enters: asked for, a one-step bulk law in use
    (a step, no given srf) and ``E σ'' ≠ 0`` (an odd student under "one_step_sampled" has no validated
    channel)."""
    return row_norm and law_in_use and _curved(problem)


def row_norm_weight(problem: Problem, law: Bulk | None, row_norm: bool) -> float:
    """``V_c`` of docs/theory.md §10.4 where :func:`channel_applies`; 0 elsewhere, which leaves the
    equations unchanged."""
    if not channel_applies(problem, law is not None, row_norm):
        return 0.0
    from .rownorm import row_norm_weight as weight

    return weight(problem)


def _used(law: Bulk | None, bulk: BulkLaw) -> BulkLaw:
    return bulk if law is not None else "marchenko_pastur"


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
    channel: RowNormChannel | None = None

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
            channel=self.channel,
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
            checkpoint()
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


class _Moments:
    """Conditional moments of §4 computed once per distinct ``(c, r, γ, Δ)`` of a grid and reused.

    Least recently used entries beyond ``capacity`` are dropped: an optimal-η̃ search visits many
    ``(c, r)`` that are never needed again, each up to ~1 MB.
    """

    def __init__(self, student: Activation, teacher: Activation, refine: int, capacity: int = 64) -> None:
        self.student, self.teacher, self.refine, self.capacity = student, teacher, refine, capacity
        self._cache: dict[tuple[float, float, float, float], ConditionalMoments] = {}

    def model(
        self, srf: SRFParams, noise: float, width: float, bulk: Bulk | None = None, row_norm: float = 0.0
    ) -> _Model:
        """The model of one point; ``row_norm`` is the channel's weight ``V_c`` (0: no channel)."""
        key = (srf.c, srf.r, srf.gamma, noise)
        cm = self._cache.pop(key, None)
        if cm is None:
            cm = conditional_moments(self.student, self.teacher, srf, noise, refine=self.refine)
        self._cache[key] = cm  # most recently used last
        while len(self._cache) > self.capacity:
            del self._cache[next(iter(self._cache))]
        channel = None
        if row_norm > 0.0:
            from .rownorm import mu0_c

            channel = RowNormChannel(mu0_c(self.student, srf, cm.kappa, self.refine), row_norm)
        return _Model(cm, srf, width, self.refine, bulk, channel)


Start = tuple[float, float] | None


def _solve_line(
    model: _Model,
    alphas: Sequence[float],
    order: Sequence[int],
    ridge: Ridge,
    neighbour: Sequence[Start] | None,
    tick: Callable[[], None],
) -> list[tuple[float, FixedPoint]]:
    """``(λ, fixed point)`` at every α of one line, in increasing α; each starts from the same α on
    the neighbouring line when that converged, else from the previous α; a failed warm start is
    retried cold."""
    results: list[tuple[float, FixedPoint] | None] = [None] * len(alphas)
    previous: Start = None
    for i in order:
        alpha = float(alphas[i])
        if ridge == OPTIMAL:
            lam, fp = model.optimal_ridge(alpha)
        else:
            lam = float(ridge)
            start = neighbour[i] if neighbour is not None and neighbour[i] is not None else previous
            fp = model.solve(alpha, lam, start)
            if not fp.converged and start is not None:
                fp = model.solve(alpha, lam)
        if fp.converged:
            previous = fp.V
        results[i] = (lam, fp)
        tick()
    return [r for r in results if r is not None]


def _extrapolated(near: Sequence[Start], far: Sequence[Start]) -> list[Start]:
    """``2 V_near − V_far`` at each α where both converged (``V_near`` alone elsewhere): the next
    line's fixed point to second order when the axis is evenly spaced."""
    out: list[Start] = []
    for a, b in zip(near, far, strict=True):
        if a is None or b is None:
            out.append(a)
        else:
            out.append((2.0 * a[0] - b[0], 2.0 * a[1] - b[1]))
    return out


def _starts(line: Sequence[tuple[float, FixedPoint]]) -> list[Start]:
    return [fp.V if fp.converged else None for _, fp in line]


#: Optimal η̃: scan ``log10 η̃`` in steps of this from 2 decades below the step's natural scale …
LEARNING_RATE_SCAN_STEP = 0.25
LEARNING_RATE_SCAN_BELOW = 2.0
#: … until this many nodes past the best one (a factor 10 in η̃), or the largest η̃ accepted.
LEARNING_RATE_SCAN_PAST = 4
MAX_LEARNING_RATE = 1e4


def learning_rate_scale(problem: Problem, mapping: Mapping = "paper") -> float:
    """``η̃`` at which the step starts to matter: ``r = 1`` or ``c = 2`` (docs/theory.md §3), the first
    reached; ``inf`` when the step changes nothing (``α0 = 0``, or ``μ1 = ς = 0``)."""
    if problem.alpha0 == 0.0:
        return math.inf
    unit = map_to_srf(
        Problem(problem.student, problem.teacher, 1.0, problem.alpha0, problem.width, problem.noise), mapping
    )
    scales = [1.0 / abs(unit.r) if unit.r != 0 else math.inf]
    scales.append(1.0 / math.sqrt(unit.c - 1.0) if unit.c > 1.0 else math.inf)
    return min(scales)


def _optimal_learning_rate(
    moments: _Moments,
    problem: Problem,
    alpha: float,
    ridge: Ridge,
    mapping: Mapping = "paper",
    bulk: BulkLaw = "marchenko_pastur",
    sample: BulkSample | None = None,
    row_norm: bool = False,
) -> tuple[float, float, FixedPoint, SRFParams]:
    """``η̃* = argmin_{η̃ ≥ 0} ε_g(η̃)`` at one point (with the optimal λ at each η̃ if ``ridge`` is
    "optimal": the joint minimum). A geometric scan from well below the step's scale upwards, stopped
    a factor 10 past its best node, then a bounded Brent search between that node's neighbours;
    ``η̃ = 0`` (no step, discontinuous from ``η̃ → 0⁺`` in the limit) is compared separately."""
    cache: dict[float, tuple[float, FixedPoint, SRFParams]] = {}
    start: Start = None

    def at_rate(eta: float) -> tuple[float, FixedPoint, SRFParams]:
        nonlocal start
        if eta not in cache:
            at = Problem(problem.student, problem.teacher, eta, problem.alpha0, problem.width, problem.noise)
            srf = map_to_srf(at, mapping)
            law = bulk_law(at, bulk, sample)
            model = moments.model(srf, problem.noise, problem.width, law, row_norm_weight(at, law, row_norm))
            if ridge == OPTIMAL:
                lam, fp = model.optimal_ridge(alpha)
            else:
                lam = float(ridge)
                fp = model.solve(alpha, lam, start)
                if not fp.converged and start is not None:
                    fp = model.solve(alpha, lam)
                if fp.converged:
                    start = fp.V
            cache[eta] = (lam, fp, srf)
        return cache[eta]

    def objective(log_rate: float) -> float:
        checkpoint()
        _, fp, _ = at_rate(10.0 ** float(log_rate))
        return fp.test_error if fp.converged else math.inf

    candidates = [(objective(-math.inf), 0.0)]  # 10**-inf = 0: no step
    scale = learning_rate_scale(problem, mapping)
    if math.isfinite(scale):
        top = math.log10(MAX_LEARNING_RATE)
        nodes = [math.log10(scale) - LEARNING_RATE_SCAN_BELOW]
        values = [objective(nodes[0])]
        best = 0
        while len(nodes) - 1 - best < LEARNING_RATE_SCAN_PAST and nodes[-1] < top:
            nodes.append(min(nodes[-1] + LEARNING_RATE_SCAN_STEP, top))
            values.append(objective(nodes[-1]))
            if values[-1] < values[best]:
                best = len(values) - 1
        candidates.append((values[best], 10.0 ** nodes[best]))
        if math.isfinite(values[best]):
            lo, hi = nodes[max(best - 1, 0)], nodes[min(best + 1, len(nodes) - 1)]
            res = optimize.minimize_scalar(
                objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-4}
            )
            candidates.append((float(res.fun), 10.0 ** float(res.x)))
    _, eta = min(candidates)
    lam, fp, srf = at_rate(eta)
    return eta, lam, fp, srf


@dataclass
class _Solved:
    """One line's points: ``(η̃, λ, fixed point, srf)`` per α (``srf``: the line's, for a fixed η̃)."""

    points: list[tuple[float, float, FixedPoint, SRFParams]] = field(default_factory=list)
    srf: SRFParams | None = None


class _Batch:
    """Lines of a fixed λ on §5's bulk, collected and solved together (``batch.solve_batch``): every α of
    every line at once, cold. Lines of one model (same moments, width and ``c``) share its κ arrays."""

    def __init__(self, alphas: Sequence[float]) -> None:
        self.alphas = [float(a) for a in alphas]
        self.models: list[BatchModel] = []
        self._index: dict[tuple[int, float, float], int] = {}
        self.lines: list[tuple[object, int, float]] = []

    def add(self, key: object, model: _Model, ridge: float) -> None:
        ident = (id(model.cm), model.width, model.srf.c)
        if ident not in self._index:
            self._index[ident] = len(self.models)
            self.models.append(BatchModel(model.cm, model.width, model.srf.c, model.refine))
        self.lines.append((key, self._index[ident], ridge))

    def solve(self, tick: Callable[[int], None]) -> dict[object, list[tuple[float, FixedPoint]]]:
        """``(λ, fixed point)`` at every α of each line, by key (in the order of ``alphas``)."""
        if not self.lines:
            return {}
        n = len(self.alphas)
        which = np.repeat([j for _, j, _ in self.lines], n)
        ridges = np.repeat([lam for _, _, lam in self.lines], n)
        # One report per point solved, as the point-by-point path (each chunk reports its points).
        def report(count: int) -> None:
            for _ in range(count):
                tick(1)

        fps = solve_batch(self.models, which, np.tile(self.alphas, len(self.lines)), ridges, progress=report)
        return {
            key: [(lam, fp) for fp in fps[i * n : (i + 1) * n]] for i, (key, _, lam) in enumerate(self.lines)
        }


# the κ-rule × quadrature products of the moments are small too (batch.solve_batch)
@single_threaded_blas()
def theory_grid(
    student: Any,
    teacher: Any,
    spec: GridSpec,
    *,
    srf: SRFParams | None = None,
    baseline: bool = True,
    progress: Callable[[float], None] | None = None,
    refine: int = 1,
    mapping: Mapping = DEFAULT_MAPPING,
    bulk: BulkLaw = DEFAULT_BULK,
    bulk_dimension: int | None = None,
    bulk_seed: int | None = None,
    row_norm: bool = DEFAULT_ROW_NORM,
    batch: bool = True,
) -> TheoryCurve:
    """Test and training error of ridge on the readout at every point of ``spec``, and the baseline.

    Points (and baseline points) are in C order of ``width, noise, alpha0, learning_rate, ridge,
    alpha``, each with its six coordinates and, when the mapping (docs/theory.md §3) varies between
    points, its own ``srf``. ``srf`` given skips the mapping for every point. ``refine`` multiplies
    every quadrature's node count (convergence checks). ``mapping`` (``"paper"``, §3, or
    ``"corrected"``, §10.2) gives ``(c, r, γ)``; ``bulk`` (``"marchenko_pastur"``, §5, or
    ``"one_step"``, §10.3, or ``"one_step_sampled"``, §10.3 with one sampled first batch of dimension
    ``bulk_dimension`` and seed ``bulk_seed``, 1000 and 0 by default) the bulk law of each point with a
    step. Both are reported in the result (``bulk`` is ``"marchenko_pastur"`` when no point could use a
    one-step law: no step, or ``srf``; ``bulk_sample`` gives the batch's dimension and seed when sampled).
    Warnings say where the validation of docs/theory.md §10.5 found the chosen theory off the network.
    ``row_norm`` adds the row-norm channel of §10.4 wherever the one-step bulk law is used.

    ``batch``: the lines of a fixed λ on §5's bulk (and every baseline line of a fixed λ) are solved
    together, all points at once and each cold (``batch.solve_batch``); the others (optimal λ or η̃, a
    one-step law) point by point with continuation. ``False`` solves every line point by point (the
    reference the batched path is checked against, and the baseline of benchmarks/grid.py).
    """
    mapping = check_mapping(mapping)
    bulk = check_bulk(bulk)
    sample = BulkSample(bulk_dimension, bulk_seed)
    student = get_activation(student, "student")
    if is_multi_index(teacher):  # docs/theory.md §11.3 is a sketch, not yet a theory of this project
        raise InvalidParameterError("teacher", MULTI_INDEX_REFUSAL)
    teacher = get_activation(teacher, "teacher")
    spec.check_srf(srf)
    moments = _Moments(student, teacher, refine)
    orders = {name: sorted_order(spec.values(name)) for name in AXES}
    line_axes = AXES[:-1]
    alphas = spec.alpha
    n_lines = math.prod(len(spec.values(name)) for name in line_axes)

    def problem_at(w: float, n: float, a0: float, eta: float) -> Problem:
        return Problem(student, teacher, eta, a0, w, n, srf)

    # Baseline lines: one per distinct (ψ_w, Δ, γ, λ); γ does not depend on η̃ (docs/theory.md §3).
    gammas = {
        (i_n, ia0): map_to_srf(problem_at(1.0, n, a0, 0.0), mapping).gamma
        for (i_n, n), (ia0, a0) in itertools.product(enumerate(spec.noise), enumerate(spec.alpha0))
    }
    base_keys: dict[tuple[int, int, float, int], None] = {}
    if baseline:
        for iw, i_n, ia0, _, ir in itertools.product(*(range(len(spec.values(a))) for a in line_axes)):
            base_keys[(iw, i_n, gammas[(i_n, ia0)], ir)] = None
    total = (n_lines + len(base_keys)) * len(alphas)
    done = 0

    def tick(count: int = 1) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done / total)

    warnings: list[str] = []
    law_used = False
    fidelities: list[dict[str, Any] | None] = []  # measured accuracy of each line (§10.5)
    channel_used = False  # the row-norm channel entered some point
    solved: dict[tuple[int, ...], _Solved] = {}  # by original line index
    starts: dict[tuple[int, ...], list[Start]] = {}  # by sorted position
    together = _Batch(alphas)
    later: list[tuple[tuple[int, ...], tuple[int, ...], _Model, float, Ridge]] = []
    for position in itertools.product(*(range(len(spec.values(a))) for a in line_axes)):
        index = tuple(orders[a][p] for a, p in zip(line_axes, position, strict=True))
        w, n, a0, eta, lam = (spec.values(a)[i] for a, i in zip(line_axes, index, strict=True))
        line = _Solved()
        if eta == OPTIMAL:
            found = {}
            for i in orders["alpha"]:
                found[i] = _optimal_learning_rate(
                    moments,
                    problem_at(w, n, a0, 0.0),
                    alphas[i],
                    lam,
                    mapping,
                    bulk,  # type: ignore[arg-type]
                    sample,
                    row_norm,
                )
                tick()
            line.points = [found[i] for i in range(len(alphas))]
            stepped = problem_at(w, n, a0, 1.0)  # type: ignore[arg-type]
            warnings += mapping_warnings(stepped, mapping)
            applies = law_applies(stepped, bulk)
            law_used |= applies
            line_channel = channel_applies(stepped, applies, row_norm)
            channel_used |= line_channel
            line_theory = (stepped, mapping, bulk if applies else "marchenko_pastur", alphas, line_channel)
            warnings += fidelity_warnings(*line_theory)
            fidelities.append(fidelity_of(*line_theory))
        else:
            problem = problem_at(w, n, a0, eta)  # type: ignore[arg-type]
            point_srf = map_to_srf(problem, mapping)
            law = bulk_law(problem, bulk, sample)
            law_used |= law is not None
            warnings += mapping_warnings(problem, mapping)
            channel = row_norm_weight(problem, law, row_norm)
            channel_used |= channel > 0.0
            warnings += fidelity_warnings(problem, mapping, _used(law, bulk), alphas, channel > 0.0)
            fidelities.append(fidelity_of(problem, mapping, _used(law, bulk), alphas, channel > 0.0))
            model = moments.model(point_srf, n, w, law, channel)
            line.srf = point_srf
            if batch and lam != OPTIMAL and model.bulk is None and model.channel is None:
                together.add(("line", position), model, float(lam))
            else:
                later.append((position, index, model, float(eta), lam))  # type: ignore[arg-type]
        solved[index] = line

    base_solved: dict[tuple[int, int, float, int], list[tuple[float, FixedPoint]]] = {}
    base_later: list[tuple[tuple[int, int, float, int], _Model]] = []
    for key in base_keys:
        iw, i_n, gamma, ir = key
        model = moments.model(SRFParams(c=1.0, r=0.0, gamma=gamma), spec.noise[i_n], spec.width[iw])
        if batch and spec.ridge[ir] != OPTIMAL:
            together.add(("base", key), model, float(spec.ridge[ir]))
        else:
            base_later.append((key, model))

    # The batched lines first (each point independent of every other), then the others in order,
    # each warm-started from its neighbouring line.
    for (kind, key), line_results in together.solve(tick).items():
        if kind == "base":
            base_solved[key] = line_results  # type: ignore[index]
            continue
        if later:  # the lines solved point by point start from their neighbours
            starts[key] = _starts(line_results)
        index = tuple(orders[a][p] for a, p in zip(line_axes, key, strict=True))
        eta = spec.values("learning_rate")[index[3]]
        line = solved[index]
        line.points = [(float(eta), l, fp, line.srf) for l, fp in line_results]  # type: ignore[arg-type]
    for position, index, model, eta, lam in later:
        back = next((k for k in reversed(range(len(position))) if position[k] > 0), None)
        neighbour = None
        if back is not None:
            neighbour = starts[(*position[:back], position[back] - 1, *position[back + 1 :])]
            if position[back] >= 2:  # two lines back along the same axis: extrapolate linearly
                further = starts[(*position[:back], position[back] - 2, *position[back + 1 :])]
                neighbour = _extrapolated(neighbour, further)
        results = _solve_line(model, alphas, orders["alpha"], lam, neighbour, tick)
        starts[position] = _starts(results)
        line = solved[index]
        line.points = [(eta, l, fp, line.srf) for l, fp in results]  # type: ignore[arg-type]

    previous: list[Start] | None = None
    for key, model in base_later:
        base_solved[key] = _solve_line(model, alphas, orders["alpha"], spec.ridge[key[3]], previous, tick)
        previous = _starts(base_solved[key])

    points: list[TheoryPoint] = []
    base_points: list[BaselinePoint] = []
    failed: list[str] = []
    thin: list[tuple[str, float]] = []  # (point, dimension a simulation needs), docs/theory.md §10.6
    n_alphas = len(alphas)
    alpha_values = [float(a) for a in alphas]
    for line_index in itertools.product(*(range(len(spec.values(a))) for a in line_axes)):
        w, n, a0 = spec.width[line_index[0]], spec.noise[line_index[1]], spec.alpha0[line_index[2]]
        line = solved[line_index].points
        base_line = None
        if baseline:
            base_line = base_solved[(line_index[0], line_index[1], gammas[line_index[1:3]], line_index[4])]
        for ia in range(n_alphas):
            eta, lam, fp, point_srf = line[ia]
            alpha = alpha_values[ia]
            converged = fp.converged
            needed = fit_dimension(fp, alpha)
            if converged and needed > SIMULATED_DIMENSION:
                where = spec.describe((*line_index, ia))
                extra = [f"{k}={v:g}" for k, v in (("ridge", lam), ("alpha", alpha)) if f"{k}=" not in where]
                thin.append((", ".join([*extra, where] if where and extra else extra or [where]), needed))
            # an error is reported only at a verified fixed point (docs/theory.md §6)
            test, train = (fp.test_error, fp.train_error) if converged else (None, None)
            coords = {"alpha": alpha, "learning_rate": eta, "alpha0": a0, "noise": n, "width": w}
            point = {
                **coords,
                "test_error": test,
                "train_error": train,
                "ridge": lam,
                "converged": converged,
                "iterations": fp.iterations,
                "residual": fp.residual,
                "overlaps": fp.overlaps(),
                "srf": point_srf,
            }
            points.append(frozen_instance(TheoryPoint, point))
            if not converged:
                failed.append(spec.describe((*line_index, ia)))
            if base_line is not None:
                base_lam, base_fp = base_line[ia]
                base_ok = base_fp.converged
                base = {
                    **coords,
                    "test_error": base_fp.test_error if base_ok else None,
                    "train_error": base_fp.train_error if base_ok else None,
                    "ridge": base_lam,
                    "converged": base_ok,
                }
                base_points.append(frozen_instance(BaselinePoint, base))
                if not base_ok:
                    failed.append(f"{spec.describe((*line_index, ia))} (baseline)")
    if failed:
        warnings.append(_failure_warning(failed, zero_ridge=spec.ridge == (0.0,)))
    if thin:
        warnings.append(_thin_fit_warning(thin))
    shared = {p.srf for p in points}
    bulk_used = bulk if law_used else "marchenko_pastur"
    # an optimised η̃ counts as a step: it is > 0 wherever a step helps
    steps = [(1.0 if lr == OPTIMAL else lr, a0) for lr in spec.learning_rate for a0 in spec.alpha0]
    reason = theory_used_reason(student, srf, steps, (bulk, row_norm), (bulk_used, channel_used))
    return TheoryCurve(
        srf=shared.pop() if len(shared) == 1 else None,
        points=points,
        baseline=base_points,
        warnings=list(dict.fromkeys(warnings)),
        grid=spec.as_dict(),
        mapping=mapping,
        bulk=bulk_used,
        bulk_sample=sample.as_dict() if law_used and bulk == "one_step_sampled" else None,
        row_norm=channel_used,
        theory_reason=reason,
        fidelity=merge_fidelity(fidelities),
    )


def fit_dimension(fp: FixedPoint, alpha: float) -> float:
    """The dimension ``d`` at which ``FIT_SAMPLES`` effective training samples carry the fit of the
    mean direction (``α d · fit_fraction``, docs/theory.md §10.6): below it simulations scatter widely
    from seed to seed and their median falls below the limit."""
    share = alpha * fp.fit_fraction
    return FIT_SAMPLES / share if share > 0.0 and math.isfinite(share) else math.inf


def _thin_fit_warning(thin: Sequence[tuple[str, float]]) -> str:
    shown = "; ".join(f"{where} (d ≳ {needed:.2g})" for where, needed in thin[:5])
    if len(thin) > 5:
        shown += f" and {len(thin) - 5} more point(s)"
    return (
        f"small ridge below the width: at {shown} the limit is reached only by simulations of at least "
        "that dimension. The readout interpolates every sample except the few where the student "
        "saturates along the spike, and the fit of its mean direction rests on those; at smaller d "
        "simulations scatter widely from seed to seed and fall below the limit (measured, tanh/sin, "
        "alpha = 0.3, sRF at d = 2000, 32 seeds: ridge 1e-3, limit 0.2045, simulations 0.208 ± 0.014, "
        "median 0.195; ridge 1e-6, limit 0.914, simulations 0.43 ± 0.06, median 0.34; "
        "docs/theory.md §10.6). The limit is right; compare at a larger ridge or that dimension"
    )


def _failure_warning(failed: Sequence[str], zero_ridge: bool) -> str:
    shown = "; ".join(dict.fromkeys(failed[:5]))
    where = shown if len(failed) <= 5 else f"{shown} and {len(failed) - 5} more point(s)"
    if zero_ridge:
        return (
            f"the ridgeless limit (ridge = 0) is not resolved at {where}: the test error "
            "diverges at the interpolation peak (alpha = width) and can approach its limit too slowly "
            "in ridge to be computed; those points have converged = false and test_error = "
            "train_error = null (their diagnostics are kept), left out of plots and verdicts; use a "
            "small positive ridge"
        )
    return (
        f"the fixed-point solver did not converge at {where}; those points are "
        "reported with converged = false and test_error = train_error = null (their diagnostics "
        "are kept); they are left out of plots and verdicts"
    )


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
    bulk_dimension: int | None = None,
    bulk_seed: int | None = None,
    row_norm: bool = DEFAULT_ROW_NORM,
) -> TheoryCurve:
    """Test and training error of ridge on the readout at each ``α``, with the baseline curve: the
    grid of one problem along ``alphas`` (see :func:`theory_grid`).

    The limit ``n, p, d → ∞`` with ``α = n/d`` and ``p/d = problem.width`` fixed, after the network →
    sRF mapping of ``problem`` (docs/theory.md §3, or ``problem.srf`` as given): the fixed point of §5 at
    each ``α`` (warm-started along the sweep), its test error ``ε_g`` and training error ``ε_t``.

    ``alphas``: sample ratios ``n/d > 0``, answered in the order given. ``ridge``: ``λ ≥ 0`` (0 is the
    ridgeless limit) or ``"optimal"``, the λ minimising ``ε_g`` at each α (reported per point).
    ``baseline``: also the same problem without the step (random features at initialisation).
    ``progress(fraction)`` is called as points are solved; raising from it (``Cancelled``) stops.

    Each point reports the order parameters, ``converged``, the solver's iterations and the
    residual of the full fixed-point map; a point that did not converge says so in ``warnings``.
    ``refine`` multiplies every quadrature's node count (convergence checks).
    ``mapping`` (``"paper"``, §3, or ``"corrected"``, §10.2) gives ``(c, r, γ)``; ``bulk``
    (``"marchenko_pastur"``, §5, ``"one_step"``, §10.3, or ``"one_step_sampled"`` with its first batch's
    ``bulk_dimension`` and ``bulk_seed``) the bulk law. All are reported in the result.
    """
    spec = GridSpec.build(
        width=problem.width,
        noise=problem.noise,
        alpha0=problem.alpha0,
        learning_rate=problem.learning_rate,
        ridge=check_ridge(ridge),
        alphas=alphas,
    )
    return theory_grid(
        problem.student,
        problem.teacher,
        spec,
        srf=problem.srf,
        baseline=baseline,
        progress=progress,
        refine=refine,
        mapping=mapping,
        bulk=bulk,
        bulk_dimension=bulk_dimension,
        bulk_seed=bulk_seed,
        row_norm=row_norm,
    )
