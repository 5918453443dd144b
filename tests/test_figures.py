"""A figure's smooth theory (service/render/figures.py): which fine-grid request is asked, and its budget."""

from __future__ import annotations

import pytest
from figure_support import grid_theory

from service.render.figures import (
    FINE_PER_LINE,
    MAPPING_BUDGET,
    fine_request,
    optimum_request,
    theory_request_of,
)

BASE = {
    "student": "tanh",
    "teacher": "sin",
    "alpha0": 20.0,
    "ridge": 0.1,
    "noise": 0.0,
    "width": 1.0,
    "srf": None,
}


def test_fine_grid_along_alpha_keeps_the_requested_points() -> None:
    request = {**BASE, "learning_rate": 3.0, "alphas": [0.2, 0.9, 3.0]}
    fine = fine_request(request, "alpha")
    assert fine is not None and len(fine["alphas"]) >= FINE_PER_LINE
    assert set(request["alphas"]) <= set(fine["alphas"]) and fine["alphas"] == sorted(fine["alphas"])
    assert fine["learning_rate"] == 3.0
    # Values spanning decades are spaced geometrically.
    wide = fine_request({**request, "alphas": [0.01, 100.0]}, "alpha")
    ratios = [b / a for a, b in zip(wide["alphas"], wide["alphas"][1:], strict=False)]
    assert max(ratios) / min(ratios) < 1.01


def test_axes_that_change_the_mapping_get_fewer_points_and_optimal_eta_none() -> None:
    request = {**BASE, "learning_rate": [0.5, 1.0, 2.0, 4.0], "alpha0": [5.0, 20.0, 80.0], "alphas": [1.0]}
    fine = fine_request(request, "learning_rate")
    assert fine is not None and len(fine["learning_rate"]) <= MAPPING_BUDGET // 3 + 4
    assert fine["alpha0"] == request["alpha0"]
    assert fine_request(request, "learning_rate", detail=4)["learning_rate"].__len__() > len(
        fine["learning_rate"]
    )
    assert fine_request({**BASE, "learning_rate": "optimal", "alphas": [0.5, 1.0, 2.0]}, "alpha") is None
    assert fine_request({**BASE, "learning_rate": 3.0, "alphas": [1.0]}, "alpha") is None  # one point


def test_exact_optimum_request_only_for_eta_or_lambda_on_one_plane() -> None:
    request = {**BASE, "learning_rate": [0.5, 1.0, 2.0], "alphas": [0.5, 1.0, 2.0]}
    optimum = optimum_request(request, "alpha", "learning_rate")
    assert optimum is not None and optimum["learning_rate"] == "optimal" and len(optimum["alphas"]) > 3
    assert optimum_request(request, "alpha", "noise") is None
    assert optimum_request({**request, "width": [1.0, 2.0]}, "alpha", "learning_rate") is None


def test_theory_request_of_a_body_keeps_only_theory_fields() -> None:
    body = grid_theory([0.5, 2.0], [0.2, 1.0])
    body["request"]["model"] = "network"
    request = theory_request_of(body)
    assert "model" not in request and request["learning_rate"] == [0.5, 2.0]
    assert theory_request_of({"points": []}) == {}


def test_theory_fields_are_every_field_of_a_theory_request() -> None:
    from service.render.figures import THEORY_FIELDS
    from service.schemas import TheoryRequest

    assert set(THEORY_FIELDS) == set(TheoryRequest.model_fields)
    assert {"mapping", "bulk", "row_norm"} <= set(THEORY_FIELDS)


#: Each theory option that changes a number (relu student: not centred, E σ'' ≠ 0, so every option bites).
THEORY_OPTIONS = [
    {"mapping": "paper", "bulk": "marchenko_pastur", "row_norm": False},
    {"mapping": "corrected", "bulk": "one_step", "row_norm": False},
    {"mapping": "corrected", "bulk": "one_step", "row_norm": True},
    {"mapping": "paper", "bulk": "one_step", "row_norm": True},
]


@pytest.mark.parametrize("options", THEORY_OPTIONS, ids=lambda o: "-".join(map(str, o.values())))
def test_a_figures_smooth_line_passes_through_its_points_for_every_theory_option(options) -> None:
    """The fine body the figure draws (what the figure cache keeps) holds the requested α's: its test
    error there must be the points' (it is recomputed from the stored request)."""
    from service.render.figures import make_figure
    from service.render.formats import FigureOptions, Output
    from service.schemas import TheoryRequest
    from service.work.compute import run_theory
    from service.work.prepare import prepare

    def theory(normal: dict) -> dict:
        return run_theory(prepare(TheoryRequest.model_validate(normal)))

    request = {
        "student": "relu", "teacher": "tanh", "learning_rate": 2.0, "alpha0": 5.0, "ridge": 0.05,
        "alphas": [0.5, 1.0, 2.0], **options,
    }  # fmt: skip
    body = theory(request)
    fine_bodies: list[dict] = []

    def recorded(normal: dict) -> dict:
        fine_bodies.append(theory(normal))
        return fine_bodies[-1]

    make_figure(body, Output("png", FigureOptions()), theory=recorded)
    assert len(fine_bodies) == 1
    fine = {p["alpha"]: p["test_error"] for p in fine_bodies[0]["points"]}
    for point in body["points"]:
        assert fine[point["alpha"]] == pytest.approx(point["test_error"], rel=1e-6), options
