"""Time model of a theory curve (docs/theory.md §5–§6), for the service's synchronous-time check.

A curve costs the conditional moments on the central nodes of the ``κ`` rule (``N_e`` of a rule
growing like ``(r/√c)²``, see ``conditional.kappa_nodes`` and ``kappa_nodes_used``) once, then at each α
a few solves, each a few maps over the ``N_κ`` nodes kept and the spectral rule (``N_κ + N_D`` nodes). So

    seconds ≈ SETUP + Σ_curves s(N_κ)·[MOMENTS·N_e + n_α · SOLVES[mode] · PER_NODE · (N_κ + N_D)]

(building a rule, 2.4 µs a node, is left out: rules are cached, and the largest, 12800 nodes, costs 31 ms).

over the curve and its baseline (``c = 1, r = 0``), with ``mode`` the ridge: a fixed λ is one solve, λ = 0
a solve and its check at 4λ, "optimal" a scan and a bounded search (≈ 35 solves, priced as 60). A fixed
λ > 0 on §5's bulk is solved batched (``batch.py``), at
``BATCH_SOLVE_SECONDS_PER_POINT + BATCH_SOLVE_SECONDS_PER_NODE · (N_κ + N_D)`` a point instead of
``PER_NODE · s(N) · (N_κ + N_D)``.
``s(N) = 1 + N/4000``: large rules fall out of the CPU caches. A one-step bulk law (docs/theory.md §10.3)
adds, to the main curve,
``SOLVES[mode] · ONE_STEP_SOLVE_SECONDS`` per α for ``"one_step"`` (resolvent forms by quadrature), and
for ``"one_step_sampled"`` its first batch (``n0·d·(p + 3d)`` multiply-adds at the sampling dimension
``d``), one ``d × d`` eigendecomposition (``d³``) and ``SOLVES[mode] · SAMPLED_SOLVE_SECONDS`` per α; a law
is priced wherever it applies (for any η̃ > 0 when priced at η̃ = 0, an upper bound). The constants
were fitted to the CPU time of one core
(``pytest -s tests/test_estimates.py`` re-measures them and prints estimate/measured): on its cases the
model is within a factor 2. Hostile parameters can still make a solve slower than modelled (more
iterations, refined spectral rules): the service's wall-clock budget stops those.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..problem import Problem, SRFParams
from .conditional import DEFAULT_KAPPA_NODES, kappa_nodes, kappa_nodes_used
from .mapping import map_to_srf
from .quadrature import spectral_nodes_needed

SETUP_SECONDS = 0.003
MOMENT_SECONDS_PER_NODE = 4.0e-6
SOLVE_SECONDS_PER_NODE = 1.0e-6
#: The same solve batched (``batch.py``: a fixed λ on §5's bulk, every point of a grid at once): per point
#: and per node of one point, from benchmarks/grid.py's 100 × 100 grid (1.7× its measured CPU time with
#: the per-curve setup) and tests/test_estimates.py's curves.
BATCH_SOLVE_SECONDS_PER_POINT = 1.5e-5
BATCH_SOLVE_SECONDS_PER_NODE = 6.0e-8
#: λ = 0 near the interpolation peak, at and just below it (ψ_w(1 − PEAK_BAND) < α ≤ ψ_w): Newton fails and
#: the ridgeless solve and its check at 4λ each take the monotone fallback, about
#: ``min(PEAK_STEPS, PEAK_SCALE/(1 − α/ψ_w))`` steps (measured before the fallback was capped: 4140–4290
#: steps at 1 % below, 2220–2290 at 2 %, 79–934 at 5 %, and at most 27 above the width; relu,
#: relu_centered and tanh, widths 0.5–2). A step costs ``PEAK_SECONDS_PER_NODE`` per node on §5's bulk and
#: ``ONE_STEP_PEAK_STEP_SECONDS`` on a one-step law (resolvent forms by quadrature).
PEAK_BAND = 0.06
PEAK_SCALE = 45.0
PEAK_STEPS = 600.0  # MAX_NEWTON_STEPS + RIDGELESS_MONOTONE_STEPS of solver.py
PEAK_SECONDS_PER_NODE = 4.0e-8
ONE_STEP_PEAK_STEP_SECONDS = 2.8e-3
#: Solves per α of one curve, by ridge mode.
#: "optimal" is a scan and a bounded search, ≈ 35 solves, each warm-started from a λ further away than
#: a sweep's neighbour and so taking more Newton steps: priced as 60 (35 gave 0.49–0.54 of the measured
#: time on tests/test_estimates.py's two cases, 0.29–0.32 when the machine ran 2× slower).
SOLVES = {"fixed": 1.0, "zero": 3.5, "optimal": 60.0}
#: Rule size past which a node costs twice as much (cache misses).
CACHE_NODES = 4000.0
#: One-step bulk laws (docs/theory.md §10.3), fitted like the rest: relu(_centered)/tanh, widths 0.5–2,
#: α0 = 2–20, d = 1000 (first batch 0.4–3.7 s, eigendecomposition 0.25 s).
ONE_STEP_SOLVE_SECONDS = 0.025
SAMPLED_SOLVE_SECONDS = 0.003
BATCH_SECONDS_PER_MULTIPLY_ADD = 6.0e-11
EIGH_SECONDS_PER_CUBE = 3.0e-10
#: The learned function (docs/theory.md §4): per (α, κ) value, the conditional moments at κ and the
#: prediction; measured 5–7 µs per value on 4–20 α × 2000 κ.
FUNCTION_SECONDS_PER_VALUE = 8.0e-6


def _law_applies(problem: Problem, bulk: str) -> bool:
    """Whether a curve of ``problem`` (or of any η̃ > 0 of it, when priced at η̃ = 0 for "optimal") uses a
    one-step law."""
    from .curve import law_applies

    if bulk == "marchenko_pastur" or problem.alpha0 == 0 or problem.srf is not None:
        return False
    stepped = problem if problem.learning_rate > 0 else dataclasses.replace(problem, learning_rate=1.0)
    return law_applies(stepped, bulk)  # type: ignore[arg-type]


def _mode(ridge: object) -> str:
    if ridge == "optimal":
        return "optimal"
    return "zero" if ridge == 0 else "fixed"


def peak_steps(alphas: Sequence[float], width: float) -> float:
    """Fallback steps of the ridgeless solves of ``alphas`` (each solve and its check) near α = ψ_w."""
    total = 0.0
    for alpha in alphas:
        distance = 1.0 - float(alpha) / width  # above the width Newton converges in a few steps
        if 0.0 <= distance < PEAK_BAND:
            total += 2.0 * min(PEAK_STEPS, PEAK_SCALE / max(distance, 1e-12))
    return total


def estimate_theory_seconds(
    problem: Problem,
    n_alphas: int,
    ridge: object,
    *,
    baseline: bool = True,
    srf: SRFParams | None = None,
    bulk: str = "marchenko_pastur",
    bulk_dimension: int = 1000,
    batch: bool = True,
    alphas: Sequence[float] | None = None,
) -> float:
    """Predicted CPU seconds of ``theory_curve(problem, <n_alphas values>, ridge, baseline=..., bulk=...)``
    (``bulk_dimension``: the sampling dimension of bulk ``"one_step_sampled"``; ``batch=False``: without
    its first batch, which a grid draws once per ``(ψ_w, Δ, α0)`` and shares across η̃; ``alphas``: the
    values, which price λ = 0 near the interpolation peak)."""
    main = srf if srf is not None else map_to_srf(problem)
    curves = [main] + ([SRFParams(c=1.0, r=0.0, gamma=main.gamma)] if baseline else [])
    spectral = spectral_nodes_needed(problem.width)
    solves = SOLVES[_mode(ridge)]
    seconds = SETUP_SECONDS
    law = srf is None and _law_applies(problem, bulk)
    for i, params in enumerate(curves):
        evaluated, nodes = kappa_nodes_used(kappa_nodes(DEFAULT_KAPPA_NODES, params))
        slowdown = 1.0 + nodes / CACHE_NODES
        seconds += slowdown * MOMENT_SECONDS_PER_NODE * evaluated
        if _mode(ridge) == "fixed" and not (law and i == 0):
            # batched: chunks sized to the caches, no slowdown with the rule's size (λ = 0 keeps the
            # point-by-point price: its spectral rules are refined near the pole, its check doubles it)
            per_point = BATCH_SOLVE_SECONDS_PER_POINT + BATCH_SOLVE_SECONDS_PER_NODE * (nodes + spectral)
            seconds += n_alphas * solves * per_point
        else:
            seconds += slowdown * n_alphas * solves * SOLVE_SECONDS_PER_NODE * (nodes + spectral)
        steps = peak_steps(alphas, problem.width) if _mode(ridge) == "zero" and alphas is not None else 0.0
        if law and i == 0:
            seconds += steps * ONE_STEP_PEAK_STEP_SECONDS
        else:
            seconds += steps * slowdown * PEAK_SECONDS_PER_NODE * (nodes + spectral)
    if law:
        if bulk == "one_step_sampled":
            d = float(bulk_dimension)
            n0, p = problem.alpha0 * d, problem.width * d
            if batch:
                seconds += BATCH_SECONDS_PER_MULTIPLY_ADD * n0 * d * (p + 3 * d)
            seconds += EIGH_SECONDS_PER_CUBE * d**3
            seconds += n_alphas * solves * SAMPLED_SOLVE_SECONDS
        else:
            seconds += n_alphas * solves * ONE_STEP_SOLVE_SECONDS
    return seconds


#: Memory model of a theory computation (peak bytes beyond the process's own): a curve's rules and
#: solver state are a few MiB; each point of the result, kept as Python numbers until it is answered,
#: about 2 KiB (a learned function's (α, κ) value: 0.4 KiB).
THEORY_BASE_BYTES = 32 * 2**20
THEORY_BYTES_PER_POINT = 2048
FUNCTION_BYTES_PER_VALUE = 400
#: The sampled first batch (docs/theory.md §10.3, ``sampled_bulk.first_batch``): ``W0`` (``p × d``), two
#: ``CHUNK_ROWS × p`` arrays per chunk (pre-activations and σ of them), about six ``d × d`` (the sums, M,
#: M2, Σ and its eigendecomposition) and the residuals; float64. Measured with tracemalloc on widths
#: 1–20 at d = 500 and 1000 within 20 % (width 100 at d = 1000: 1.67 GB modelled, 1.7 GB measured).
SAMPLED_CHUNK_ROWS = 512
SAMPLED_SQUARES = 6


def estimate_sampled_bulk_bytes(problem: Problem, bulk_dimension: int = 1000) -> int:
    """Peak bytes of the sampled first batch of ``problem`` at dimension ``bulk_dimension``."""
    d = int(bulk_dimension)
    p, n0 = max(1, round(problem.width * d)), round(problem.alpha0 * d)
    return 8 * (p * d + 2 * SAMPLED_CHUNK_ROWS * p + SAMPLED_SQUARES * d * d + n0)


def estimate_theory_bytes(
    problem: Problem,
    points: int,
    *,
    bulk: str = "marchenko_pastur",
    bulk_dimension: int = 1000,
    function_values: int = 0,
) -> int:
    """Predicted peak bytes of a theory computation of ``points`` points (and ``function_values`` (α, κ)
    values of a learned function) for ``problem``: its rules, its result, and the sampled first batch
    when bulk ``"one_step_sampled"`` applies (batches are drawn one after another: the largest counts)."""
    memory = THEORY_BASE_BYTES + THEORY_BYTES_PER_POINT * points + FUNCTION_BYTES_PER_VALUE * function_values
    if bulk == "one_step_sampled" and _law_applies(problem, bulk):
        memory += estimate_sampled_bulk_bytes(problem, bulk_dimension)
    return int(memory)


def estimate_sampled_batch_seconds(problem: Problem, bulk_dimension: int = 1000) -> float:
    """Predicted CPU seconds of the sampled first batch of ``problem`` (``n0·d·(p + 3d)`` multiply-adds)
    when bulk ``"one_step_sampled"`` applies to it (or to any η̃ > 0 of it); else 0."""
    if not _law_applies(problem, "one_step_sampled"):
        return 0.0
    d = float(bulk_dimension)
    n0, p = problem.alpha0 * d, problem.width * d
    return BATCH_SECONDS_PER_MULTIPLY_ADD * n0 * d * (p + 3 * d)


def estimate_function_seconds(values: int) -> float:
    """Predicted CPU seconds of the learned function's ``values`` (α, κ) values beyond its curves."""
    return FUNCTION_SECONDS_PER_VALUE * values
