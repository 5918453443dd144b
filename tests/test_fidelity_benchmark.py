"""The validation scripts' own arithmetic: pooling seed ranges (benchmarks/fidelity.py) and the hybrid
first layers of benchmarks/belowwidth.py (docs/theory.md §10.5)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np

from srf_engine import Problem


def _load(name: str):
    # loaded from its file: putting benchmarks/ on sys.path would let its modules shadow installed ones
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(values: np.ndarray, first_seed: int) -> dict:
    sem = float(values.std(ddof=1) / math.sqrt(len(values)))
    net = {"test": float(values.mean()), "test_sem": sem, "train": float(values.mean()), "train_sem": sem}
    case = {"pair": "relu/tanh", "alpha0": 2.0, "width": 1.0, "alpha": 0.5, "d": 1500}
    return dict(case, seeds=len(values), first_seed=first_seed, network=net)


def test_pooled_rows_equal_the_statistics_of_all_their_seeds() -> None:
    fidelity = _load("fidelity")
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.08, 0.01, 8), rng.normal(0.09, 0.01, 16)
    overlapping = _row(rng.normal(0.5, 0.1, 4), first_seed=20)  # seeds 20…23 are in b's range 8…23
    (pooled,) = fidelity.pool([_row(a, 0), _row(b, 8), overlapping])
    both = np.concatenate([a, b])
    assert pooled["seeds"] == 24
    assert pooled["seed_ranges"] == [(0, 8), (8, 16)]
    assert math.isclose(pooled["network"]["train"], both.mean(), rel_tol=1e-12)
    assert math.isclose(pooled["network"]["train_sem"], both.std(ddof=1) / math.sqrt(24), rel_tol=1e-12)


def test_hybrid_srf_layer_is_the_network_without_a_step() -> None:
    """η̃ = 0: the corrected sRF is c = 1, r = 0, i.e. W0 itself, so both give the same errors."""
    below = _load("belowwidth")
    out = below.run_seed(Problem("relu", "tanh", 0.0, 2.0, 1.0, 0.0), 60, 0.5, seed=1, quick=True)
    assert set(out) == {"network", "srf (corrected)"}
    assert np.allclose(out["network"], out["srf (corrected)"], rtol=1e-10)
    assert 0 < out["network"][0] < out["network"][1]  # training error below the test error
