"""The theory endpoints with a readout law or a multi-index teacher (docs/theory.md §12, docs/api.md).

The service answers with the engine's ``readout_curve`` / ``readout_function``; these tests check the
wiring (the same numbers, grid order, cache keys, refusals, formats), not the theory itself, which
tests/test_readout_classes.py and tests/test_multiindex.py check.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from service.schemas import TheoryRequest
from service.work.prepare import request_key
from service.work.readout_theory import target_of
from srf_engine import Problem
from srf_engine.teachers import multi_index_teacher
from srf_engine.theory import readout_curve
from tests.test_service_support import client

BODY: dict[str, Any] = {
    "student": "relu",
    "teacher": "tanh",
    "learning_rate": 2.0,
    "alpha0": 2.0,
    "width": 0.5,
    "noise": 0.1,
    "ridge": 0.05,
    "alphas": [0.5, 1.5],
    "bulk": "marchenko_pastur",
    "row_norm": False,
}
PNG = b"\x89PNG\r\n\x1a\n"


def _errors(body: dict[str, Any]) -> list[float]:
    return [p["test_error"] for p in body["points"]]


def test_a_rademacher_curve_is_readout_curves_numbers(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        answer = http.post("/theory/curve", json={**BODY, "readout": "rademacher"}).json()
    problem = Problem("relu", "tanh", 2.0, 2.0, 0.5, 0.1)
    engine = readout_curve(
        problem, BODY["alphas"], 0.05, readout="rademacher", mapping="corrected", bulk="marchenko_pastur"
    )
    np.testing.assert_allclose(_errors(answer), engine.test_errors, rtol=1e-12)
    np.testing.assert_allclose([p["train_error"] for p in answer["points"]], engine.train_errors, rtol=1e-12)
    assert answer["readout"] == "rademacher" and answer["request"]["readout"] == "rademacher"
    assert [c["u"] for c in answer["srf_classes"]] == [1.0, -1.0]
    assert answer["srf"] is None  # two classes with r = ±r: no one sRF
    assert len(answer["baseline"]) == len(answer["points"])
    assert any("K-atom" in w for w in answer["warnings"])  # the engine's warnings are passed on


def test_an_odd_student_with_rademacher_is_the_uniform_answer(tmp_path: Path) -> None:
    odd = {**BODY, "student": "tanh", "teacher": "sin", "mapping": "corrected"}
    with client(tmp_path) as http:
        rademacher = http.post("/theory/curve", json={**odd, "readout": "rademacher"}).json()
        uniform = http.post("/theory/curve", json=odd).json()
    np.testing.assert_allclose(_errors(rademacher), _errors(uniform), rtol=1e-10)
    np.testing.assert_allclose(
        [p["test_error"] for p in rademacher["baseline"]],
        [p["test_error"] for p in uniform["baseline"]],
        rtol=1e-10,
    )


def test_a_grid_point_equals_the_same_point_alone(tmp_path: Path) -> None:
    grid = {**BODY, "readout": "rademacher", "learning_rate": [1.0, 2.0], "ridge": [0.01, 0.05]}
    with client(tmp_path) as http:
        answer = http.post("/theory/curve", json=grid).json()
        alone = http.post(
            "/theory/curve", json={**BODY, "readout": "rademacher", "learning_rate": 1.0, "ridge": 0.05}
        ).json()
    assert answer["grid"]["shape"] == [2, 2, 2]
    assert [a["name"] for a in answer["grid"]["axes"]] == ["learning_rate", "ridge", "alpha"]
    # C order of (learning_rate, ridge, alpha): index (0, 1, α) is η̃ = 1, λ = 0.05
    picked = answer["points"][2:4]
    assert all(p["learning_rate"] == 1.0 and p["ridge"] == 0.05 for p in picked)
    np.testing.assert_allclose(_errors({"points": picked}), _errors(alone), rtol=1e-12)
    assert answer["srf_classes"] is None and "srf_classes" in answer["points"][0]  # classes vary with η̃


def test_uniform_requests_keep_their_cache_keys() -> None:
    plain = TheoryRequest.model_validate(BODY)
    explicit = TheoryRequest.model_validate({**BODY, "readout": "uniform"})
    finite_one = TheoryRequest.model_validate({**BODY, "readout": {"values": [1.0], "weights": [1.0]}})
    rademacher = TheoryRequest.model_validate({**BODY, "readout": "rademacher"})
    assert request_key(plain) == request_key(explicit) == request_key(finite_one)
    assert request_key(rademacher) != request_key(plain)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ridge": "optimal"}, "ridge"),
        ({"learning_rate": "optimal"}, "learning_rate"),
        ({"bulk": "one_step_sampled"}, "bulk"),
        ({"steps": 2}, "steps"),
        ({"learning_rate_exponent": 0.5}, "learning_rate_exponent"),
        ({"teacher": {"multi_index": {"sum": ["tanh"] * 4}}}, "teacher"),
        ({"teacher": {"multi_index": {"sum": ["tanh", "tanh"]}}, "learning_rate": 0.0}, "learning_rate"),
        (
            {
                "teacher": {"multi_index": {"sum": ["tanh", "tanh"]}},
                "srf": {"c": 1.2, "r": 0.5, "gamma": 0.6},
            },
            "srf",
        ),
    ],
)
@pytest.mark.parametrize("path", ["/theory/curve", "/theory/function"])
def test_what_the_readout_theory_does_not_cover_is_a_422_naming_the_field(
    tmp_path: Path, path: str, change: dict[str, Any], field: str
) -> None:
    body = {**BODY, "readout": "rademacher", **change}
    if path == "/theory/function":
        body["alphas"] = [1.0]
    with client(tmp_path) as http:
        response = http.post(path, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["field"] == field


def test_a_multi_index_teacher_is_the_engines_target(tmp_path: Path) -> None:
    teacher = {"multi_index": {"sum": ["tanh"], "hermite_terms": [{"coefficient": 0.5, "orders": [1, 1]}]}}
    with client(tmp_path) as http:
        answer = http.post("/theory/curve", json={**BODY, "teacher": teacher, "readout": "rademacher"})
    assert answer.status_code == 200, answer.text
    # the same target written as a Python function of Z: tanh(z1) + 0.5 z1 z2 (He1 He1 = z1 z2)
    engine = readout_curve(
        Problem("relu", "tanh", 2.0, 2.0, 0.5, 0.1), BODY["alphas"], 0.05, target="tanh(z1)+0.5*z1*z2"
    )
    np.testing.assert_allclose(_errors(answer.json()), engine.test_errors, rtol=1e-9)
    assert answer.json()["baseline"] == [] and any("no baseline" in w for w in answer.json()["warnings"])
    assert target_of(multi_index_teacher(teacher)).k == 2


def test_the_learned_function_of_relu_with_rademacher_differs_from_uniform(tmp_path: Path) -> None:
    body = {**BODY, "alphas": [1.0], "kappa": [-2.0, -1.0, 0.0, 1.0, 2.0]}
    with client(tmp_path) as http:
        rademacher = http.post("/theory/function", json={**body, "readout": "rademacher"}).json()
        uniform = http.post("/theory/function", json=body).json()
    r, u = rademacher["points"][0], uniform["points"][0]
    assert len(r["target"]) == len(u["target"]) == 5  # h(κ) itself moves: γ depends on E[u] (corrected)
    gap = max(abs(a - b) for a, b in zip(r["after_step"], u["after_step"], strict=True))
    assert gap > 0.05  # visibly different: two classes follow a non-odd function a single one cannot
    # at initialisation: random features, a straight line in κ (γ is the rademacher step's)
    line = np.asarray(r["at_initialisation"])
    np.testing.assert_allclose(np.diff(line, 2), 0.0, atol=1e-10)
    assert math.isfinite(r["test_error"]) and len(rademacher["srf_classes"]) == 2


@pytest.mark.parametrize("path", ["/theory/curve", "/theory/function"])
def test_csv_and_png_answer(tmp_path: Path, path: str) -> None:
    body = {
        **BODY,
        "readout": "rademacher",
        "alphas": [1.0] if path == "/theory/function" else BODY["alphas"],
    }
    with client(tmp_path) as http:
        csv = http.post(path, params={"format": "csv"}, json=body)
        png = http.post(path, params={"format": "png"}, json=body)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert len(csv.text.splitlines()) > 1
    assert png.status_code == 200 and png.content.startswith(PNG)


def test_the_time_estimate_prices_the_classes(tmp_path: Path) -> None:
    from service.work.limits import theory_seconds
    from service.work.prepare import prepare
    from tests.test_service_support import settings

    config = settings(tmp_path)
    seconds = {
        law: theory_seconds(prepare(TheoryRequest.model_validate({**BODY, "readout": law})), config)
        for law in ("rademacher", "gaussian")
    }
    one_step = theory_seconds(
        prepare(TheoryRequest.model_validate({**BODY, "readout": "gaussian", "bulk": "one_step"})), config
    )
    assert seconds["rademacher"] < seconds["gaussian"] < one_step
    assert one_step > 10 * seconds["gaussian"]  # measured: 44–71 s against 0.2–0.4 s on 12 α's


def test_compare_judges_a_rademacher_network_against_the_class_theory(tmp_path: Path) -> None:
    """/compare's theory side is the class-by-class theory of the same law (not the uniform readout's,
    which is twice as large here), and its simulation runs the same law."""
    body = {**BODY, "alphas": [1.5], "readout": "rademacher", "model": "network"}
    body |= {"dimension": 300, "seeds": 2}
    with client(tmp_path) as http:
        answer = http.post("/compare", json=body).json()
        alone = http.post("/theory/curve", json={k: v for k, v in body.items() if k not in SIMULATION}).json()
        uniform = http.post("/theory/curve", json={**BODY, "alphas": [1.5]}).json()
    assert answer["theory"]["readout"] == "rademacher"
    assert _errors(answer["theory"]) == pytest.approx(_errors(alone), rel=1e-12)
    simulated = answer["simulation"]["points"][0]["test_error"]["mean"]
    assert simulated == pytest.approx(_errors(alone)[0], rel=0.25)
    assert _errors(alone)[0] < 0.8 * _errors(uniform)[0]  # the classes matter for relu


SIMULATION = ("model", "dimension", "seeds")


def test_readout_answers_say_why_row_norm_is_off(tmp_path: Path) -> None:
    asked = {**BODY, "readout": "rademacher", "bulk": "one_step", "row_norm": True}
    with client(tmp_path) as http:
        one_step = http.post("/theory/curve", json=asked).json()
        mp = http.post("/theory/curve", json={**asked, "bulk": "marchenko_pastur"}).json()
    assert one_step["row_norm"] is False and "row-norm channel" in one_step["theory_reason"]
    assert mp["theory_reason"] is None  # with §5's bulk the channel never applies, asked or not
    assert not any("row_norm was asked" in w for w in mp["warnings"])
