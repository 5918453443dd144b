"""Figures (service/render/plotting.py): every format's bytes, lines, heatmaps, the optimum over y."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from figure_support import function_body, grid_compare, grid_simulation, grid_theory

from service.render.formats import FigureOptions, Output
from service.render.plotting import draw, line_figure, minimum_over_y, problem_title

MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "svg": b"<?xml", "pdf": b"%PDF-"}
LRS, ALPHAS = [0.5, 1.0, 2.0, 4.0], [0.2, 1.0, 3.0]


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
@pytest.mark.parametrize("make", [grid_theory, grid_simulation, grid_compare])
def test_every_kind_draws_in_every_format(make, fmt: str) -> None:
    data = draw(make(LRS, ALPHAS), Output(fmt, FigureOptions()))
    assert data.startswith(MAGIC[fmt])
    if fmt == "svg":
        assert b"</svg>" in data[-100:]


def test_figure_bytes_are_reproducible_for_the_cache() -> None:
    body = grid_theory(LRS, ALPHAS)
    for fmt in ("svg", "pdf"):  # PNG carries no date; these two would without care
        assert draw(body, Output(fmt, FigureOptions())) == draw(body, Output(fmt, FigureOptions()))


def test_one_coloured_line_per_other_axis_value_with_legend_and_train_panel() -> None:
    body = grid_compare(LRS, ALPHAS, extrapolation=True)
    figure = line_figure(body, FigureOptions(errors=("test", "train")))
    assert len(figure.axes) == 2
    labels = [t.get_text() for t in figure.legends[0].get_texts()]  # beside the panels
    assert [f"η̃ = {lr:g}" for lr in LRS] == labels[: len(LRS)]
    assert any("extrapolated" in label for label in labels)
    assert any("± sem" in label for label in labels)
    assert "tanh student, sin teacher" in figure._suptitle.get_text()
    assert "d = 200, 2 seeds" in figure._suptitle.get_text()


def test_smooth_theory_is_drawn_from_the_fine_body() -> None:
    fine_alphas = list(np.linspace(0.2, 3.0, 50))
    figure = line_figure(grid_theory(LRS, ALPHAS), FigureOptions(), fine=grid_theory(LRS, fine_alphas))
    solid = [ln for ln in figure.axes[0].get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata()) > 1]
    assert len(solid) == len(LRS) and all(len(ln.get_xdata()) == 50 for ln in solid)
    dashed = [ln for ln in figure.axes[0].get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1  # one baseline: it does not depend on η̃


def test_minimum_over_y_recovers_a_quadratic_optimum_in_log_y() -> None:
    ys = np.geomspace(0.1, 30, 17)
    xs = np.array([0.2, 1.0, 3.0])
    z = np.array([[(math.log(y) - math.log(2.0)) ** 2 + 0.1 / x for x in xs] for y in ys])
    best = minimum_over_y(z, ys, log=True)
    assert np.allclose(best, 2.0, rtol=1e-9)
    z[:, 1] = np.nan
    assert np.isnan(minimum_over_y(z, ys, log=True)[1])


def test_heatmap_has_contours_log_colours_and_the_optimum() -> None:
    lrs = list(np.geomspace(0.05, 80, 15))
    body = grid_theory(lrs, [0.01, 0.1, 1.0, 10.0])  # errors from ~0.06 to ~10: log colours
    data = draw(body, Output("svg", FigureOptions(x="alpha", y="learning_rate")))
    assert data.startswith(MAGIC["svg"])
    from service.render.plotting import heatmap_figure

    figure = heatmap_figure(body, FigureOptions(x="alpha", y="learning_rate"))
    ax = figure.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    (optimum,) = [ln for ln in ax.get_lines() if "minimum" in ln.get_label()]
    assert np.allclose(optimum.get_ydata(), 2.0, rtol=1e-6)
    assert type(ax.collections[0].norm).__name__ == "LogNorm"
    assert len(ax.collections) > 1  # the contour set


def test_function_figure_has_a_panel_per_alpha() -> None:
    body = function_body([0.5, 1.0, 4.0])
    data = draw(body, Output("png", FigureOptions()))
    assert data.startswith(MAGIC["png"])
    from service.render.plotting import function_figure

    figure = function_figure(body, FigureOptions())
    assert len(figure.axes) == 3
    assert [len(ax.get_lines()) for ax in figure.axes] == [3, 3, 3]


def test_title_names_the_problem_and_size_and_dpi_apply() -> None:
    body = grid_theory(LRS, ALPHAS)
    title = problem_title(body)
    assert "η̃ = 0.5…4" in title and "α0 = 20" in title and "λ = 0.1" in title and "Δ = 0" in title
    small = draw(body, Output("png", FigureOptions(dpi=50, size=(4.0, 3.0))))
    import io

    from PIL import Image

    assert Image.open(io.BytesIO(small)).size == (200, 150)


def test_compare_heatmap_has_theory_and_simulation_panels_on_one_scale() -> None:
    from service.render.plotting import heatmap_figure

    figure = heatmap_figure(grid_compare(LRS, ALPHAS), FigureOptions(x="alpha", y="learning_rate"))
    meshes = [ax.collections[0] for ax in figure.axes if ax.get_title()]
    assert [ax.get_title() for ax in figure.axes if ax.get_title()] == [
        "theory test error",
        "simulation test error",
    ]
    assert meshes[0].norm.vmin == meshes[1].norm.vmin and meshes[0].norm.vmax == meshes[1].norm.vmax


def test_a_result_stored_without_its_request_still_draws() -> None:
    bare = {
        "key": "3" * 64,
        "points": [{"alpha": a, "test_error": 0.1 / a, "train_error": 0.01} for a in ALPHAS],
    }
    assert draw(bare, Output("png", FigureOptions())).startswith(MAGIC["png"])
    assert problem_title(bare) == "theory"


def _render_boxes(figure: Any) -> tuple[Any, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    legends = [lg.get_window_extent(renderer) for lg in figure.legends]
    legends += [ax.get_legend().get_window_extent(renderer) for ax in figure.axes if ax.get_legend()]
    return renderer, legends


@pytest.mark.parametrize("kind", ["noise_grid", "eta_grid", "heatmap"])
def test_legends_cover_no_panel(kind: str) -> None:
    """A legend sits beside the axes (the Δ = 0 curve at small α and the baseline were hidden)."""
    from matplotlib.figure import Figure as MplFigure

    from service.render.plotting import heatmap_figure

    body = grid_theory(LRS, ALPHAS)
    if kind == "heatmap":
        figure = heatmap_figure(body, FigureOptions(x="alpha", y="learning_rate"))
    else:
        figure = line_figure(body, FigureOptions())
    assert isinstance(figure, MplFigure)
    renderer, legends = _render_boxes(figure)
    assert legends
    for ax in figure.axes:
        if ax.get_label() == "<colorbar>":
            continue
        box = ax.get_window_extent(renderer)
        for legend in legends:
            assert not legend.overlaps(box), kind


def test_axis_scales_follow_the_values_or_the_query() -> None:
    from service.render.plotting import heatmap_figure, log_scale

    linear = [0.1 + 0.3 * i for i in range(11)]  # 0.1 … 3.1: spans 31×, evenly spaced
    geometric = list(np.geomspace(0.1, 10, 9))
    assert not log_scale(linear) and log_scale(geometric) and not log_scale([0.0, 1.0, 100.0])
    assert log_scale(linear, "log") and not log_scale(geometric, "linear")
    body = grid_theory([0.5, 1.0, 2.0, 4.0], linear)
    figure = heatmap_figure(body, FigureOptions(x="alpha", y="learning_rate"))
    ax = figure.axes[0]
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "linear"
    assert ax.get_xlim()[0] >= 0  # cells of a linspace, not geometric edges reaching below the data
    forced = heatmap_figure(body, FigureOptions(x="alpha", y="learning_rate", xscale="log", yscale="log"))
    assert forced.axes[0].get_xscale() == "log" and forced.axes[0].get_yscale() == "log"
    lines = line_figure(grid_theory(LRS, linear), FigureOptions(xscale="log", yscale="linear"))
    assert lines.axes[0].get_xscale() == "log" and lines.axes[0].get_yscale() == "linear"


def test_scales_are_query_options_and_part_of_the_figure_key_only_when_given() -> None:
    from service.render.formats import parse_output

    plain = parse_output(("png",), "png", None).figure
    assert "scale" not in plain.canonical()  # keys of figures drawn before the option stay
    chosen = parse_output(("png",), "png", None, xscale="log", yscale="linear").figure
    assert chosen.xscale == "log" and "xscale=log" in chosen.canonical()
    from service.render.formats import InvalidOption

    with pytest.raises(InvalidOption, match="must be one of linear, log"):
        parse_output(("png",), "png", None, xscale="logit")


def test_the_optimal_learning_rate_is_drawn_against_alpha() -> None:
    from service.render.formats import check_axes

    body = grid_theory([2.0], ALPHAS)
    body["request"]["learning_rate"] = "optimal"
    for i, point in enumerate(body["points"]):
        point["learning_rate"] = 1.5 + 0.5 * i  # the η̃ found at each α
    options = FigureOptions(x="alpha", y="learning_rate")
    check_axes(options, {}, "theory", len(body["points"]), optimised=["learning_rate"])  # no 422
    png = draw(body, Output("png", options))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from service.render.plotting import optimum_figure

    figure = optimum_figure(body, options)
    xs, ys = figure.axes[0].get_lines()[0].get_data()
    assert list(xs) == ALPHAS and list(ys) == [1.5, 2.0, 2.5]
    assert "optimal η̃" in figure.axes[0].get_ylabel()
