"""Protocols beyond one step (docs/theory.md §11.1): readout laws, several steps, reused batches, growing
steps and multi-index teachers, in the engine and through the service."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.polynomial import hermite_e

from service.schemas import SimulateRequest, TheoryRequest
from service.work.prepare import normalise, prepare
from srf_engine import InvalidParameterError, Problem
from srf_engine.grid import GridSpec
from srf_engine.protocols import Protocol, readout_law
from srf_engine.simulation import simulate, simulate_grid
from srf_engine.simulation.cost import estimate_cost
from srf_engine.simulation.protocols import learned, readout_values
from srf_engine.simulation.spec import SimulationSpec
from srf_engine.teachers import multi_index_teacher
from tests.test_service_support import client

STAIRCASE = {
    "multi_index": {
        "hermite_terms": [{"coefficient": 1, "orders": [1, 0]}, {"coefficient": 1, "orders": [1, 1]}]
    }
}
TANH_SIN = Problem("tanh", "sin", learning_rate=3.0, alpha0=2.0)
SMALL: dict[str, Any] = {"dimension": 120, "test_samples": 600, "n_jobs": 1}


def _values(result: Any, field: str = "test_error") -> list[tuple[float, ...]]:
    return [getattr(p, field).values for p in result.points]


def _agree(a: Any, b: Any) -> bool:
    """Means within 3.5 combined standard errors (the statistical tests below)."""
    return abs(a.mean - b.mean) <= 3.5 * math.hypot(a.sem, b.sem)


# ------------------------------------------------------------------------------ the defaults


def test_default_protocol_fields_give_the_same_numbers_as_leaving_them_out() -> None:
    plain = simulate(TANH_SIN, [0.5, 1.2], [0.1, 0.01], seeds=2, **SMALL)
    explicit = simulate(
        TANH_SIN,
        [0.5, 1.2],
        [0.1, 0.01],
        seeds=2,
        readout={"values": [1.0], "weights": [1.0]},  # the uniform law written as a finite one
        steps=[1],
        batches="reused",  # moot with one step
        learning_rate_exponent=0,
        **SMALL,
    )
    assert _values(plain) == _values(explicit)
    assert _values(plain, "train_error") == _values(explicit, "train_error")
    assert all(p.steps is None for p in plain.points)  # no steps coordinate unless asked


def test_old_requests_keep_their_normal_form_and_key() -> None:
    base = {"student": "tanh", "teacher": "sin", "learning_rate": 3.0, "alpha0": 2.0, "alphas": [0.5]}
    old = SimulateRequest.model_validate(base)
    defaults = SimulateRequest.model_validate(
        {**base, "readout": "uniform", "steps": 1, "batches": "reused", "learning_rate_exponent": 0}
    )
    assert not {"readout", "steps", "batches", "learning_rate_exponent"} & set(normalise(old))
    assert prepare(old).key == prepare(defaults).key
    asked = SimulateRequest.model_validate({**base, "steps": [1, 3]})
    assert normalise(asked)["steps"] == [1, 3] and prepare(asked).key != prepare(old).key


# ------------------------------------------------------------------------------ readout laws


def test_readout_laws_draw_their_atoms() -> None:
    rademacher = readout_values(0, readout_law("rademacher"), 4000)
    assert set(np.unique(rademacher)) == {-1.0, 1.0} and abs(rademacher.mean()) < 0.06
    finite = readout_values(0, readout_law({"values": [2.0, -0.5], "weights": [0.25, 0.75]}), 4000)
    assert set(np.unique(finite)) == {2.0, -0.5} and abs(np.mean(finite == 2.0) - 0.25) < 0.03
    assert readout_values(0, readout_law("uniform"), 10) is None
    assert np.array_equal(
        readout_values(3, readout_law("gaussian"), 50), readout_values(3, readout_law("gaussian"), 50)
    )


def test_a_rademacher_readout_with_an_odd_student_learns_as_the_uniform_one() -> None:
    # σ odd: a neuron with u = −1 is a neuron with u = 1 and the row −w0 (same law); ridge absorbs the sign
    kwargs = {"seeds": 8, **SMALL, "dimension": 160}
    uniform = simulate(TANH_SIN, [0.8], 0.05, **kwargs)
    rademacher = simulate(TANH_SIN, [0.8], 0.05, readout="rademacher", **kwargs)
    assert _values(uniform) != _values(rademacher)  # different draws …
    assert _agree(uniform.points[0].test_error, rademacher.points[0].test_error)  # … the same law
    assert rademacher.srf is None and any("srf is null" in w for w in rademacher.warnings)


# ------------------------------------------------------------------------------ several steps


def test_one_run_of_t_steps_serves_every_step_count_bit_for_bit() -> None:
    grid = simulate(TANH_SIN, [0.6], 0.1, seeds=2, steps=[1, 2, 3], **SMALL)
    assert [p.steps for p in grid.points] == [1, 2, 3]
    assert grid.grid["axes"] == [{"name": "steps", "values": [1, 2, 3]}]
    for point in grid.points:
        alone = simulate(TANH_SIN, [0.6], 0.1, seeds=2, steps=point.steps, **SMALL)
        assert alone.points[0].test_error.values == point.test_error.values
        assert alone.points[0].first_layer == point.first_layer
    assert len(grid.points[2].first_layer) == 3  # the history of steps 1 … 3


def test_a_steps_grid_with_several_learning_rates_equals_each_point_alone() -> None:
    spec = SimulationSpec.build(
        model="network", dimension=100, alphas=[0.7], ridge=0.1, seeds=1, test_samples=500
    )
    grid = GridSpec.build(
        width=1.0, noise=0.0, alpha0=[1.0, 2.0], learning_rate=[1.0, 3.0], ridge=0.1, alphas=[0.7]
    )
    result = simulate_grid(TANH_SIN, grid, spec, n_jobs=1, protocol=Protocol.build(steps=[2, 1]))
    # C order: alpha0, steps, learning_rate
    order = [(p.alpha0, p.steps, p.learning_rate) for p in result.points]
    assert order == [(a0, t, lr) for a0 in (1.0, 2.0) for t in (2, 1) for lr in (1.0, 3.0)]
    assert result.grid["axes"][1] == {"name": "steps", "values": [2, 1]}
    for point in result.points[::3]:
        problem = Problem("tanh", "sin", learning_rate=point.learning_rate, alpha0=point.alpha0)
        alone = simulate(
            problem, [0.7], 0.1, dimension=100, seeds=1, test_samples=500, steps=point.steps, n_jobs=1
        )
        assert alone.points[0].test_error.values == point.test_error.values


def test_reused_and_fresh_batches_differ_after_the_first_step() -> None:
    fresh = simulate(TANH_SIN, [0.6], 0.1, seeds=2, steps=[1, 2], **SMALL)
    reused = simulate(TANH_SIN, [0.6], 0.1, seeds=2, steps=[1, 2], batches="reused", **SMALL)
    assert fresh.points[0].test_error.values == reused.points[0].test_error.values  # step 1: the same batch
    assert fresh.points[1].test_error.values != reused.points[1].test_error.values


def test_the_top_singular_value_after_one_step_is_the_measured_spike() -> None:
    result = simulate(TANH_SIN, [0.6], 0.1, seeds=2, **{**SMALL, "dimension": 300})
    for seed in result.first_layer:
        (step,) = seed["steps"]
        assert step["step"] == 1
        values = step["singular_values"]
        assert values == sorted(values, reverse=True) and len(values) == 4
        assert values[0] == pytest.approx(seed["r"], rel=0.1)  # W1 − W0 ≈ r 1vᵀ/√d + bulk
        assert step["overlaps"][0][0] == pytest.approx(abs(seed["gamma"]), abs=0.05)


def test_learned_measures_an_exact_low_rank_update() -> None:
    rng = np.random.default_rng(0)
    p, d = 30, 50
    thetas = math.sqrt(d) * np.linalg.qr(rng.standard_normal((d, 2)))[0].T
    a = rng.standard_normal(p)
    delta = 3.0 * np.outer(a, thetas[1] / math.sqrt(d))  # rank one along θ2, singular value 3‖a‖
    values, overlaps = learned(delta, thetas)
    assert values[0] == pytest.approx(3.0 * np.linalg.norm(a) / math.sqrt(p), rel=1e-9)
    assert overlaps[0, 1] == pytest.approx(1.0, abs=1e-9) and overlaps[0, 0] < 1e-9
    assert np.all(values[1:] < 1e-6 * values[0])
    tall, tall_overlaps = learned(np.vstack([delta, delta]), thetas)  # p > d: the other Gram side
    assert tall[0] == pytest.approx(values[0], rel=1e-9)  # each row twice: the norm over √p unchanged
    assert tall_overlaps[0, 1] == pytest.approx(1.0, abs=1e-9)


def test_a_growing_step_multiplies_the_learning_rate_by_d_to_the_beta() -> None:
    beta = 0.5
    grown = simulate(TANH_SIN, [0.6], 0.1, seeds=1, learning_rate_exponent=beta, **SMALL)
    scaled = Problem("tanh", "sin", learning_rate=3.0 * SMALL["dimension"] ** beta, alpha0=2.0)
    plain = simulate(scaled, [0.6], 0.1, seeds=1, **SMALL)
    assert grown.points[0].test_error.values[0] == pytest.approx(
        plain.points[0].test_error.values[0], rel=1e-9
    )


# ------------------------------------------------------------------------------ multi-index teachers


def _tanh_hermite(order: int) -> list[float]:
    """Orthonormal Hermite coefficients of tanh up to ``order`` (Gauss–Hermite, 120 nodes)."""
    x, w = hermite_e.hermegauss(120)
    w = w / w.sum()
    return [
        float(np.sum(w * np.tanh(x) * hermite_e.hermeval(x, [0] * n + [1]))) / math.sqrt(math.factorial(n))
        for n in range(order + 1)
    ]


def _secretly_single_index(coefficients: list[float]) -> dict[str, Any]:
    """``Σ_n c_n He_n((z1 + z2)/√2)/√(n!)`` written as products, by
    ``He_n(ax + by) = Σ_k C(n, k) a^k b^(n−k) He_k(x) He_(n−k)(y)`` for ``a² + b² = 1``."""
    terms = []
    for n, c in enumerate(coefficients):
        for k in range(n + 1):
            if c:
                terms.append(
                    {"coefficient": c * 2 ** (-n / 2) * math.sqrt(math.comb(n, k)), "orders": [k, n - k]}
                )
    return {"multi_index": {"hermite_terms": terms}}


def test_a_multi_index_teacher_evaluates_sums_and_hermite_products() -> None:
    teacher = multi_index_teacher(
        {"multi_index": {"sum": ["tanh", "he2"], "hermite_terms": [{"coefficient": 2, "orders": [1, 1]}]}}
    )
    z = np.random.default_rng(1).standard_normal((7, 2))
    expected = np.tanh(z[:, 0]) + (z[:, 1] ** 2 - 1) / math.sqrt(2) + 2 * z[:, 0] * z[:, 1]
    assert teacher.k == 2 and np.allclose(teacher(z), expected, atol=1e-12)
    coefficients = _tanh_hermite(7)
    single = Problem("tanh", {"hermite": coefficients}).teacher
    secret = multi_index_teacher(_secretly_single_index(coefficients))
    assert np.allclose(secret(z), single((z[:, 0] + z[:, 1]) / math.sqrt(2)), atol=1e-12)


def test_a_secretly_single_index_teacher_matches_the_single_index_run() -> None:
    coefficients = _tanh_hermite(7)
    kwargs = {"seeds": 8, **SMALL, "dimension": 160}
    single = simulate(
        Problem("tanh", {"hermite": coefficients}, learning_rate=3.0, alpha0=2.0), [0.8], 0.05, **kwargs
    )
    multi = simulate(
        Problem("tanh", _secretly_single_index(coefficients), learning_rate=3.0, alpha0=2.0),
        [0.8],
        0.05,
        **kwargs,
    )
    assert _agree(single.points[0].test_error, multi.points[0].test_error)
    # the step learns θ1 + θ2 (the target's linear part): equal overlaps with both directions
    overlaps = np.array(multi.points[0].first_layer[0]["overlaps"]["mean"])[0]
    assert overlaps[0] == pytest.approx(overlaps[1], abs=0.1) and overlaps.min() > 0.4


def test_random_features_take_a_multi_index_teacher() -> None:
    result = simulate(Problem("tanh", STAIRCASE), [0.6], 0.1, model="random_features", seeds=1, **SMALL)
    assert result.points[0].test_error.mean > 0 and result.points[0].first_layer is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model": "srf", "steps": 2}, "steps"),
        ({"model": "srf", "learning_rate_exponent": 0.5}, "learning_rate_exponent"),
        ({"model": "random_features", "readout": "rademacher"}, "readout"),
        ({"model": "random_features", "batches": "reused"}, "batches"),
        ({"steps": 0}, "steps"),
        ({"steps": [1, 1]}, "steps"),
        ({"readout": "cauchy"}, "readout"),
        ({"readout": {"values": [1.0, 2.0], "weights": [0.5]}}, "readout"),
        ({"batches": "old"}, "batches"),
        ({"learning_rate_exponent": 1.5}, "learning_rate_exponent"),
    ],
)
def test_the_engine_names_the_field_of_a_protocol_it_refuses(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidParameterError) as err:
        simulate(TANH_SIN, [0.5], 0.1, seeds=1, **SMALL, **kwargs)
    assert err.value.field == field


def test_model_srf_refuses_a_multi_index_teacher() -> None:
    with pytest.raises(InvalidParameterError) as err:
        simulate(
            Problem("tanh", STAIRCASE, srf={"c": 1, "r": 1, "gamma": 0.5}), [0.5], 0.1, model="srf", **SMALL
        )
    assert err.value.field == "teacher"


@pytest.mark.parametrize(
    "teacher",
    [
        {"multi_index": {}},
        {"multi_index": {"hermite_terms": [{"coefficient": 1, "orders": [5, 4]}]}},  # degree 9
        {"multi_index": {"sum": ["tanh"] * 9}},
        {"multi_index": {"sum": ["no_such"]}},
        {"multi_index": {"sum": ["tanh"], "code": "import os"}},
        {"multi_index": {"hermite_terms": [{"coefficient": 1e3, "orders": [1]}]}},
    ],
)
def test_bad_multi_index_teachers_are_named(teacher: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameterError) as err:
        Problem("tanh", teacher)
    assert err.value.field == "teacher"


# ------------------------------------------------------------------------------ cost model


def test_the_cost_model_counts_every_step_and_every_readout() -> None:
    base = {
        "model": "network",
        "dimension": 500,
        "width": 1.0,
        "alphas": [1.0],
        "alpha0": 4.0,
        "seeds": 1,
        "test_samples": None,
        "n_jobs": 1,
    }
    one = estimate_cost(**base).seconds
    four = estimate_cost(**base, steps=[4]).seconds
    grid = estimate_cost(**base, steps=[1, 2, 3, 4]).seconds
    assert one < four < grid
    with pytest.raises(InvalidParameterError):
        estimate_cost(**base, steps=[0])


# ------------------------------------------------------------------------------ through the service

BODY: dict[str, Any] = {
    "student": "tanh",
    "teacher": STAIRCASE,
    "learning_rate": 3.0,
    "alpha0": 2.0,
    "alphas": [0.5],
    "model": "network",
    "dimension": 100,
    "seeds": 2,
    "test_samples": 400,
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": 0}, "steps"),
        ({"steps": 65}, "steps"),
        ({"steps": [2, 2]}, "steps"),
        ({"steps": "three"}, "steps"),
        ({"readout": "cauchy"}, "readout"),
        ({"readout": {"values": [1], "weights": [0.5]}}, "readout"),
        ({"readout": {"values": [101], "weights": [1]}}, "readout"),
        ({"batches": "old"}, "batches"),
        ({"learning_rate_exponent": -0.1}, "learning_rate_exponent"),
        ({"learning_rate_exponent": 2}, "learning_rate_exponent"),
        ({"teacher": {"multi_index": {"hermite_terms": [{"coefficient": 1, "orders": [9]}]}}}, "teacher"),
        (
            {
                "teacher": {
                    "multi_index": {"sum": ["tanh"], "hermite_terms": [{"coefficient": 1, "orders": [5, 4]}]}
                }
            },
            "teacher",
        ),
        ({"teacher": {"multi_index": {"eval": "1"}}}, "teacher"),
        ({"model": "srf", "steps": 2, "teacher": "sin"}, "steps"),
        ({"model": "random_features", "readout": "gaussian"}, "readout"),
    ],
)
def test_simulate_answers_422_naming_each_new_field(
    tmp_path: Path, change: dict[str, Any], field: str
) -> None:
    with client(tmp_path) as http:
        response = http.post("/simulate", json={**BODY, **change})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"].split(".")[0] == field


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"steps": 2}, "steps"),
        ({"readout": "rademacher", "steps": 2}, "steps"),  # a readout law alone: §12 (test_readout_service)
        ({"learning_rate_exponent": 0.5}, "learning_rate_exponent"),
        ({"teacher": {"multi_index": {"sum": ["tanh"] * 4}}}, "teacher"),  # §12 covers k ≤ 3
    ],
)
@pytest.mark.parametrize("path", ["/theory/curve", "/compare", "/theory/function"])
def test_theory_endpoints_refuse_what_the_theory_does_not_cover(
    tmp_path: Path, path: str, change: dict[str, Any], field: str
) -> None:
    body = {**BODY, "teacher": "sin", **change}
    if path != "/compare":
        body = {k: v for k, v in body.items() if k in TheoryRequest.model_fields}
    with client(tmp_path) as http:
        response = http.post(path, json=body)
    assert response.status_code == 422
    item = response.json()["detail"][0]
    assert item["field"] == field and "POST /simulate" in item["msg"]


def test_simulate_reports_steps_csv_rows_and_figures(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        response = http.post("/simulate", json={**BODY, "steps": [1, 3], "readout": "rademacher"})
        assert response.status_code == 200
        result = response.json()
        csv = http.get(f"/results/{result['key']}/table").text.splitlines()
        by_steps = http.get(f"/results/{result['key']}/figure", params={"x": "steps"})
        overlaps = http.get(f"/results/{result['key']}/figure", params={"view": "overlaps"})
        theory = http.post(
            "/theory/curve",
            json={k: v for k, v in BODY.items() if k in TheoryRequest.model_fields} | {"teacher": "sin"},
        )
        refused = http.get(f"/results/{theory.json()['key']}/figure", params={"view": "overlaps"})
    assert result["grid"] == {"axes": [{"name": "steps", "values": [1, 3]}], "shape": [2]}
    assert [p["steps"] for p in result["points"]] == [1, 3]
    layers = result["points"][1]["first_layer"]
    assert [e["step"] for e in layers] == [1, 2, 3]
    assert np.array(layers[2]["overlaps"]["mean"]).shape == (4, 2)  # 4 singular vectors × 2 directions
    assert len(result["first_layer"][0]["steps"]) == 3  # per seed
    header = csv[0].split(",")
    assert {"steps", "step", "sv1_mean", "overlap1_2_sem"} <= set(header)
    assert len(csv) == 1 + 1 + 3  # one row per (point, step)
    assert by_steps.status_code == 200 and by_steps.headers["content-type"] == "image/png"
    assert overlaps.status_code == 200 and overlaps.content != by_steps.content
    assert refused.status_code == 422


def test_dask_runs_the_protocols_bit_for_bit() -> None:
    distributed = pytest.importorskip("distributed")
    problem = Problem("tanh", STAIRCASE, learning_rate=2.0, alpha0=1.5)
    kwargs = {"seeds": 2, "steps": [1, 2], "readout": "rademacher", "batches": "reused", **SMALL}
    local = simulate(problem, [0.5], 0.1, **kwargs)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as dask,
    ):
        remote = simulate(problem, [0.5], 0.1, client=dask, **kwargs)
    assert _values(remote) == _values(local)
    assert [p.first_layer for p in remote.points] == [p.first_layer for p in local.points]


def test_the_steps_axis_counts_towards_the_points_limit(tmp_path: Path) -> None:
    with client(tmp_path, max_points=3) as http:
        refused = http.post("/simulate", json={**BODY, "alphas": [0.5, 1.0], "steps": [1, 2]})
        allowed = http.post("/simulate", json={**BODY, "alphas": [0.5, 1.0], "steps": 2})
    assert refused.status_code == 413 and "steps 2" in refused.json()["detail"]
    assert allowed.status_code == 200


def test_the_estimate_of_several_steps_is_within_3x_of_the_measured_time(tmp_path: Path) -> None:
    import time

    from service.work.limits import estimate
    from service.work.pipeline import compute_body
    from tests.test_service_support import settings

    body = {**BODY, "teacher": "sin", "dimension": 400, "seeds": 1, "alpha0": 4.0, "steps": [1, 2, 4]}
    prepared = prepare(SimulateRequest.model_validate(body))
    predicted = estimate(prepared, settings(tmp_path, simulation_jobs=1)).seconds
    best = math.inf
    for _ in range(2):  # the machine is shared: CPU time, best of two
        started = time.process_time()
        compute_body(prepared, n_jobs=1)
        best = min(best, time.process_time() - started)
    assert 1 / 3 <= predicted / best <= 3, (predicted, best)
