"""A result's figure: the smooth theory it needs, then the drawing (shared by the service and the CLI).

A line figure's theory is not a polyline through the requested points: the same problem is
evaluated on a fine grid of the x-axis (:func:`fine_request`, every other axis as requested), which
costs little next to a simulation; on request (``exact_optimum``, offline: it costs seconds a
point) a heatmap of η̃ or λ gets the exact optimum along a fine x grid (``"optimal"``,
docs/theory.md §5). Both are ordinary ``/theory/curve`` requests, so the caller's
``theory`` function can serve them from, and keep them in, its cache. If they cannot be had (an old
result without its request, an engine that refuses the request), the figure is drawn from the points
alone and the reason is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from srf_engine import Cancelled

from ..schemas import TheoryRequest
from . import plotting
from .formats import Output
from .views import REQUEST_FIELD, grid_of, kind_of, request_of

log = logging.getLogger("srf.figures")

#: Computes a /theory/curve body from its normal-form request (the service: through its cache).
Theory = Callable[[dict[str, Any]], Mapping[str, Any]]

#: Theory fields of a request: what a /theory/curve request of the same problem keeps. Every field of
#: the request model, so that each choice that changes a number (mapping, bulk, row_norm, …) reaches
#: the smooth theory drawn beside the points.
THEORY_FIELDS: tuple[str, ...] = tuple(TheoryRequest.model_fields)

#: Points of a smooth-theory request at most (all lines together), and per line.
FINE_BUDGET = 2400
FINE_PER_LINE = 120
#: Axes whose every value needs its own network → sRF mapping and moments (docs/theory.md §3): a
#: point along them costs some forty points along α, so fewer distinct values are asked.
REMAPPED = ("learning_rate", "alpha0")
MAPPING_BUDGET = 48
#: An optimised λ costs about this many plain points; an optimised η̃ far more (no smoothing).
OPTIMAL_COST = 20
#: Points along x of the exact optimum drawn on a heatmap.
OPTIMUM_POINTS = 60


def theory_request_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """The normal-form /theory/curve request of the body's problem (empty if it is not known)."""
    theory = body["theory"] if kind_of(body) == "compare" else body
    request = request_of(theory) or request_of(body)
    if not request:
        return {}
    return {k: request[k] for k in THEORY_FIELDS if k in request}


def _spaced(values: list[float], n: int) -> list[float]:
    """``n`` points from min to max (geometric when positive and spanning ≥ 20×), plus the values."""
    lo, hi = min(values), max(values)
    fine = np.geomspace(lo, hi, n) if lo > 0 and hi / lo >= 20 else np.linspace(lo, hi, n)
    return sorted({float(v) for v in fine} | {float(v) for v in values})


def fine_request(request: Mapping[str, Any], x: str, detail: float = 1.0) -> dict[str, Any] | None:
    """``request`` with the ``x`` axis on a fine grid, or None when there is nothing to smooth (or
    it would cost too much). ``detail`` scales the budgets (offline figures can afford more)."""
    field = REQUEST_FIELD.get(x, x)
    values = request.get(field)
    if not isinstance(values, list) or len(values) < 2 or request.get("learning_rate") == "optimal":
        return None
    lines = remapped = 1
    for name, value in request.items():
        if name != field and isinstance(value, list) and name in THEORY_FIELDS:
            lines *= len(value)
            remapped *= len(value) if name in REMAPPED else 1
    per_line = min(FINE_PER_LINE * detail, FINE_BUDGET * detail / lines)
    if field in REMAPPED:
        per_line = min(per_line, MAPPING_BUDGET * detail / remapped)
    if request.get("ridge") == "optimal":
        per_line /= OPTIMAL_COST
    if int(per_line) <= len(values):
        return None
    return {**request, field: _spaced(values, int(per_line))}


def optimum_request(request: Mapping[str, Any], x: str, y: str) -> dict[str, Any] | None:
    """``request`` with ``y`` = "optimal" on a fine grid of ``x`` (η̃ or λ only, one plane only)."""
    if y not in ("learning_rate", "ridge"):
        return None
    field = REQUEST_FIELD.get(x, x)
    values = request.get(field)
    others = [
        k
        for k, v in request.items()
        if isinstance(v, list) and len(v) > 1 and k not in (field, REQUEST_FIELD.get(y, y))
    ]
    if not isinstance(values, list) or len(values) < 2 or others:
        return None
    return {**request, y: "optimal", field: _spaced(values, OPTIMUM_POINTS)}


def _try(theory: Theory, request: Mapping[str, Any] | None, what: str) -> Mapping[str, Any] | None:
    if request is None:
        return None
    try:
        return theory(dict(request))
    except Cancelled:
        raise
    except Exception as exc:  # a figure without its smooth lines beats no figure
        log.warning("figure: the %s could not be computed (%s); drawing the requested points only", what, exc)
        return None


def _optimum(body: Mapping[str, Any], y: str, x: str) -> tuple[np.ndarray, np.ndarray] | None:
    points = body.get("points") or []
    xs = np.array([float(p.get(x if x != "alpha" else "alpha") or np.nan) for p in points])
    ys = np.array([float(p[y]) if isinstance(p.get(y), int | float) else np.nan for p in points])
    if len(points) == 0 or not np.isfinite(ys).any():
        return None
    if x != "alpha":  # the point's own coordinate may be missing: take the grid's
        grid = grid_of(body)
        if x in grid.names and len(grid.axis(x).values) == len(points):
            xs = np.array(grid.axis(x).values)
    order = np.argsort(xs)
    return xs[order], ys[order]


def make_figure(
    body: Mapping[str, Any],
    output: Output,
    theory: Theory | None = None,
    *,
    exact_optimum: bool = False,
    detail: float = 1.0,
) -> bytes:
    """The figure of ``body`` in ``output``'s format, with smooth theory when ``theory`` is given.

    A heatmap's minimum over y is the grid's, refined by a parabola; ``exact_optimum`` asks the
    theory's "optimal" η̃ or λ instead (a 1-D minimisation per x: seconds a point, for offline use);
    ``detail`` scales the smooth theory's budget of points."""
    options = output.figure
    kind = kind_of(body)
    request = theory_request_of(body) if theory is not None and kind in ("theory", "compare") else {}
    if not request:
        return plotting.draw(body, output)
    x = options.x or "alpha"
    if options.y is not None:
        if not exact_optimum:
            return plotting.draw(body, output)
        optimum_body = _try(theory, optimum_request(request, x, options.y), "exact optimum")
        optimum = _optimum(optimum_body, options.y, x) if optimum_body is not None else None
        return plotting.draw(body, output, optimum=optimum)
    fine = _try(theory, fine_request(request, x, detail), "smooth theory")
    return plotting.draw(body, output, fine=fine)
