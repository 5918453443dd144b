"""Time model of drawing a figure, for the synchronous-time limit (``SRF_MAX_SYNC_SECONDS``).

A figure costs its smooth theory (a line figure's fine-grid /theory/curve request, priced by the
theory's own time model, ``limits.theory_seconds``) plus the drawing:

    seconds ≈ theory(fine) + panels · PANEL[kind] + points · PER_POINT + pixels · PER_PIXEL

with ``pixels`` = width × height × dpi² for a PNG (vector formats are not rasterised), ``points`` the
result's points (markers, error bars, heatmap cells) and ``panels`` one per error drawn (times the
planes of a heatmap). The constants were fitted to the CPU time of one core
(``pytest -s tests/test_estimates.py`` re-measures them and prints estimate/measured).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ..schemas import TheoryRequest
from ..settings import Settings
from ..work.limits import theory_seconds
from ..work.prepare import prepare
from .figures import THEORY_FIELDS, fine_request, theory_request_of
from .formats import Output
from .views import REQUEST_FIELD, kind_of

#: Seconds a panel costs to lay out and draw (a heatmap adds a colour mesh, contours and labels).
PANEL_SECONDS = {"line": 0.08, "heatmap": 0.2, "function": 0.08}
#: Fixed cost of a figure (creation, title, saving).
FIGURE_SECONDS = 0.04
POINT_SECONDS = 3.0e-4
PIXEL_SECONDS = 4.0e-8
#: The default figure size (inches) of a panel, as ``plotting`` draws it.
PANEL_INCHES = {"line": (6.4, 4.6), "heatmap": (5.4, 4.4), "function": (4.2, 3.6)}


def _planes(request: Mapping[str, Any], x: str, y: str) -> int:
    """Heatmap panels per error: one per combination of the other list-valued axes."""
    skip = {REQUEST_FIELD.get(x, x), REQUEST_FIELD.get(y, y)}
    lengths = [
        len(v) for k, v in request.items() if k in THEORY_FIELDS and k not in skip and isinstance(v, list)
    ]
    return math.prod(lengths) if lengths else 1


def smooth_theory_seconds(body: Mapping[str, Any], output: Output, settings: Settings) -> float:
    """Predicted seconds of the smooth theory a line figure of ``body`` computes (0 when none)."""
    options = output.figure
    if options.y is not None or kind_of(body) not in ("theory", "compare"):
        return 0.0
    fine = fine_request(theory_request_of(body), options.x or "alpha")
    if fine is None:
        return 0.0
    try:
        return theory_seconds(prepare(TheoryRequest.model_validate(fine)), settings)
    except Exception:  # the figure then draws the points alone (figures._try): nothing to price
        return 0.0


def estimate_figure_seconds(body: Mapping[str, Any], output: Output, settings: Settings) -> float:
    """Predicted CPU seconds of ``figures.make_figure(body, output, theory)`` (smooth theory not cached)."""
    options = output.figure
    kind = "function" if kind_of(body) == "function" else "heatmap" if options.y is not None else "line"
    panels = len(options.errors)
    if kind == "heatmap":
        panels *= _planes(theory_request_of(body), options.x or "alpha", options.y or "")
    points = len(body.get("points") or [])
    width, height = PANEL_INCHES[kind]
    size = options.size or (width * min(panels, 3), height * math.ceil(panels / 3))
    pixels = size[0] * size[1] * options.dpi**2 if output.format == "png" else 0.0
    drawing = FIGURE_SECONDS + panels * PANEL_SECONDS[kind] + points * POINT_SECONDS + pixels * PIXEL_SECONDS
    return drawing + smooth_theory_seconds(body, output, settings)
