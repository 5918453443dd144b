"""/compare with extrapolate_dimensions: simulations at several d, fitted to ε∞ + b/d."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_service_support import COMPARE, SIMULATE, client

from service.schemas import CompareRequest, SimulateRequest, TheoryRequest
from service.work.prepare import normalise

EXTRAPOLATE = {**COMPARE, "seeds": 2, "extrapolate_dimensions": [60, 150]}


def test_extrapolation_block_fits_every_alpha_and_shares_the_simulations(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        r = http.post("/compare", json=EXTRAPOLATE)
        assert r.status_code == 200, r.text
        block = r.json()["extrapolation"]
        assert block["dimensions"] == [60, 100, 150]
        assert [p["alpha"] for p in block["points"]] == COMPARE["alphas"]
        for p in block["points"]:
            assert p["limit"] is not None and p["limit_sem"] > 0
            assert p["z"] == pytest.approx((p["limit"] - p["theory"]) / p["limit_sem"])
        assert "ε∞ + b/d" in block["summary"]["criterion"]
        # Each dimension's simulation is stored as the /simulate request of that dimension.
        for d in (60, 150):
            again = http.post("/simulate", json={**SIMULATE, "seeds": 2, "dimension": d})
            assert again.headers["x-cache"] == "hit"
        # The order of the extra dimensions does not change the request's identity (repeats are a 422).
        same = http.post("/compare", json={**EXTRAPOLATE, "extrapolate_dimensions": [150, 60, 100]})
        assert same.headers["x-cache"] == "hit" and same.json()["key"] == r.json()["key"]
        plain = http.post("/compare", json={**COMPARE, "seeds": 2}).json()
        assert "extrapolation" not in plain or plain["extrapolation"] is None


@pytest.mark.parametrize(
    ("dims", "status", "needle"),
    [
        ([100], 422, "extrapolate_dimensions"),
        ([1], 422, "extrapolate_dimensions"),
        ([10, 20, 30, 40, 50], 422, "extrapolate_dimensions"),
        ([5000], 413, "SRF_MAX_DIMENSION"),
    ],
)
def test_bad_extrapolation_dimensions_are_refused(tmp_path: Path, dims, status, needle) -> None:
    with client(tmp_path, max_dimension=4000) as http:
        r = http.post("/compare", json={**EXTRAPOLATE, "extrapolate_dimensions": dims})
        assert r.status_code == status, r.text
        assert needle in r.text


@pytest.mark.parametrize("model", [TheoryRequest, SimulateRequest, CompareRequest])
def test_every_request_field_enters_the_cache_key(model) -> None:
    """A field missing from the normal form would make different requests share a stored result."""
    # Fields left out of the normal form at their defaults (so that older requests keep their keys)
    # must enter it as soon as they are set: they are given non-default values here.
    away_from_default = {
        "readout": "rademacher", "steps": [1, 2], "batches": "reused", "learning_rate_exponent": 0.25,
        "precision": "float32",
    }
    example = {**EXTRAPOLATE, "srf": {"c": 1.1, "r": 0.5, "gamma": 0.3}, "test_samples": 400}
    example |= away_from_default
    req = model.model_validate({k: v for k, v in example.items() if k in model.model_fields})
    # A simulation's mapping gives the (c, r, γ) it draws or reports: moot with a given srf, so left out
    moot = {"mapping"} if model is SimulateRequest else set()
    assert set(model.model_fields) - moot <= set(normalise(req))
    fields = {k: v for k, v in example.items() if k in model.model_fields}
    mapped = model.model_validate(fields | {"srf": None})
    assert set(model.model_fields) - {"srf"} <= set(normalise(mapped))
