"""Why the theory used differs from the one asked for (docs/theory.md §5, §10.3, §10.4).

A request names a mapping, a bulk law and the row-norm channel; the result reports those used. They
differ where the asked one does not apply, and :func:`theory_used_reason` says why in words, so that the
echoed request and the result never contradict each other silently.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..activations import Activation
from ..problem import SRFParams
from .mapping import curvature

#: |E σ''| below this: the student is odd for the one-step law (it then keeps §5, docs/theory.md §10.3).
FLAT = 1e-9


def theory_used_reason(
    student: Activation,
    srf: SRFParams | None,
    steps: Iterable[tuple[float, float]],
    asked: tuple[str, bool],
    used: tuple[str, bool],
) -> str | None:
    """Why ``used = (bulk, row_norm)`` differs from ``asked``; None when they agree.

    ``steps``: the ``(η̃, α0)`` of the points."""
    (bulk, row_norm), (bulk_used, row_norm_used) = asked, used
    reasons: list[str] = []
    stepped = any(lr > 0 and a0 > 0 for lr, a0 in steps)
    odd = abs(curvature(student)) < FLAT
    if bulk != bulk_used:
        if srf is not None:
            why = "`srf` is given: its bulk is c times Marchenko–Pastur (docs/theory.md §5)"
        elif not stepped:
            why = "there is no first step (learning_rate or alpha0 is 0): the first layer is W0 (§5)"
        elif odd and bulk == "one_step":
            why = (
                f"the student {student.name!r} is odd (E σ'' = 0): no row shrink, and the one-step law "
                "reduces to §5's c times Marchenko–Pastur, used exactly (docs/theory.md §10.3)"
            )
        else:
            why = "the one-step law does not apply at these points (the step moves no row); §5's law is used"
        reasons.append(f"bulk {bulk!r} asked, {bulk_used!r} used: {why}")
    if row_norm and not row_norm_used:
        if bulk_used == "marchenko_pastur":
            why = "it enters only with a one-step bulk law"
        elif odd:
            why = f"the student {student.name!r} has E σ'' = 0, so the rows keep equal norms"
        else:
            why = "E σ'' η̃ is too small at these points for the rows' norms to differ"
        reasons.append(f"row_norm asked but not used (docs/theory.md §10.4): {why}")
    return "; ".join(reasons) or None
