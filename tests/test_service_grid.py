"""Grids over HTTP: response shape and order, a grid point equals the point asked alone, the learned
function, the optimal learning rate, 413 beyond SRF_MAX_POINTS, 422 without learning_rate/alpha0."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from test_service_support import COMPARE, SIMULATE, THEORY, client, wait_job

COORDS = ("width", "noise", "alpha0", "learning_rate", "ridge", "alpha")


@pytest.fixture
def http(tmp_path: Path):
    with client(tmp_path) as test_client:
        yield test_client


def _coords(point: dict) -> tuple:
    return tuple(point[name] for name in COORDS)


def test_theory_grid_shape_order_and_points_alone(http) -> None:
    body = {
        **THEORY,
        "learning_rate": [3.0, 1.0],
        "width": [1.0, 0.5],
        "ridge": [0.1, 0.01],
        "alphas": [0.9, 0.2],
    }
    r = http.post("/theory/curve", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["grid"] == {
        "axes": [
            {"name": "width", "values": [1.0, 0.5]},
            {"name": "learning_rate", "values": [3.0, 1.0]},
            {"name": "ridge", "values": [0.1, 0.01]},
            {"name": "alpha", "values": [0.9, 0.2]},
        ],
        "shape": [2, 2, 2, 2],
    }
    expected = [
        (w, 0.0, 20.0, eta, lam, a)
        for w, eta, lam, a in itertools.product([1.0, 0.5], [3.0, 1.0], [0.1, 0.01], [0.9, 0.2])
    ]
    assert [_coords(p) for p in out["points"]] == expected
    assert [_coords(p) for p in out["baseline"]] == expected
    assert out["srf"] is None and all("srf" in p for p in out["points"])
    for point, base in list(zip(out["points"], out["baseline"], strict=True))[::3]:
        w, n, a0, eta, lam, a = _coords(point)
        alone = http.post(
            "/theory/curve",
            json={
                **THEORY,
                "width": w,
                "noise": n,
                "alpha0": a0,
                "learning_rate": eta,
                "ridge": lam,
                "alphas": [a],
            },
        ).json()
        assert alone["grid"] == {"axes": [], "shape": []}
        assert alone["srf"] == point["srf"] and "srf" not in alone["points"][0]
        for name in ("test_error", "train_error"):
            assert point[name] == pytest.approx(alone["points"][0][name], rel=1e-10)
            assert base[name] == pytest.approx(alone["baseline"][0][name], rel=1e-10)


def test_a_list_of_one_value_is_the_scalar(http) -> None:
    a = http.post("/theory/curve", json=THEORY).json()
    b = http.post("/theory/curve", json={**THEORY, "learning_rate": [3.0], "noise": [0]})
    assert b.status_code == 200 and b.headers["x-cache"] == "hit"
    assert b.json()["key"] == a["key"]


def test_simulation_grid_is_bit_identical_to_each_point_alone(http) -> None:
    body = {
        **SIMULATE,
        "model": "network",
        "learning_rate": [1.0, 3.0],
        "alpha0": [2.0, 0.0],
        "alphas": [0.5, 1.0],
    }
    out = http.post("/simulate", json=body).json()
    assert out["grid"]["shape"] == [2, 2, 2] and len(out["points"]) == 8
    for k in range(0, 8, 2):
        point = out["points"][k]
        alone = http.post(
            "/simulate", json={**body, "learning_rate": point["learning_rate"], "alpha0": point["alpha0"]}
        ).json()
        assert [p["test_error"]["values"] for p in alone["points"]] == [
            p["test_error"]["values"] for p in out["points"][k : k + 2]
        ]
        assert [p["train_error"] for p in alone["points"]] == [
            p["train_error"] for p in out["points"][k : k + 2]
        ]


def test_compare_grid_judges_every_point(http) -> None:
    body = {**COMPARE, "noise": [0.0, 0.1], "alphas": [0.9]}
    out = http.post("/compare", json=body).json()
    assert out["grid"] == {"axes": [{"name": "noise", "values": [0.0, 0.1]}], "shape": [2]}
    assert [p["noise"] for p in out["points"]] == [0.0, 0.1]
    assert [p["theory"] for p in out["points"]] == [p["test_error"] for p in out["theory"]["points"]]
    means = [p["test_error"]["mean"] for p in out["simulation"]["points"]]
    assert [p["simulation_mean"] for p in out["points"]] == means
    assert out["summary"]["agree"] == all(p["agree"] for p in out["points"])
    # the mapping varies with the noise: each comparison point carries its own srf, as the theory's
    assert [p["srf"] for p in out["points"]] == [p["srf"] for p in out["theory"]["points"]]


def test_optimal_learning_rate_is_reported_per_point(http) -> None:
    body = {**THEORY, "alpha0": 2.0, "learning_rate": "optimal", "alphas": [1.0]}
    out = http.post("/theory/curve", json=body).json()
    point = out["points"][0]
    assert 1.0 < point["learning_rate"] < 5.0 and out["grid"] == {"axes": [], "shape": []}
    fixed = http.post("/theory/curve", json={**body, "learning_rate": point["learning_rate"]}).json()
    assert fixed["points"][0]["test_error"] == pytest.approx(point["test_error"], rel=1e-10)
    for eta in (0.5 * point["learning_rate"], 1.5 * point["learning_rate"]):
        other = http.post("/theory/curve", json={**body, "learning_rate": eta}).json()
        assert other["points"][0]["test_error"] > point["test_error"]
    assert http.post("/simulate", json={**SIMULATE, "learning_rate": "optimal"}).status_code == 422
    given = {**body, "srf": {"c": 1.0, "r": 1.0, "gamma": 0.5}}
    for headers in ({}, {"Prefer": "respond-async"}):
        r = http.post("/theory/curve", json=given, headers=headers)
        assert r.status_code == 422 and r.json()["detail"][0]["field"] == "learning_rate", r.text


def test_too_many_points_is_413_naming_the_limit(tmp_path: Path) -> None:
    with client(tmp_path, max_points=7) as http:
        r = http.post("/theory/curve", json={**THEORY, "learning_rate": [1.0, 2.0, 3.0]})  # 3 × 3 α
        assert r.status_code == 413, r.text
        assert r.json()["limit"] == "SRF_MAX_POINTS" and "9 points" in r.json()["detail"]
        r = http.post(
            "/simulate", json={**SIMULATE, "ridge": [0.1, 0.2, 0.3]}, headers={"Prefer": "respond-async"}
        )
        assert r.status_code == 413 and r.json()["limit"] == "SRF_MAX_POINTS"
        assert http.post("/theory/curve", json={**THEORY, "learning_rate": [1.0, 2.0]}).status_code == 200


@pytest.mark.parametrize("path", ["/theory/curve", "/simulate", "/compare", "/theory/function"])
@pytest.mark.parametrize("missing", ["learning_rate", "alpha0"])
def test_learning_rate_and_alpha0_are_required(http, path: str, missing: str) -> None:
    base = {"/theory/curve": THEORY, "/simulate": SIMULATE, "/compare": COMPARE, "/theory/function": THEORY}[
        path
    ]
    r = http.post(path, json={k: v for k, v in base.items() if k != missing})
    assert r.status_code == 422, r.text
    assert any(item["field"] == missing and "required" in item["msg"].lower() for item in r.json()["detail"])


def test_learned_function_endpoint_and_its_job(http) -> None:
    r = http.post("/theory/function", json={**THEORY, "alphas": [0.5, 2.0]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [p["alpha"] for p in body["points"]] == [0.5, 2.0]
    point = body["points"][0]
    assert len(point["kappa"]) == 101 and point["kappa"][0] == -4.0 and point["kappa"][-1] == 4.0
    assert len(point["target"]) == len(point["after_step"]) == len(point["at_initialisation"]) == 101
    curve = http.post("/theory/curve", json={**THEORY, "alphas": [0.5, 2.0]}).json()
    assert point["test_error"] == pytest.approx(curve["points"][0]["test_error"], rel=1e-10)
    assert point["baseline_test_error"] == pytest.approx(curve["baseline"][0]["test_error"], rel=1e-10)
    again = http.post("/theory/function", json={**THEORY, "alphas": [0.5, 2.0]})
    assert again.headers["x-cache"] == "hit"
    job = http.post(
        "/theory/function",
        json={**THEORY, "alphas": [1.0], "kappa": [-1, 0, 1]},
        headers={"Prefer": "respond-async"},
    )
    assert job.status_code == 202
    done = wait_job(http, job.json()["id"])
    assert done["status"] == "done" and done["result"]["points"][0]["kappa"] == [-1.0, 0.0, 1.0]
    assert http.post("/theory/function", json={**THEORY, "learning_rate": [1, 2]}).status_code == 422
