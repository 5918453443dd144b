"""service/work/prepare.py: one normal form, one key and the engine's inputs per request, built once."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_service_support import COMPARE, SIMULATE, THEORY, client

from service.schemas import CompareRequest, SimulateRequest, TheoryRequest
from service.work import prepare as prepare_module
from service.work.prepare import prepare, request_key
from srf_engine import InvalidParameterError, Problem


def test_theory_request_becomes_a_problem_and_its_key() -> None:
    req = TheoryRequest.model_validate({**THEORY, "learning_rate": 3, "width": 2})
    prepared = prepare(req)
    assert prepared.endpoint == "theory/curve"
    assert prepared.key == request_key(req)
    assert isinstance(prepared.problem, Problem)
    assert prepared.problem.width == 2.0 and prepared.problem.learning_rate == 3.0
    assert prepared.spec is None and prepared.parts == ()
    assert all(isinstance(a, float) for a in prepared.normal["alphas"])


def test_simulation_spec_has_the_defaults_filled_in() -> None:
    req = SimulateRequest.model_validate({**SIMULATE, "seeds": 3, "test_samples": None, "dimension": 1500})
    prepared = prepare(req)
    assert prepared.spec is not None
    assert prepared.spec.seeds == (0, 1, 2) and prepared.normal["seeds"] == [0, 1, 2]
    assert prepared.spec.test_samples == 3000 == prepared.normal["test_samples"]  # max(2000, 2d)
    assert prepared.spec.model == "srf" and prepared.spec.alphas == tuple(THEORY["alphas"])


def test_compare_parts_carry_the_keys_of_the_equivalent_requests() -> None:
    body = {**COMPARE, "extrapolate_dimensions": [200, 50]}
    prepared = prepare(CompareRequest.model_validate(body))
    theory, *simulations = prepared.parts
    # model "srf" is judged against the sRF model's own limit (§5's bulk, no row-norm channel)
    srf_theory = {**THEORY, "bulk": "marchenko_pastur", "row_norm": False}
    assert theory.key == request_key(TheoryRequest.model_validate(srf_theory))
    assert [s.normal["dimension"] for s in simulations] == [50, 100, 200]
    alone = {k: v for k, v in COMPARE.items() if k in SimulateRequest.model_fields}
    assert prepared.simulation_parts[100].key == request_key(SimulateRequest.model_validate(alone))
    assert prepared.simulation_parts[200].key == request_key(
        SimulateRequest.model_validate({**alone, "dimension": 200})
    )
    assert all(part.problem is prepared.problem for part in prepared.parts)  # built once


def test_the_engines_own_checks_run_at_the_edge() -> None:
    req = SimulateRequest.model_validate({**SIMULATE, "alphas": [0.001]})  # α·d rounds to 0 samples
    with pytest.raises(InvalidParameterError) as excinfo:
        prepare(req)
    assert excinfo.value.field == "alphas"


@pytest.mark.parametrize(("path", "body"), [("/theory/curve", THEORY), ("/simulate", SIMULATE)])
def test_a_request_is_normalised_once(tmp_path: Path, monkeypatch, path: str, body: dict) -> None:
    calls: list[object] = []
    real = prepare_module.normalise

    def counted(req):
        calls.append(req)
        return real(req)

    monkeypatch.setattr(prepare_module, "normalise", counted)
    with client(tmp_path) as http:
        assert http.post(path, json=body).status_code == 200
        assert len(calls) == 1
        calls.clear()
        assert http.post(path, json=body, headers={"Prefer": "respond-async"}).status_code == 202
        assert len(calls) == 1
