"""How far each theory is from the one-step network, measured (docs/theory.md §10.5, docs/fidelity.md).

The validation (``benchmarks/fidelity.py --full``, table in docs/fidelity.md) simulated the network of
docs/theory.md §2 at d = 1500 over 16 seeds, 24 for the relu rows below the width (extrapolated in 1/d
against d = 750, 32 seeds, where the difference between the two sizes is significant), η̃ = 2,
λ = 0.05, Δ = 0, α ∈ {0.5, 2}, for relu/tanh, relu/sin, relu_centered/tanh, a non-centred Hermite student
and erf/tanh, α0 ∈ {1, 2, 5, 20}, widths 0.5, 1, 2.
``MEASURED`` holds, per theory and regime, the smallest and largest relative difference theory/network
− 1 seen there, in percent. A result is warned about where that range leaves the targets (2 % test,
3 % training error), saying by how much, where its theory or regime was not validated, and below the
validated α0.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..problem import Problem
from .mapping import step_statistics

Range = tuple[float, float]
#: ``(mapping, bulk used, row-norm channel used)``
Theory = tuple[str, str, bool]
#: ``(kind of student, α against the width)``, as ``benchmarks/fidelity.py``'s ``regime``
Regime = tuple[str, str]

#: Printed by ``python benchmarks/fidelity.py --markdown full.json s8.json --smaller d750.json --retheory``
#: ("Measured ranges by regime"). The paper's mapping is measured on centred students only.
MEASURED: dict[Theory, dict[Regime, dict[str, Range]]] = {
    ("corrected", "marchenko_pastur", False): {
        ("curved", "above_width"): {"test": (-2.9, 7.3), "train": (-7.3, 4.4)},
        ("curved", "below_width"): {"test": (-3.5, 5.3), "train": (-11.6, -0.6)},
        ("odd", "above_width"): {"test": (-1.2, 3.2), "train": (-3.7, 5.7)},
        ("odd", "below_width"): {"test": (-1.0, 0.1), "train": (-1.4, 1.0)},
        ("odd_small_alpha0", "above_width"): {"test": (-10.2, -2.1), "train": (-7.5, -1.9)},
        ("odd_small_alpha0", "below_width"): {"test": (-5.2, -2.3), "train": (-6.9, -3.6)},
    },
    ("corrected", "one_step", False): {
        ("curved", "above_width"): {"test": (-2.9, 3.6), "train": (-2.4, 8.1)},
        ("curved", "below_width"): {"test": (-5.0, 1.5), "train": (-8.8, 1.5)},
        ("odd", "above_width"): {"test": (-1.2, 3.2), "train": (-3.7, 5.7)},
        ("odd", "below_width"): {"test": (-1.0, 0.1), "train": (-1.4, 1.0)},
        ("odd_small_alpha0", "above_width"): {"test": (-10.2, -2.1), "train": (-7.5, -1.9)},
        ("odd_small_alpha0", "below_width"): {"test": (-5.2, -2.3), "train": (-6.9, -3.6)},
    },
    ("corrected", "one_step", True): {
        ("curved", "above_width"): {"test": (-5.2, 3.3), "train": (-2.8, 2.1)},
        ("curved", "below_width"): {"test": (-6.2, 0.9), "train": (-9.3, 0.8)},
        ("odd", "above_width"): {"test": (-1.2, 3.2), "train": (-3.7, 5.7)},
        ("odd", "below_width"): {"test": (-1.0, 0.1), "train": (-1.4, 1.0)},
        ("odd_small_alpha0", "above_width"): {"test": (-10.2, -2.1), "train": (-7.5, -1.9)},
        ("odd_small_alpha0", "below_width"): {"test": (-5.2, -2.3), "train": (-6.9, -3.6)},
    },
    ("corrected", "one_step_sampled", False): {
        ("curved", "above_width"): {"test": (-2.9, 3.7), "train": (-2.5, 8.4)},
        ("curved", "below_width"): {"test": (-5.3, 1.1), "train": (-9.0, 1.5)},
        ("odd", "above_width"): {"test": (-0.9, 3.2), "train": (-3.7, 5.6)},
        ("odd", "below_width"): {"test": (-0.6, 0.1), "train": (-1.4, 1.4)},
        ("odd_small_alpha0", "above_width"): {"test": (-5.0, -0.4), "train": (-2.6, -0.6)},
        ("odd_small_alpha0", "below_width"): {"test": (-1.5, -1.0), "train": (-3.1, -2.0)},
    },
    ("corrected", "one_step_sampled", True): {
        ("curved", "above_width"): {"test": (-5.6, 3.6), "train": (-2.9, 1.5)},
        ("curved", "below_width"): {"test": (-6.5, 0.4), "train": (-9.5, 1.2)},
        ("odd", "above_width"): {"test": (-0.9, 3.2), "train": (-3.7, 5.6)},
        ("odd", "below_width"): {"test": (-0.6, 0.1), "train": (-1.4, 1.4)},
        ("odd_small_alpha0", "above_width"): {"test": (-5.0, -0.4), "train": (-2.6, -0.6)},
        ("odd_small_alpha0", "below_width"): {"test": (-1.5, -1.0), "train": (-3.1, -2.0)},
    },
    ("paper", "marchenko_pastur", False): {
        ("curved", "above_width"): {"test": (-2.9, 3.2), "train": (-7.3, -0.2)},
        ("curved", "below_width"): {"test": (-3.5, 0.1), "train": (-11.6, -0.6)},
        ("odd", "above_width"): {"test": (-1.2, 3.2), "train": (-3.7, 5.7)},
        ("odd", "below_width"): {"test": (-1.0, 0.1), "train": (-1.4, 1.0)},
        ("odd_small_alpha0", "above_width"): {"test": (-10.2, -2.1), "train": (-7.5, -1.9)},
        ("odd_small_alpha0", "below_width"): {"test": (-5.2, -2.3), "train": (-6.9, -3.6)},
    },
}
# end of MEASURED

TARGETS = {"test": 2.0, "train": 3.0}
#: A measured range this many times its target makes a warning (the result may be wrong by that much);
#: within it the range is only reported, in the result's ``fidelity``.
WARN_FACTOR = 2.0
VALIDATED_ALPHA0 = (1.0, 20.0)
#: Odd students below this α0 form their own regime: the first batch's M2, which §5's bulk leaves out, moves
#: their errors by 2–8 % at α0 = 1 and 2 (docs/theory.md §10.3).
ODD_SMALL_ALPHA0 = 5.0
KINDS = {
    "curved": "students with E σ'' ≠ 0",
    "odd": f"odd students (E σ'' = 0) at α0 ≥ {ODD_SMALL_ALPHA0:g}",
    "odd_small_alpha0": f"odd students (E σ'' = 0) at α0 < {ODD_SMALL_ALPHA0:g}",
}
SIDES = {"below_width": "at α below the width", "above_width": "at α from the width up"}
WHERE = (
    "docs/theory.md §10.5, docs/fidelity.md: network simulations at d = 1500, 16–24 seeds, extrapolated "
    "in 1/d where they drift, "
    f"η̃ = 2, α0 ∈ [{VALIDATED_ALPHA0[0]:g}, {VALIDATED_ALPHA0[1]:g}], widths 0.5–2"
)


def _span(bounds: Range) -> str:
    return f"{bounds[0]:+.1f} … {bounds[1]:+.1f} %"


def _off(ranges: dict[str, Range]) -> list[str]:
    """The errors whose measured range leaves its target, with that range."""
    return [
        f"{'test' if key == 'test' else 'training'} errors {_span(bounds)}"
        for key, bounds in sorted(ranges.items())
        if max(abs(bounds[0]), abs(bounds[1])) > WARN_FACTOR * TARGETS[key]
    ]


def _worst(theory: Theory, regimes: list[Regime]) -> float | None:
    """The largest measured |difference| / target over ``regimes`` (None if one was not measured)."""
    table = MEASURED.get(theory, {})
    if any(r not in table for r in regimes):
        return None
    return max(max(abs(lo), abs(hi)) / TARGETS[key] for r in regimes for key, (lo, hi) in table[r].items())


def _name(theory: Theory) -> str:
    mapping, bulk, row_norm = theory
    return f"mapping {mapping!r}, bulk {bulk!r}" + (", row_norm" if row_norm else "")


def _closer(theory: Theory, regimes: list[Regime]) -> str:
    """A measured theory closer to the network over ``regimes`` than ``theory``, if there is one."""
    mine = _worst(theory, regimes)
    best = min(
        (t for t in MEASURED if t[0] == "corrected" and _worst(t, regimes) is not None),
        key=lambda t: _worst(t, regimes),  # type: ignore[arg-type, return-value]
        default=None,
    )
    if best is None or best == theory or (mine is not None and _worst(best, regimes) >= mine):  # type: ignore[operator]
        return ""
    return f"; the closest measured there is {_name(best)}"


def student_kind(problem: Problem) -> str:
    """The kind of ``problem``'s student in ``MEASURED``'s regimes."""
    if abs(step_statistics(problem).b1) >= 1e-12:
        return "curved"
    return "odd" if problem.alpha0 >= ODD_SMALL_ALPHA0 else "odd_small_alpha0"


def fidelity_warnings(
    problem: Problem, mapping: str, bulk_used: str, alphas: Iterable[float], row_norm_used: bool = False
) -> list[str]:
    """Warnings for a theory curve of ``problem`` at ``alphas`` whose measured distance to the network
    leaves the targets (2 % test, 3 % training error), saying by how much (theory/network − 1)."""
    if problem.srf is not None or not problem.has_step:
        return []
    st = step_statistics(problem)
    if mapping == "paper" and not (problem.student.centered and abs(st.e_mean) < 1e-12):
        return []  # the non-centred warning of the mapping says it (srf_engine/theory/mapping.py)
    kind = student_kind(problem)
    theory = (mapping, bulk_used, row_norm_used)
    table = MEASURED.get(theory, {})
    regimes = [
        (kind, side)
        for side in ("below_width", "above_width")
        if any((a < problem.width) == (side == "below_width") for a in alphas)
    ]
    parts = []
    for regime in regimes:
        side = SIDES[regime[1]]
        if regime not in table:
            parts.append(f"{side} not validated")
        elif off := _off(table[regime]):
            parts.append(f"{side} {' and '.join(off)}")
    warnings: list[str] = []
    if parts:
        warnings.append(
            f"theory with {_name(theory)} against the network, for {KINDS[kind]}: {'; '.join(parts)} "
            f"({WHERE}){_closer(theory, regimes)}"
        )
    if problem.alpha0 < VALIDATED_ALPHA0[0]:
        warnings.append(
            f"alpha0 = {problem.alpha0:g} is below the validated range (α0 ≥ {VALIDATED_ALPHA0[0]:g}): the "
            "first batch curves the bulk most there and the theory's distance to the network is not measured"
        )
    return warnings


def is_network_accuracy_warning(text: str) -> bool:
    """Whether ``text`` is one of :func:`fidelity_warnings`' (the theory's measured distance to the
    network): moot where the theory is judged against the sRF model itself, whose exact limit it is."""
    measured = text.startswith("theory with ") and " against the network, for " in text
    unmeasured = text.startswith("alpha0 = ") and "distance to the network is not measured" in text
    return measured or unmeasured


def fidelity_of(
    problem: Problem, mapping: str, bulk_used: str, alphas: Iterable[float], row_norm_used: bool = False
) -> dict[str, object] | None:
    """The measured accuracy of the theory used for ``problem`` at ``alphas`` (docs/fidelity.md, from
    ``MEASURED``): ``regime`` in words, ``test_error_range`` and ``train_error_range`` (theory/network
    − 1 in percent, smallest and largest over the regimes the α's fall in; null where not measured) and
    ``validated`` (every regime measured, α0 in the validated range). None without a network step."""
    if problem.srf is not None or not problem.has_step:
        return None
    kind = student_kind(problem)
    table = MEASURED.get((mapping, bulk_used, row_norm_used), {})
    st = step_statistics(problem)
    centred = problem.student.centered and abs(st.e_mean) < 1e-12
    sides = [
        side
        for side in ("below_width", "above_width")
        if any((a < problem.width) == (side == "below_width") for a in alphas)
    ]
    measured = [table[(kind, side)] for side in sides if (kind, side) in table]
    in_range = VALIDATED_ALPHA0[0] <= problem.alpha0 <= VALIDATED_ALPHA0[1]
    validated = (mapping != "paper" or centred) and in_range and len(measured) == len(sides) > 0

    def span(key: str) -> list[float] | None:
        if not measured or (mapping == "paper" and not centred):
            return None
        return [min(m[key][0] for m in measured), max(m[key][1] for m in measured)]

    return {
        "regime": f"{_name((mapping, bulk_used, row_norm_used))}; {KINDS[kind]}; "
        + " and ".join(SIDES[s] for s in sides),
        "test_error_range": span("test"),
        "train_error_range": span("train"),
        "validated": validated,
    }


def merge_fidelity(items: Iterable[dict[str, object] | None]) -> dict[str, object] | None:
    """One fidelity for a grid: the union of its lines' ranges, validated only if every line is."""
    present = [f for f in items if f is not None]
    if not present:
        return None

    def union(key: str) -> list[float] | None:
        spans = [f[key] for f in present]
        if any(s is None for s in spans):
            return None
        return [min(s[0] for s in spans), max(s[1] for s in spans)]  # type: ignore[index]

    return {
        "regime": "; ".join(dict.fromkeys(str(f["regime"]) for f in present)),
        "test_error_range": union("test_error_range"),
        "train_error_range": union("train_error_range"),
        "validated": all(bool(f["validated"]) for f in present),
    }
