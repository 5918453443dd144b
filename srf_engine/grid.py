"""Grids of problems: the cartesian product of lists of ``ψ_w, Δ, α0, η̃, λ`` and ``α``.

A :class:`GridSpec` holds one checked tuple of values per axis. Points run in C order of the axes
``width, noise, alpha0, learning_rate, ridge, alpha`` (the last varies fastest). ``ridge`` and
``learning_rate`` may instead be ``"optimal"``: one value per point, found by minimising the test
error (docs/theory.md §5). The axes with more than one value, and their lengths, describe the grid
in a response.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, Literal

from .errors import InvalidParameterError
from .problem import check_list, check_nonnegative, check_positive

#: Axes in C order: the last varies fastest.
AXES: tuple[str, ...] = ("width", "noise", "alpha0", "learning_rate", "ridge", "alpha")
OPTIMAL: Literal["optimal"] = "optimal"
#: Axes that accept ``"optimal"`` (the value minimising the test error at each point).
OPTIMISABLE = frozenset({"ridge", "learning_rate"})

Value = float | Literal["optimal"]


def _values(field: str, value: Any, *, positive: bool, optimal: bool) -> tuple[Value, ...]:
    """A number, a non-empty list of numbers, or (if allowed) ``"optimal"``, as a tuple."""
    if isinstance(value, str):
        if optimal and value == OPTIMAL:
            return (OPTIMAL,)
        rule = 'a number, a non-empty list of numbers or "optimal"' if optimal else "a number or a list"
        raise InvalidParameterError(field, f"must be {rule}")
    check = check_positive if positive else check_nonnegative
    if isinstance(value, Real):
        return (check(field, value),)
    return check_list(field, value, check, "must be a number or a non-empty list of numbers")


@dataclass(frozen=True)
class GridSpec:
    """Checked values of every axis (``("optimal",)`` for an optimised ridge or learning rate)."""

    width: tuple[float, ...]
    noise: tuple[float, ...]
    alpha0: tuple[float, ...]
    learning_rate: tuple[Value, ...]
    ridge: tuple[Value, ...]
    alpha: tuple[float, ...]

    @classmethod
    def build(
        cls,
        *,
        width: Any,
        noise: Any,
        alpha0: Any,
        learning_rate: Any,
        ridge: Any,
        alphas: Any,
        optimal: frozenset[str] = OPTIMISABLE,
    ) -> GridSpec:
        """Check each axis once: a number ≥ 0 (``width``, ``alphas``: > 0) or a non-empty list of them;
        ``"optimal"`` where ``optimal`` names the axis."""
        return cls(
            width=_values("width", width, positive=True, optimal=False),  # type: ignore[arg-type]
            noise=_values("noise", noise, positive=False, optimal=False),  # type: ignore[arg-type]
            alpha0=_values("alpha0", alpha0, positive=False, optimal=False),  # type: ignore[arg-type]
            learning_rate=_values(
                "learning_rate", learning_rate, positive=False, optimal="learning_rate" in optimal
            ),
            ridge=_values("ridge", ridge, positive=False, optimal="ridge" in optimal),
            alpha=_values("alphas", alphas, positive=True, optimal=False),  # type: ignore[arg-type]
        )

    def check_srf(self, srf: object) -> None:
        """``learning_rate = "optimal"`` searches η̃ through the mapping: not with ``srf`` given."""
        if srf is not None and self.optimised("learning_rate"):
            raise InvalidParameterError(
                "learning_rate", '"optimal" needs the network → sRF mapping and cannot be combined with srf'
            )

    def values(self, name: str) -> tuple[Value, ...]:
        return getattr(self, name)

    def optimised(self, name: str) -> bool:
        return self.values(name) == (OPTIMAL,)

    @property
    def lengths(self) -> tuple[int, ...]:
        """Length of every axis, in :data:`AXES` order."""
        return tuple(len(self.values(name)) for name in AXES)

    @property
    def size(self) -> int:
        return math.prod(self.lengths)

    def axes(self) -> list[tuple[str, tuple[Value, ...]]]:
        """The axes with more than one value, in :data:`AXES` order."""
        return [(name, self.values(name)) for name in AXES if len(self.values(name)) > 1]

    def as_dict(self) -> dict[str, Any]:
        """``{"axes": [{"name", "values"}], "shape": [...]}`` of a response."""
        axes = self.axes()
        return {
            "axes": [{"name": name, "values": list(values)} for name, values in axes],
            "shape": [len(values) for _, values in axes],
        }

    def indices(self) -> Iterator[tuple[int, ...]]:
        """Index tuples of every point, in C order of :data:`AXES`."""
        return itertools.product(*(range(n) for n in self.lengths))

    def coordinates(self, index: Sequence[int]) -> dict[str, Value]:
        """``{axis: value}`` of the point at ``index``."""
        return {name: self.values(name)[i] for name, i in zip(AXES, index, strict=True)}

    def describe(self, index: Sequence[int]) -> str:
        """The point's coordinates on the grid's axes, e.g. ``learning_rate=2, alpha=0.5``."""
        coords = self.coordinates(index)
        names = [name for name, _ in self.axes()] or ["alpha"]
        return ", ".join(f"{name}={coords[name]:g}" for name in names if coords[name] != OPTIMAL)


def sorted_order(values: Sequence[Value]) -> list[int]:
    """Indices of ``values`` in increasing order (stable; ``"optimal"`` is a single value)."""
    if len(values) == 1:
        return [0]
    return sorted(range(len(values)), key=lambda i: float(values[i]))  # type: ignore[arg-type]
