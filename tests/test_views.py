"""Reading a body as a grid (service/render/views.py): C order, lines, planes, coordinates, baseline."""

from __future__ import annotations

from figure_support import function_body, grid_compare, grid_simulation, grid_theory

from service.render.views import baseline_aligned, coordinates, grid_of, kind_of

LRS, ALPHAS = [0.5, 1.0, 2.0], [0.2, 1.0, 3.0, 5.0]


def test_kind_is_read_from_the_shape() -> None:
    assert kind_of(grid_theory(LRS, ALPHAS)) == "theory"
    assert kind_of(grid_simulation(LRS, ALPHAS)) == "simulate"
    assert kind_of(grid_compare(LRS, ALPHAS)) == "compare"
    assert kind_of(function_body([1.0])) == "function"


def test_lines_follow_the_c_order_of_the_axes() -> None:
    body = grid_theory(LRS, ALPHAS)
    grid = grid_of(body)
    assert grid.names == ("learning_rate", "alpha") and grid.shape == (3, 4)
    for line in grid.lines("alpha"):
        assert [body["points"][i]["learning_rate"] for i in line.indices] == [line.fixed["learning_rate"]] * 4
        assert [body["points"][i]["alpha"] for i in line.indices] == ALPHAS
    along_lr = grid.lines("learning_rate")
    assert len(along_lr) == len(ALPHAS)
    for line in along_lr:
        assert [body["points"][i]["learning_rate"] for i in line.indices] == LRS
    (plane,) = grid.planes("alpha", "learning_rate")
    assert plane.index.shape == (3, 4)
    assert body["points"][plane.index[2, 1]]["learning_rate"] == LRS[2]
    assert body["points"][plane.index[2, 1]]["alpha"] == ALPHAS[1]


def test_coordinates_come_from_the_grid_and_request_when_points_lack_them() -> None:
    body = grid_theory(LRS, ALPHAS)
    full = coordinates(body)
    for p in body["points"]:
        for k in ("learning_rate", "alpha0", "ridge", "noise", "width"):
            del p[k]
    del body["baseline"]
    assert coordinates(body) == full  # the grid gives η̃, the request the scalars
    del body["grid"]
    assert coordinates(body) == full  # the request's lists give the grid
    # A v1 body (no request, no grid) is a curve along α.
    bare = {"points": [{"alpha": 0.5, "test_error": 0.1}, {"alpha": 1.0, "test_error": 0.2}]}
    assert grid_of(bare).names == ("alpha",)
    assert coordinates(bare)[1]["alpha"] == 1.0 and coordinates(bare)[1]["ridge"] is None


def test_compare_points_take_coordinates_of_the_theory() -> None:
    body = grid_compare(LRS, ALPHAS)
    for p in body["points"]:
        del p["learning_rate"]
    assert [c["learning_rate"] for c in coordinates(body)] == [
        p["learning_rate"] for p in body["theory"]["points"]
    ]


def test_baseline_matched_by_coordinates_when_deduplicated() -> None:
    body = grid_theory(LRS, ALPHAS)
    aligned = baseline_aligned(body)
    assert [b["alpha"] for b in aligned] == [p["alpha"] for p in body["points"]]
    # The baseline does not depend on η̃: one curve along α serves every line.
    body["baseline"] = [
        {k: v for k, v in b.items() if k != "learning_rate"} for b in body["baseline"][: len(ALPHAS)]
    ]
    aligned = baseline_aligned(body)
    assert all(
        b is not None and b["alpha"] == p["alpha"] for b, p in zip(aligned, body["points"], strict=True)
    )
