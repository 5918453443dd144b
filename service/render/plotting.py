"""Figures of results (PNG, SVG, PDF), drawn with matplotlib's object API (no pyplot state).

Figures are built as ``Figure`` + ``FigureCanvasAgg``, so drawing in several threads at once is
safe. Everything is read from the result body (see ``views``): this module computes nothing. The
smooth theory lines come from a second theory body, the same problem on a fine grid of the x-axis
(``fine``), computed by the caller; without it the theory is drawn through its points.

* Line figure: the test error against ``x`` (default α), one colour per combination of the other
  list-valued axes (legend), the theory solid, the no-step baseline dashed, simulations as points
  with ± sem error bars, an extrapolation to d → ∞ as open diamonds; the training error in a second
  panel with ``errors=test,train``.
* Heatmap (``x`` and ``y``): the test error over two axes with contour lines, a log colour scale
  when the values span a decade or more, and the minimum over ``y`` at each ``x`` drawn on it.
* Learned function (``/theory/function``): per α, the target E[y|κ], the network after the step and
  at initialisation against κ (docs/theory.md §5).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from .formats import FigureOptions, Output
from .views import (
    LABEL,
    SYMBOL,
    Grid,
    baseline_aligned,
    coordinates,
    grid_of,
    kind_of,
    points_of,
    request_of,
)

#: A theory line marks its requested points when there are at most this many.
MARKED_POINTS = 15

# SVG element ids are random unless salted: a fixed salt makes a figure's bytes reproducible.
matplotlib.rcParams["svg.hashsalt"] = "srf"

#: Save options that keep the bytes of a figure reproducible (no creation date).
_METADATA = {"png": {}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}


# ---------------------------------------------------------------- small helpers


def _num(value: Any) -> float:
    """A JSON number, null → NaN (left out of lines)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan


def _fmt(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        if len(value) == 1:
            return _fmt(value[0])
        return f"{_fmt(min(value))}…{_fmt(max(value))}"
    return f"{float(value):.4g}"


def _activation(spec: Any) -> str:
    if isinstance(spec, Mapping) and isinstance(spec.get("multi_index"), Mapping):
        body = spec["multi_index"]
        parts = [" + ".join(f"{_activation(a)}(z{j})" for j, a in enumerate(body.get("sum") or [], 1))]
        for term in body.get("hermite_terms") or []:
            factors = "·".join(f"He{n}(z{j})" for j, n in enumerate(term.get("orders") or [], 1) if n)
            parts.append(f"{term.get('coefficient', 0):g}·{factors or '1'}")
        text = " + ".join(p for p in parts if p)
        return "multi-index " + (text if len(text) <= 40 else f"(k = {_directions(body)})")
    if isinstance(spec, Mapping) and "hermite" in spec:
        return "Hermite(" + ", ".join(f"{c:g}" for c in spec["hermite"]) + ")"
    return str(spec)


def _directions(body: Mapping[str, Any]) -> int:
    terms = body.get("hermite_terms") or []
    return max([len(body.get("sum") or []), *(len(t.get("orders") or []) for t in terms)])


def _spans(values: Sequence[float], ratio: float) -> bool:
    finite = [v for v in values if math.isfinite(v)]
    return bool(finite) and min(finite) > 0 and max(finite) / min(finite) >= ratio


def log_scale(values: Sequence[float], asked: str | None = None) -> bool:
    """Whether an axis of these values is drawn in log scale: as asked (``?xscale=``/``?yscale=``;
    log needs positive values), else only for positive values spanning ≥ 20× that are spaced more
    evenly in log than linearly (a geomspace, not a linspace)."""
    finite = np.array(sorted({v for v in values if math.isfinite(v)}), dtype=float)
    positive = finite.size > 0 and bool(finite[0] > 0)
    if asked is not None:
        return asked == "log" and positive
    if not positive or finite[-1] / finite[0] < 20:
        return False
    if finite.size <= 2:
        return True
    steps, ratios = np.diff(finite), np.diff(np.log(finite))
    return float(ratios.std() / ratios.mean()) < float(steps.std() / steps.mean())


def _legend_outside(figure: Figure, handles: list[Any], where: str = "outside right upper") -> None:
    """The legend beside the panels, never over the data (constrained layout makes room for it)."""
    if handles:
        figure.legend(handles=handles, fontsize=7, loc=where)


def _legend_text(fixed: Mapping[str, float]) -> str:
    return ", ".join(f"{SYMBOL[name]} = {value:.4g}" for name, value in fixed.items())


def problem_title(body: Mapping[str, Any]) -> str:
    """The problem in one or two lines: activations, η̃, α0, λ, width, Δ, and d and seeds if simulated."""
    request = request_of(body)
    kind = kind_of(body)
    srf = body.get("srf") or (body["theory"].get("srf") if kind == "compare" else None)
    lines = []
    if request:
        parts = [
            f"{_activation(request.get('student'))} student, {_activation(request.get('teacher'))} teacher"
        ]
        values = [
            f"{SYMBOL[name]} = {_fmt(request[field])}"
            for name, field in (
                ("learning_rate", "learning_rate"),
                ("alpha0", "alpha0"),
                ("ridge", "ridge"),
                ("width", "width"),
                ("noise", "noise"),
            )
            if field in request
        ]
        # the protocol beyond one step (docs/theory.md §11), where the request has it
        readout = request.get("readout")
        if readout is not None:
            values.append(f"readout {readout if isinstance(readout, str) else 'finite law'}")
        if "batches" in request:
            values.append(f"{request['batches']} batches")
        if "learning_rate_exponent" in request:
            values.append(f"η̃·d^{_fmt(request['learning_rate_exponent'])}")
        parts.append(", ".join(values))
        if "dimension" in request:
            seeds = request.get("seeds") or []
            count = f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''}"
            parts.append(f"{request.get('model', '')} d = {request['dimension']}, {count}".strip())
        line = " · ".join(parts)
        lines.append(line if len(line) <= 100 else "\n".join(parts))  # a long teacher: one part a line
    if isinstance(srf, Mapping) and {"c", "r", "gamma"} <= set(srf):
        lines.append(f"sRF c = {srf['c']:.4g}, r = {srf['r']:.4g}, γ = {srf['gamma']:.4g}")
    if kind == "compare":
        verdict = "agree" if body.get("summary", {}).get("agree") else "disagree"
        lines.append(f"theory vs simulation: {verdict}")
    return "\n".join(lines) or kind


def _tidy_log(axis: Any, lo: float, hi: float) -> None:
    """Plain numbers on a log axis (0.2, 0.5, 1, not 2×10⁻¹), with some minor ticks labelled when
    the axis spans few decades."""
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 99.0
    labelled = (2, 3, 5) if decades < 1.2 else (2, 5) if decades < 2.5 else ()

    def minor(value: float, _: Any) -> str:
        if value <= 0:
            return ""
        mantissa = value / 10 ** math.floor(math.log10(value) + 1e-9)
        return f"{value:g}" if any(abs(mantissa - m) < 1e-6 for m in labelled) else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))


def _figure(size: tuple[float, float] | None, default: tuple[float, float]) -> Figure:
    return Figure(figsize=size or default, layout="constrained")


def render(figure: Figure, fmt: str, dpi: int) -> bytes:
    """The figure's bytes in ``fmt`` (png, svg or pdf)."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
    return buffer.getvalue()


# ---------------------------------------------------------------- line figures


def _line_key(fixed: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted((k, round(float(v), 12)) for k, v in fixed.items()))


def _theory_series(theory: Mapping[str, Any], x: str, field: str) -> dict[Any, tuple[np.ndarray, ...]]:
    """Per line (by its fixed values): x, the theory's ``field`` and the baseline's, sorted along x."""
    grid = grid_of(theory)
    points = points_of(theory)
    baseline = baseline_aligned(theory)
    out = {}
    for line in _lines(grid, x, len(points)):
        xs = np.array([_x_of(theory, grid, i, x) for i in line.indices])
        ys = np.array([_num(points[i].get(field)) for i in line.indices])
        bs = np.array([_num(None if baseline[i] is None else baseline[i].get(field)) for i in line.indices])
        order = np.argsort(xs)
        out[_line_key(line.fixed)] = (xs[order], ys[order], bs[order], line.fixed)
    return out


def _lines(grid: Grid, x: str, n_points: int) -> list[Any]:
    if x in grid.names and int(np.prod(grid.shape)) == n_points:
        return grid.lines(x)
    from .views import Line

    return [Line(fixed={}, indices=tuple(range(n_points)))]


def _x_of(body: Mapping[str, Any], grid: Grid, i: int, x: str) -> float:
    """The x of point ``i``: its grid value (an optimised λ or η̃ is a value, not a coordinate of
    the grid), else the point's own."""
    if x in grid.names and int(np.prod(grid.shape)) == len(points_of(body)):
        where = np.unravel_index(i, grid.shape)[grid.names.index(x)]
        return grid.axis(x).values[where]
    return _num(points_of(body)[i].get(x))


def _simulation_series(sim: Mapping[str, Any], x: str, field: str) -> dict[Any, tuple[np.ndarray, ...]]:
    grid = grid_of(sim)
    points = points_of(sim)
    out = {}
    for line in _lines(grid, x, len(points)):
        xs = np.array([_x_of(sim, grid, i, x) for i in line.indices])
        stats = [points[i].get(field) or {} for i in line.indices]
        mean = np.array([_num(s.get("mean")) for s in stats])
        sem = np.array([_num(s.get("sem")) for s in stats])
        order = np.argsort(xs)
        out[_line_key(line.fixed)] = (xs[order], mean[order], np.nan_to_num(sem[order]), line.fixed)
    return out


def _panel(figure: Figure, n: int, position: int, x: str, field: str) -> Any:
    ax = figure.add_subplot(1, n, position)
    ax.set_xlabel(LABEL[x])
    ax.set_ylabel("test error" if field == "test_error" else "training error")
    ax.grid(alpha=0.3)
    return ax


def _draw_lines(
    ax: Any,
    body: Mapping[str, Any],
    x: str,
    field: str,
    fine: Mapping[str, Any] | None,
    colours: dict[Any, str],
    xscale: str | None = None,
) -> list[Line2D]:
    """Draws one panel; returns the style legend's handles."""
    kind = kind_of(body)
    styles: list[Line2D] = []
    theory = body["theory"] if kind == "compare" else body if kind == "theory" else None
    sim = body["simulation"] if kind == "compare" else body if kind == "simulate" else None
    xs_all: list[float] = []
    if theory is not None:
        coarse = _theory_series(theory, x, field)
        smooth = _theory_series(fine, x, field) if fine is not None else {}
        baselines: list[tuple[np.ndarray, np.ndarray, str]] = []
        for key, (xs, ys, bs, fixed) in coarse.items():
            colour = colours.setdefault(key, f"C{len(colours) % 10}")
            line = smooth.get(key, (xs, ys, bs, fixed))
            ax.plot(line[0], line[1], "-", color=colour, lw=1.6)
            if sim is None and len(xs) <= MARKED_POINTS:  # more would hide the line
                ax.plot(xs, ys, ".", color=colour, ms=5)
            base = line[2]
            # The baseline does not depend on η̃ or α0: lines differing only there share one.
            if np.isfinite(base).any() and not any(
                b.shape == base.shape and np.allclose(b, base, equal_nan=True) for _, b, _ in baselines
            ):
                baselines.append((line[0], base, colour))
            xs_all += list(line[0])
        shared = len(baselines) == 1
        for bx, base, colour in baselines:
            ax.plot(
                bx, base, "--", color=("C2" if len(coarse) == 1 else "0.45") if shared else colour, lw=1.2
            )
        drawn_baselines = baselines
        styles.append(Line2D([], [], color="0.25", ls="-", label="theory after the step"))
        if drawn_baselines:
            styles.append(Line2D([], [], color="0.25", ls="--", label="no step (random features)"))
    if sim is not None:
        for key, (xs, mean, sem, _) in _simulation_series(sim, x, field).items():
            # A single line: theory and simulation in two colours; several: one colour per line.
            colour = "C1" if not key else colours.setdefault(key, f"C{len(colours) % 10}")
            keep = np.isfinite(mean)
            ax.errorbar(
                xs[keep],
                mean[keep],
                yerr=sem[keep],
                fmt="o" if theory is not None else "o-",
                color=colour,
                ms=4,
                lw=0.8,
                capsize=3,
            )
            xs_all += list(xs)
        label = f"simulation, {sim.get('model', '')} d = {sim.get('dimension', '?')} (± sem)"
        styles.append(Line2D([], [], color="0.25", ls="", marker="o", label=label))
    extrapolation = body.get("extrapolation") if field == "test_error" else None
    if isinstance(extrapolation, Mapping) and theory is not None:
        _draw_extrapolation(ax, theory, extrapolation, x, colours)
        dims = ", ".join(str(d) for d in extrapolation.get("dimensions", []))
        styles.append(
            Line2D(
                [],
                [],
                color="0.25",
                ls="",
                marker="D",
                mfc="none",
                label=f"extrapolated d → ∞ (from d = {dims})",
            )
        )
    if log_scale(xs_all, xscale):
        ax.set_xscale("log")
        finite = [v for v in xs_all if math.isfinite(v)]
        _tidy_log(ax.xaxis, min(finite), max(finite))
    return styles


def _draw_extrapolation(
    ax: Any, theory: Mapping[str, Any], block: Mapping[str, Any], x: str, colours: dict[Any, str]
) -> None:
    grid = grid_of(theory)
    points = block.get("points") or []
    if len(points) != len(points_of(theory)):
        return
    for line in _lines(grid, x, len(points)):
        colour = colours.get(_line_key(line.fixed), "C3") if line.fixed else "C3"
        xs = np.array([_x_of(theory, grid, i, x) for i in line.indices])
        ys = np.array([_num(points[i].get("limit")) for i in line.indices])
        es = np.nan_to_num(np.array([_num(points[i].get("limit_sem")) for i in line.indices]))
        keep = np.isfinite(ys)
        ax.errorbar(xs[keep], ys[keep], yerr=es[keep], fmt="D", mfc="none", color=colour, ms=5, capsize=2)


def _log_y_if_wide(ax: Any, asked: str | None = None) -> None:
    # The no-step baseline is often ten times the theory: a log axis keeps both readable.
    lo, hi = ax.dataLim.y0, ax.dataLim.y1
    if (asked == "log" and lo > 0) or (asked is None and lo > 0 and hi / lo > 4):
        ax.set_yscale("log")
        ax.set_ylabel(ax.get_ylabel() + " (log scale)")
        _tidy_log(ax.yaxis, lo, hi)


def line_figure(
    body: Mapping[str, Any], options: FigureOptions, fine: Mapping[str, Any] | None = None
) -> Figure:
    """Test (and training) error against ``options.x``; see the module's docstring."""
    x = options.x or "alpha"
    fields = [f"{e}_error" for e in options.errors]
    figure = _figure(options.size, (6.4 * len(fields), 4.6))
    colours: dict[Any, str] = {}
    styles: list[Line2D] = []
    for position, field in enumerate(fields, start=1):
        ax = _panel(figure, len(fields), position, x, field)
        drawn = _draw_lines(ax, body, x, field, fine, colours, options.xscale)
        if x == "steps":  # step counts are integers
            ax.xaxis.get_major_locator().set_params(integer=True)
        styles = styles or drawn  # one legend for every panel
        _log_y_if_wide(ax, options.yscale)
    handles = [
        Line2D([], [], color=colour, lw=2, label=_legend_text(dict(key)))
        for key, colour in colours.items()
        if key
    ]
    _legend_outside(figure, handles + styles)
    figure.suptitle(problem_title(body), fontsize=9)
    return figure


# ---------------------------------------------------------------- heatmaps


def _edges(values: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around sorted centres (geometric midpoints on a log axis)."""
    v = np.log(values) if log else values
    if len(v) == 1:
        mids = np.array([v[0] - 0.5, v[0] + 0.5])
    else:
        inner = (v[1:] + v[:-1]) / 2
        mids = np.concatenate([[2 * v[0] - inner[0]], inner, [2 * v[-1] - inner[-1]]])
    return np.exp(mids) if log else mids


def minimum_over_y(z: np.ndarray, ys: np.ndarray, log: bool) -> np.ndarray:
    """At each column, the y minimising z, refined by a parabola through the grid minimum and its
    neighbours (in log y on a log axis); NaN where a column has no finite value."""
    out = np.full(z.shape[1], np.nan)
    t = np.log(ys) if log else ys
    for i in range(z.shape[1]):
        column = z[:, i]
        if not np.isfinite(column).any():
            continue
        j = int(np.nanargmin(column))
        best = t[j]
        if 0 < j < len(t) - 1 and np.isfinite(column[j - 1 : j + 2]).all():
            (a, b, c), (za, zb, zc) = t[j - 1 : j + 2], column[j - 1 : j + 2]
            denominator = (b - a) * (zb - zc) - (b - c) * (zb - za)
            if denominator != 0:
                vertex = b - 0.5 * ((b - a) ** 2 * (zb - zc) - (b - c) ** 2 * (zb - za)) / denominator
                best = float(np.clip(vertex, a, c))
        out[i] = math.exp(best) if log else best
    return out


def _matrix(body: Mapping[str, Any], index: np.ndarray, source: str) -> np.ndarray:
    points = points_of(body)

    def value(i: int) -> float:
        p = points[i]
        if source == "simulation":
            return _num((p.get("test_error") or {}).get("mean"))
        return _num(p.get("test_error"))

    return np.vectorize(value, otypes=[float])(index)


def heatmap_figure(
    body: Mapping[str, Any], options: FigureOptions, optimum: tuple[np.ndarray, np.ndarray] | None = None
) -> Figure:
    """The test error over (x, y), with contours and the minimum over y at each x.

    ``optimum`` (x, y*), when given, is the exact optimum (e.g. the theory's "optimal" η̃ on a fine
    x grid) and replaces the grid's."""
    x, y = options.x or "alpha", options.y or "learning_rate"
    kind = kind_of(body)
    sources: list[tuple[str, Mapping[str, Any], str]]
    if kind == "compare":
        sources = [("theory", body["theory"], "theory"), ("simulation", body["simulation"], "simulation")]
    elif kind == "simulate":
        sources = [("simulation", body, "simulation")]
    else:
        sources = [("theory", body, "theory")]
    grid = grid_of(sources[0][1])
    planes = grid.planes(x, y)
    xs = np.array(grid.axis(x).values)
    ys = np.array(grid.axis(y).values)
    ox, oy = np.argsort(xs), np.argsort(ys)
    xs, ys = xs[ox], ys[oy]
    matrices = [
        (name, plane, _matrix(src, plane.index, how)[np.ix_(oy, ox)])
        for plane in planes
        for name, src, how in sources
    ]
    finite = np.concatenate([m[np.isfinite(m)] for _, _, m in matrices]) if matrices else np.array([])
    n = len(matrices)
    cols = min(n, 3 if n > 2 else n)
    rows = math.ceil(n / cols)
    figure = _figure(options.size, (5.4 * cols, 4.4 * rows))
    if finite.size == 0:
        ax = figure.add_subplot()
        ax.text(0.5, 0.5, "no finite test error to draw", ha="center", va="center")
        figure.suptitle(problem_title(body), fontsize=9)
        return figure
    lo, hi = float(finite.min()), float(finite.max())
    log_colour = lo > 0 and hi / lo >= 10
    norm = LogNorm(lo, hi) if log_colour else Normalize(lo, hi if hi > lo else lo + 1e-12)
    logx, logy = log_scale(list(xs), options.xscale), log_scale(list(ys), options.yscale)
    xe, ye = _edges(xs, logx), _edges(ys, logy)
    # a cell of a non-negative quantity (α, λ, Δ, …) starts at 0 at the lowest, never below it
    xe[0], ye[0] = (max(e[0], 0.0) if v[0] >= 0 else e[0] for e, v in ((xe, xs), (ye, ys)))
    mesh = None
    for k, (name, plane, z) in enumerate(matrices, start=1):
        ax = figure.add_subplot(rows, cols, k)
        masked = np.ma.masked_invalid(z)
        mesh = ax.pcolormesh(xe, ye, masked, norm=norm, cmap="viridis", shading="flat")
        if z.shape[0] >= 2 and z.shape[1] >= 2 and np.isfinite(z).sum() >= 4 and hi > lo:
            levels = np.geomspace(lo, hi, 9)[1:-1] if log_colour else np.linspace(lo, hi, 9)[1:-1]
            contours = ax.contour(xs, ys, masked, levels=levels, colors="white", linewidths=0.6, alpha=0.8)
            ax.clabel(contours, fontsize=6, fmt="%.3g")
        best = minimum_over_y(z, ys, logy)
        if optimum is not None and name == "theory" and not plane.fixed:
            ax.plot(optimum[0], optimum[1], "-", color="red", lw=1.5, label=f"optimal {SYMBOL[y]} (theory)")
            ax.plot(
                xs, best, "o", color="red", mfc="none", ms=4, label=f"minimum over the grid's {SYMBOL[y]}"
            )
        else:
            ax.plot(xs, best, "-o", color="red", lw=1.2, ms=3, label=f"minimum over {SYMBOL[y]}")
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        if logx:
            ax.set_xscale("log")
            _tidy_log(ax.xaxis, xe[0], xe[-1])
        if logy:
            ax.set_yscale("log")
            _tidy_log(ax.yaxis, ye[0], ye[-1])
        ax.set_xlabel(LABEL[x])
        ax.set_ylabel(LABEL[y])
        caption = f"{name} test error" + (f" · {_legend_text(plane.fixed)}" if plane.fixed else "")
        ax.set_title(caption, fontsize=8)
        if k == 1:
            _legend_outside(figure, ax.get_legend_handles_labels()[0], "outside lower center")
    if mesh is not None:
        bar = figure.colorbar(mesh, ax=figure.axes, shrink=0.9)
        bar.set_label("test error" + (" (log scale)" if log_colour else ""))
        if log_colour:
            _tidy_log(bar.ax.yaxis, lo, hi)
    figure.suptitle(problem_title(body), fontsize=9)
    return figure


# ---------------------------------------------------------------- the learned function


def function_figure(body: Mapping[str, Any], options: FigureOptions) -> Figure:
    """Per α: target E[y|κ], the network after the step and at initialisation, against κ."""
    points = points_of(body)
    n = max(len(points), 1)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    figure = _figure(options.size, (4.2 * cols, 3.6 * rows + 0.6))
    first = None
    for k, point in enumerate(points, start=1):
        ax = figure.add_subplot(rows, cols, k, sharey=first)
        first = first or ax
        kappa = np.array([_num(v) for v in point.get("kappa") or []])
        for field, style, colour, label in (
            ("target", "-", "black", "target E[y | κ]"),
            ("after_step", "-", "C0", "network after the step"),
            ("at_initialisation", "--", "C2", "at initialisation (random features)"),
        ):
            values = np.array([_num(v) for v in point.get(field) or []])
            if values.shape == kappa.shape:
                ax.plot(kappa, values, style, color=colour, lw=1.5, label=label)
        ax.set_xlabel("κ = v·x/√d")
        ax.set_ylabel("mean prediction")
        ax.grid(alpha=0.3)
        after, before = _fmt_error(point.get("test_error")), _fmt_error(point.get("baseline_test_error"))
        errors = f"test error {after}, no step {before}"
        ax.set_title(f"α = {_num(point.get('alpha')):.4g}: {errors}", fontsize=8)
        if k == 1:
            _legend_outside(figure, ax.get_legend_handles_labels()[0], "outside lower center")
    figure.suptitle(problem_title(body), fontsize=9)
    return figure


def optimum_figure(body: Mapping[str, Any], options: FigureOptions) -> Figure:
    """The η̃ (or λ) a theory result found optimal at each point, against ``x``: one line per value
    of the other list-valued axes, beside the test error it reaches (docs/theory.md §5)."""
    x, y = options.x or "alpha", options.y or "learning_rate"
    grid = grid_of(body)
    points = points_of(body)
    figure = _figure(options.size, (11.0, 4.4))
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    handles: list[Any] = []
    xs_all: list[float] = []
    for k, line in enumerate(_lines(grid, x, len(points))):
        colour = f"C{k % 10}"
        xs = np.array([_x_of(body, grid, i, x) for i in line.indices])
        best = np.array([_num(points[i].get(y)) for i in line.indices])
        error = np.array([_num(points[i].get("test_error")) for i in line.indices])
        order = np.argsort(xs)
        left.plot(xs[order], best[order], "-o", color=colour, ms=3, lw=1.4)
        right.plot(xs[order], error[order], "-o", color=colour, ms=3, lw=1.4)
        xs_all += list(xs)
        if line.fixed:
            handles.append(Line2D([], [], color=colour, lw=2, label=_legend_text(line.fixed)))
    left.set_ylabel(f"optimal {SYMBOL[y]}")
    right.set_ylabel(f"test error at the optimal {SYMBOL[y]}")
    for ax in (left, right):
        ax.set_xlabel(LABEL[x])
        ax.grid(alpha=0.3)
        if log_scale(xs_all, options.xscale):
            ax.set_xscale("log")
    if options.yscale == "log":
        left.set_yscale("log")
    _legend_outside(figure, handles)
    figure.suptitle(problem_title(body), fontsize=9)
    return figure


#: Panels of the overlaps figure at most (one per distinct first layer).
MAX_OVERLAP_PANELS = 6


def _first_layers(body: Mapping[str, Any]) -> list[tuple[dict[str, Any], list[Mapping[str, Any]]]]:
    """One ``(coordinates, first_layer)`` per distinct first layer: the point with the most steps among
    those that share ``(width, noise, alpha0, learning_rate)`` (α and λ do not change the first layer)."""
    best: dict[tuple[Any, ...], tuple[dict[str, Any], list[Mapping[str, Any]]]] = {}
    for point, coords in zip(points_of(body), coordinates(body), strict=True):
        layers = point.get("first_layer")
        if not isinstance(layers, list) or not layers:
            continue
        key = tuple(coords.get(n) for n in ("width", "noise", "alpha0", "learning_rate"))
        if key not in best or len(layers) > len(best[key][1]):
            best[key] = (coords, layers)
    return list(best.values())[:MAX_OVERLAP_PANELS]


def overlaps_figure(body: Mapping[str, Any], options: FigureOptions) -> Figure:
    """What the first layer learned against the step (docs/theory.md §11.1): for each teacher direction
    θ_j, its largest |cos| with the top right singular vectors of W_t − W_0 (mean ± sem over seeds)."""
    layers = _first_layers(body)
    n = max(1, len(layers))
    figure = _figure(options.size, (6.4 * n, 4.6))
    varying = [
        name
        for name in ("width", "noise", "alpha0", "learning_rate")
        if len({c.get(name) for c, _ in layers}) > 1
    ]
    for position, (coords, steps) in enumerate(layers or [({}, [])], start=1):
        ax = figure.add_subplot(1, n, position)
        ax.set_xlabel("step t")
        ax.set_ylabel("overlap with θ_j: max_i |cos(θ_j, v_i)|")
        ax.grid(alpha=0.3)
        ax.set_ylim(0, 1.05)
        if not steps:
            ax.text(0.5, 0.5, "no first-layer measurement (no step)", ha="center", transform=ax.transAxes)
            continue
        ts = np.array([_num(e.get("step")) for e in steps])
        means = [np.asarray((e.get("overlaps") or {}).get("mean"), dtype=float) for e in steps]
        sems = [np.asarray((e.get("overlaps") or {}).get("sem"), dtype=float) for e in steps]
        k = means[0].shape[1] if means[0].ndim == 2 else 0
        for j in range(k):
            best = [int(np.nanargmax(m[:, j])) for m in means]
            ys = np.array([m[i, j] for m, i in zip(means, best, strict=True)])
            es = np.array([s[i, j] for s, i in zip(sems, best, strict=True)])
            colour = f"C{j % 10}"
            ax.errorbar(ts, ys, yerr=es, fmt="o-", ms=4, lw=1.2, capsize=3, color=colour, label=f"θ{j + 1}")
        ax.set_xticks(ts)
        ax.legend(fontsize=7, loc="best")
        if varying:
            ax.set_title(_legend_text({name: coords[name] for name in varying}), fontsize=8)
    figure.suptitle(problem_title(body) + "\nv_i: the top right singular vectors of W_t − W_0", fontsize=8)
    return figure


def _fmt_error(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:.3g}"


# ---------------------------------------------------------------- entry point


def draw(
    body: Mapping[str, Any],
    output: Output,
    *,
    fine: Mapping[str, Any] | None = None,
    optimum: tuple[np.ndarray, np.ndarray] | None = None,
) -> bytes:
    """The figure of ``body`` in ``output.format`` (the options were checked against it by the caller)."""
    options = output.figure
    theory = body["theory"] if kind_of(body) == "compare" else body
    if options.view == "overlaps":
        figure = overlaps_figure(body["simulation"] if kind_of(body) == "compare" else body, options)
    elif kind_of(body) == "function":
        figure = function_figure(body, options)
    elif options.y is not None and request_of(theory).get(options.y) == "optimal":
        figure = optimum_figure(theory, options)
    elif options.y is not None:
        figure = heatmap_figure(body, options, optimum)
    else:
        figure = line_figure(body, options, fine)
    return render(figure, output.format, options.dpi)
