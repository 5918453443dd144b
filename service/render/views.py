"""A stored result body read as a grid: its kind, its axes, each point's coordinates, its lines.

Every format other than JSON (CSV rows, figures) is drawn from the body alone, so that a result
fetched by key (``GET /results/{key}``) renders exactly as the POST that made it. The body's
``request`` (the normal form its key was computed from) supplies what points do not carry.

Points are in C order of the grid axes ``width, noise, alpha0, learning_rate, ridge, alpha`` (the
last fastest); ``grid`` lists the axes with more than one value and the shape. A body without
``grid`` is a curve along α.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: The six coordinates of a point, in the grid's C order (the last varies fastest).
AXES: tuple[str, ...] = ("width", "noise", "alpha0", "learning_rate", "ridge", "alpha")

#: Each axis's name in the request (``alpha`` is asked as ``alphas``).
REQUEST_FIELD = {"alpha": "alphas"}

#: How an axis is written on a figure and in a legend.
SYMBOL = {
    "alpha": "α",
    "learning_rate": "η̃",
    "alpha0": "α0",
    "ridge": "λ",
    "noise": "Δ",
    "width": "p/d",
    "steps": "T",
}
LABEL = {
    "alpha": "α = n/d",
    "learning_rate": "learning rate η̃",
    "alpha0": "α0 = n0/d (first-step batch)",
    "ridge": "ridge λ",
    "noise": "label noise Δ",
    "width": "width p/d",
    "steps": "giant steps T",
}

KINDS = ("theory", "simulate", "compare", "function")


def kind_of(body: Mapping[str, Any]) -> str:
    """Which endpoint made ``body``: theory, simulate, compare or function."""
    if "theory" in body and "simulation" in body:
        return "compare"
    points = body.get("points") or []
    if points and "kappa" in points[0]:
        return "function"
    if "model" in body or (points and isinstance(points[0].get("test_error"), Mapping)):
        return "simulate"
    return "theory"


def has_steps(body: Mapping[str, Any]) -> bool:
    """Whether the result asks for ``steps`` (docs/theory.md §11.1): its points then carry the count."""
    if kind_of(body) == "compare":
        body = body["simulation"]
    return "steps" in request_of(body) or any("steps" in p for p in points_of(body))


def request_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """The normal-form request stored with the body (empty for results stored before it was)."""
    request = body.get("request")
    return dict(request) if isinstance(request, Mapping) else {}


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Grid:
    """The list-valued axes of a result, in C order, and the points' order over them."""

    axes: tuple[Axis, ...]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a.values) for a in self.axes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)

    def axis(self, name: str) -> Axis:
        for a in self.axes:
            if a.name == name:
                return a
        raise KeyError(name)

    def lines(self, x: str) -> list[Line]:
        """One line per combination of the axes other than ``x``, each listing point indices along ``x``."""
        names = self.names
        shape = self.shape
        position = names.index(x)
        others = [a for a in self.axes if a.name != x]
        lines = []
        for combo in itertools.product(*(range(len(a.values)) for a in others)):
            fixed = dict(zip((a.name for a in others), combo, strict=True))
            indices = []
            for i in range(shape[position]):
                multi = [fixed.get(n, i) if n != x else i for n in names]
                indices.append(int(np.ravel_multi_index(multi, shape)))
            label = {a.name: a.values[j] for a, j in zip(others, combo, strict=True)}
            lines.append(Line(fixed=label, indices=tuple(indices)))
        return lines

    def planes(self, x: str, y: str) -> list[Plane]:
        """One (x, y) plane per combination of the other axes, as a matrix of point indices [y, x]."""
        shape = self.shape
        names = self.names
        others = [a for a in self.axes if a.name not in (x, y)]
        nx, ny = len(self.axis(x).values), len(self.axis(y).values)
        planes = []
        for combo in itertools.product(*(range(len(a.values)) for a in others)):
            fixed = dict(zip((a.name for a in others), combo, strict=True))
            index = np.empty((ny, nx), dtype=int)
            for j in range(ny):
                for i in range(nx):
                    multi = [i if n == x else j if n == y else fixed[n] for n in names]
                    index[j, i] = int(np.ravel_multi_index(multi, shape))
            label = {a.name: a.values[k] for a, k in zip(others, combo, strict=True)}
            planes.append(Plane(fixed=label, index=index))
        return planes


@dataclass(frozen=True)
class Line:
    fixed: dict[str, float]
    indices: tuple[int, ...]


@dataclass(frozen=True)
class Plane:
    fixed: dict[str, float]
    index: np.ndarray


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return value
    return None


def grid_of(body: Mapping[str, Any]) -> Grid:
    """The body's grid: its ``grid`` block, else the request's list-valued fields, else α alone."""
    block = body.get("grid")
    if block is None and kind_of(body) == "compare":
        block = body["theory"].get("grid")
    if isinstance(block, Mapping) and block.get("axes"):
        return Grid(tuple(Axis(a["name"], tuple(float(v) for v in a["values"])) for a in block["axes"]))
    request = request_of(body)
    axes = []
    for name in AXES:
        values = _as_list(request.get(REQUEST_FIELD.get(name, name)))
        if values is not None and len(values) > 1:
            axes.append(Axis(name, tuple(float(v) for v in values)))
    if not axes:
        points = points_of(body)
        axes = [Axis("alpha", tuple(float(p["alpha"]) for p in points))]
    return Grid(tuple(axes))


def points_of(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(body.get("points") or [])


def _scalar(value: Any) -> float | str | None:
    if isinstance(value, list):
        return float(value[0]) if len(value) == 1 else None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    return str(value)  # "optimal"


def coordinates(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each point's six coordinates: from the point, else from the grid position, else the request."""
    points = points_of(body)
    request = request_of(body)
    grid = grid_of(body)
    kind = kind_of(body)
    # /compare points mirror the theory's; v1 compare points carried only α.
    source = body["theory"]["points"] if kind == "compare" else points
    rows = []
    shape = grid.shape
    sized = int(np.prod(shape)) == len(points)
    names = (*AXES, "steps") if has_steps(body) else AXES
    for i, point in enumerate(points):
        row: dict[str, Any] = {}
        where = dict(zip(grid.names, np.unravel_index(i, shape), strict=True)) if sized else {}
        for name in names:
            value = point.get(name)
            if value is None and i < len(source):
                value = source[i].get(name)
            if value is None and name in where:
                value = grid.axis(name).values[where[name]]
            if value is None:
                value = _scalar(request.get(REQUEST_FIELD.get(name, name)))
            row[name] = value
        rows.append(row)
    return rows


def srf_of(body: Mapping[str, Any], point: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The point's own sRF parameters where the mapping varies, else the body's."""
    srf = point.get("srf")
    if isinstance(srf, Mapping):
        return srf
    top = body.get("srf")
    if top is None and kind_of(body) == "compare":
        top = body["theory"].get("srf")
    return top if isinstance(top, Mapping) else None


def baseline_aligned(theory: Mapping[str, Any]) -> list[Mapping[str, Any] | None]:
    """The baseline point of each theory point (the baseline does not depend on η̃ or α0).

    One-to-one when the lists have equal length; otherwise matched on (α, λ, Δ, p/d), or on
    (α, Δ, p/d) when λ is optimised (each curve then has its own optimal λ)."""
    points = points_of(theory)
    baseline = list(theory.get("baseline") or [])
    if len(baseline) == len(points):
        return baseline
    request = request_of(theory)
    keys = (
        ("alpha", "noise", "width")
        if request.get("ridge") == "optimal"
        else ("alpha", "ridge", "noise", "width")
    )
    coords = coordinates(theory)
    table: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for b in baseline:
        table[tuple(_round(b.get(k)) for k in keys)] = b
    out: list[Mapping[str, Any] | None] = []
    for c in coords:
        match = tuple(_round(c.get(k)) for k in keys)
        if any(v is None for v in match):
            out.append(None)
            continue
        # A baseline point may leave out coordinates it does not depend on; fall back on α alone.
        out.append(table.get(match) or _by_alpha(baseline, c["alpha"]))
    return out


def _by_alpha(baseline: Sequence[Mapping[str, Any]], alpha: Any) -> Mapping[str, Any] | None:
    hits = [b for b in baseline if _round(b.get("alpha")) == _round(alpha)]
    return hits[0] if len(hits) == 1 else None


def _round(value: Any) -> Any:
    return (
        round(float(value), 12) if isinstance(value, int | float) and not isinstance(value, bool) else value
    )


def list_valued_axes(body: Mapping[str, Any]) -> dict[str, int]:
    """The axes of ``body`` with more than one value, and their lengths."""
    return {a.name: len(a.values) for a in grid_of(body).axes if len(a.values) > 1}


def request_axes(request: Mapping[str, Any]) -> dict[str, int]:
    """The list-valued axes a normal-form request asks for, and their lengths (before computing)."""
    out = {}
    for name in (*AXES, "steps"):
        value = request.get(REQUEST_FIELD.get(name, name))
        if isinstance(value, list) and len(value) > 1:
            out[name] = len(value)
    return out
