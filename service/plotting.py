"""PNG figures of results, drawn with matplotlib's Agg backend (no display, no pyplot state).

Figures are built with the object-oriented API (``Figure`` + ``FigureCanvasAgg``), so drawing in
several threads at once is safe.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _xy(points: Sequence[Mapping[str, Any]], field: str) -> tuple[list[float], list[float]]:
    pairs = sorted((p["alpha"], p[field]) for p in points if p.get(field) is not None)
    return [a for a, _ in pairs], [v for _, v in pairs]


def _render(figure: Figure) -> bytes:
    for ax in figure.axes:
        # The no-step baseline is often ten times the theory: a log axis keeps both readable.
        lo, hi = ax.dataLim.y0, ax.dataLim.y1
        if lo > 0 and hi / lo > 4:
            ax.set_yscale("log")
            ax.set_ylabel(ax.get_ylabel() + " (log scale)")
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _axes(title: str) -> tuple[Figure, Any]:
    figure = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = figure.add_subplot()
    ax.set_xlabel("α = n/d")
    ax.set_ylabel("test error")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return figure, ax


def _srf_title(prefix: str, srf: Mapping[str, Any] | None) -> str:
    if not srf:
        return prefix
    return f"{prefix}  (c = {srf['c']:.4g}, r = {srf['r']:.4g}, γ = {srf['gamma']:.4g})"


def _theory_lines(ax: Any, theory: Mapping[str, Any]) -> None:
    x, y = _xy(theory["points"], "test_error")
    ax.plot(x, y, "-", color="C0", marker=".", label="theory (after the step)")
    if theory.get("baseline"):
        bx, by = _xy(theory["baseline"], "test_error")
        ax.plot(bx, by, "--", color="C2", label="random features (no step)")


def _simulation_bars(ax: Any, simulation: Mapping[str, Any]) -> None:
    rows = sorted(
        (p["alpha"], p["test_error"]["mean"], p["test_error"]["sem"] or 0.0)
        for p in simulation["points"]
        if p["test_error"]["mean"] is not None
    )
    if rows:
        ax.errorbar(
            [r[0] for r in rows],
            [r[1] for r in rows],
            yerr=[r[2] for r in rows],
            fmt="o",
            color="C1",
            capsize=3,
            label=f"simulation, {simulation.get('model', '')} d = {simulation.get('dimension', '?')} (± sem)",
        )


def compare_png(body: Mapping[str, Any]) -> bytes:
    """Theory curve, simulation means with sem error bars, and the random-features baseline."""
    summary = body.get("summary", {})
    verdict = "agree" if summary.get("agree") else "disagree"
    figure, ax = _axes(_srf_title(f"theory vs simulation: {verdict}", body["theory"].get("srf")))
    _theory_lines(ax, body["theory"])
    _simulation_bars(ax, body["simulation"])
    ax.legend(fontsize=8)
    return _render(figure)


def theory_png(body: Mapping[str, Any]) -> bytes:
    """The theory curve and its baseline."""
    figure, ax = _axes(_srf_title("theory", body.get("srf")))
    _theory_lines(ax, body)
    ax.legend(fontsize=8)
    return _render(figure)


def simulate_png(body: Mapping[str, Any]) -> bytes:
    """Simulation means with sem error bars."""
    figure, ax = _axes(_srf_title("simulation", body.get("srf")))
    _simulation_bars(ax, body)
    ax.legend(fontsize=8)
    return _render(figure)
