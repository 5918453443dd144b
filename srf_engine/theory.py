"""Theory curves (THEORY.md §5): IN PROGRESS by the lead; signature is final."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from .problem import Problem
from .results import TheoryCurve


def theory_curve(
    problem: Problem,
    alphas: Sequence[float],
    ridge: float | Literal["optimal"],
    *,
    baseline: bool = True,
    progress: Callable[[float], None] | None = None,
) -> TheoryCurve:
    """Test and training error of ridge on the readout at each ``α``, with the baseline curve."""
    raise NotImplementedError
