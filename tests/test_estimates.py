"""The time estimates behind the synchronous limit, against measurement (issue: within 3×).

Each request is estimated as the service does (``limits.estimate``, one simulation thread) and then
computed as the service does (``pipeline.compute_body``); the machine is shared, so the measure is the
CPU time (``process_time``) and the best of a few repeats. Small and large requests of each kind:
the theory at a fixed ridge, λ = 0 and the optimal ridge (the case once 40× over), a strong spike
(a finer κ rule), and simulations.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from test_service_support import THEORY, settings

from service.limits import estimate
from service.pipeline import compute_body
from service.prepare import prepare
from service.schemas import SimulateRequest, TheoryRequest

FACTOR = 3.0

CASES: list[tuple[str, type, dict[str, Any]]] = [
    ("theory, 3 α", TheoryRequest, THEORY),
    ("theory, 200 α", TheoryRequest, {**THEORY, "alphas": [0.02 * i for i in range(1, 201)]}),
    ("theory, λ = 0, 10 α", TheoryRequest, {**THEORY, "ridge": 0, "alphas": [0.3 * i for i in range(1, 11)]}),
    ("optimal ridge, 2 α", TheoryRequest, {**THEORY, "ridge": "optimal", "alphas": [0.5, 2.0]}),
    (
        "optimal ridge, 16 α",
        TheoryRequest,
        {**THEORY, "ridge": "optimal", "alphas": [0.2 * i for i in range(1, 17)]},
    ),
    (
        "strong spike, 5 α",
        TheoryRequest,
        {**THEORY, "learning_rate": 10, "alpha0": 100, "alphas": [0.5, 1, 1.5, 2, 3]},
    ),
    ("simulation, d = 200", SimulateRequest, {**THEORY, "dimension": 200, "seeds": 1, "alphas": [0.5, 1.0]}),
    (
        "simulation, d = 800",
        SimulateRequest,
        {**THEORY, "dimension": 800, "seeds": 2, "alphas": [0.5, 1.0, 2.0]},
    ),
]


def _cpu(prepared, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        compute_body(prepared, n_jobs=1)
        best = min(best, time.process_time() - started)
    return best


@pytest.mark.parametrize(("name", "model", "body"), CASES, ids=[c[0] for c in CASES])
def test_estimate_is_within_3x_of_the_measured_time(tmp_path, name: str, model: type, body: dict) -> None:
    prepared = prepare(model.model_validate(body))
    predicted = estimate(prepared, settings(tmp_path, simulation_jobs=1)).seconds
    measured = _cpu(prepared, 1 if predicted > 2 else 3)
    ratio = predicted / measured
    print(f"{name}: estimated {predicted:.4f} s, measured {measured:.4f} s CPU, ratio {ratio:.2f}")
    assert 1 / FACTOR <= ratio <= FACTOR, (name, predicted, measured)
