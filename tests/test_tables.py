"""CSV of every kind of result (service/render/tables.py): columns, one row per point, nulls empty."""

from __future__ import annotations

import csv
import io

import pytest
from figure_support import function_body, grid_compare, grid_simulation, grid_theory

from service.render.tables import COORDINATES, to_csv

LRS, ALPHAS = [0.5, 2.0], [0.2, 1.0, 3.0]


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("make", "columns"),
    [
        (grid_theory, ["test_error", "train_error", "converged", "baseline_test_error"]),
        (grid_simulation, ["test_error_mean", "test_error_sem", "train_error_mean", "dimension", "seeds"]),
        (grid_compare, ["theory", "simulation_mean", "simulation_sem", "z", "relative_error", "agree"]),
    ],
)
def test_one_row_per_point_with_six_coordinates(make, columns: list[str]) -> None:
    body = make(LRS, ALPHAS)
    rows = _rows(to_csv(body))
    assert len(rows) == len(body["points"])
    assert list(rows[0])[:6] == list(COORDINATES)
    assert set(columns) <= set(rows[0])
    for row, point in zip(rows, body["points"], strict=True):
        assert float(row["alpha"]) == point["alpha"] and float(row["learning_rate"]) == point["learning_rate"]
        assert float(row["c"]) == (body.get("srf") or body["theory"]["srf"])["c"]


def test_numbers_round_trip_and_nulls_are_empty() -> None:
    body = grid_theory(LRS, ALPHAS)
    body["points"][1]["test_error"] = None
    rows = _rows(to_csv(body))
    assert rows[1]["test_error"] == ""
    assert float(rows[0]["test_error"]) == body["points"][0]["test_error"]  # repr: exact
    assert rows[0]["converged"] == "true"
    sim = grid_simulation(LRS, ALPHAS)
    assert _rows(to_csv(sim))[0]["seeds"] == "2"


def test_compare_csv_carries_the_extrapolation_when_present() -> None:
    rows = _rows(to_csv(grid_compare(LRS, ALPHAS, extrapolation=True)))
    assert {"limit", "limit_sem", "limit_z"} <= set(rows[0])
    assert "limit" not in _rows(to_csv(grid_compare(LRS, ALPHAS)))[0]


def test_function_csv_has_a_row_per_alpha_and_kappa() -> None:
    body = function_body([0.5, 2.0], n_kappa=11)
    rows = _rows(to_csv(body))
    assert len(rows) == 2 * 11
    assert {"kappa", "target", "after_step", "at_initialisation", "test_error"} <= set(rows[0])
    assert float(rows[12]["kappa"]) == body["points"][1]["kappa"][1]
    assert float(rows[12]["after_step"]) == body["points"][1]["after_step"][1]
