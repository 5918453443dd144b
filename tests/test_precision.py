"""float32 simulations: on the same seeds they agree with float64 to < 1e-3 relative (far below the
seed-to-seed spread), float64 requests keep their cache keys, and the field is validated and reaches the
engine from HTTP, the CLI and the Python API."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_service_support import SIMULATE, client

from service.cli.parse import build_parser
from service.schemas import CompareRequest, SimulateRequest
from service.work.prepare import prepare
from srf_engine import InvalidParameterError, Problem
from srf_engine.simulation import SimulationSpec, simulate


@pytest.mark.parametrize(
    ("model", "ridge", "width"),
    [("network", [0.01, 0.1], 1.0), ("srf", 0.01, 0.5), ("random_features", 0.1, 2.0)],
)
def test_float32_agrees_with_float64_on_the_same_seeds(model: str, ridge, width: float) -> None:
    problem = Problem("tanh", "sin", 3.0, 20.0, width, 0.1)
    kw = {"model": model, "dimension": 400, "seeds": [0, 3], "n_jobs": 2}
    f64 = simulate(problem, [0.4, 1.3, 2.5], ridge, **kw)
    f32 = simulate(problem, [0.4, 1.3, 2.5], ridge, precision="float32", **kw)
    for a, b in zip(f64.points, f32.points, strict=True):
        for name in ("test_error", "train_error"):
            x, y = np.array(getattr(a, name).values), np.array(getattr(b, name).values)
            assert np.all(np.abs(y - x) <= 1e-3 * np.abs(x)), (name, a.alpha, a.ridge, x, y)
            # not the same numbers: float32 really ran
            assert np.any(x != y) or name == "train_error"
        spread = a.test_error.std
        assert abs(b.test_error.mean - a.test_error.mean) < 0.05 * spread


def test_precision_is_checked() -> None:
    with pytest.raises(InvalidParameterError, match="precision"):
        SimulationSpec.build(alphas=[1.0], precision="float16")
    with pytest.raises(InvalidParameterError, match="every ridge"):
        SimulationSpec.build(alphas=[1.0], ridge=[0.1, 0.0], precision="float32")
    assert SimulationSpec.build(alphas=[1.0]).dtype == np.float64
    assert SimulationSpec.build(alphas=[1.0], precision="float32").dtype == np.float32


def test_float64_keys_are_unchanged_and_float32_is_its_own_key() -> None:
    base = prepare(SimulateRequest.model_validate(SIMULATE))
    same = prepare(SimulateRequest.model_validate({**SIMULATE, "precision": "float64"}))
    single = prepare(SimulateRequest.model_validate({**SIMULATE, "precision": "float32"}))
    assert "precision" not in base.normal and base.key == same.key
    assert single.normal["precision"] == "float32" and single.key != base.key
    assert single.spec is not None and single.spec.precision == "float32"
    compare = prepare(CompareRequest.model_validate({**SIMULATE, "precision": "float32"}))
    assert compare.normal["precision"] == "float32"
    assert all(part.spec.precision == "float32" for part in compare.parts[1:])
    assert "precision" not in compare.theory_part.normal


def test_http_and_cli(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        bad = http.post("/simulate", json={**SIMULATE, "precision": "half"})
        assert bad.status_code == 422 and "precision" in bad.text
        tiny = http.post("/simulate", json={**SIMULATE, "precision": "float32", "ridge": 0.001})
        assert tiny.status_code == 422 and "precision" in tiny.text, tiny.text
        good = http.post("/simulate", json={**SIMULATE, "precision": "float32"})
        assert good.status_code == 200, good.text
        assert good.json()["request"]["precision"] == "float32"
    args = build_parser().parse_args(["simulate", "--precision", "float32", "--alphas", "1"])
    assert args.field_precision == "float32"
