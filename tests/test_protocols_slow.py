"""The literature's findings on protocols beyond one step (docs/theory.md §11.1), at d = 1000.

Slow (``pytest -m slow tests/test_protocols_slow.py``, about a minute on 2 cores): each runs the network
of docs/theory.md §2 with a multi-index teacher and reads what its first layer learned.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from srf_engine import Problem
from srf_engine.simulation import simulate

pytestmark = pytest.mark.slow

D = 1000
#: z1 + He2(z2)/√2: a linear part along θ1 and a purely quadratic one along θ2.
LINEAR_PLUS_HE2 = {
    "multi_index": {
        "hermite_terms": [{"coefficient": 1, "orders": [1, 0]}, {"coefficient": 1, "orders": [0, 2]}]
    }
}
#: The staircase z1 + z1·z2 (Dandi et al. 2023).
STAIRCASE = {
    "multi_index": {
        "hermite_terms": [{"coefficient": 1, "orders": [1, 0]}, {"coefficient": 1, "orders": [1, 1]}]
    }
}


def _best_overlaps(point) -> list[np.ndarray]:
    """Per step: for each teacher direction, the largest mean |cos| with the top singular vectors."""
    return [np.max(np.array(step["overlaps"]["mean"]), axis=0) for step in point.first_layer]


def test_one_step_with_a_batch_of_order_d_learns_the_linear_part_only() -> None:
    problem = Problem("tanh", LINEAR_PLUS_HE2, learning_rate=3.0, alpha0=2.0)
    result = simulate(problem, [4.0], 0.05, dimension=D, seeds=3)
    (step,) = result.points[0].first_layer
    top = np.array(step["overlaps"]["mean"])[0]  # the top singular vector of W1 − W0
    assert top[0] > 0.5  # θ1: measured 0.713 ± 0.004
    assert top[1] < 0.15  # θ2: measured 0.024 ± 0.003, a random direction's level (1/√d ≈ 0.03)


def test_the_staircase_learns_its_second_direction_with_the_steps() -> None:
    # relu (σ' not even, so z1·z2 feeds θ2 once θ1 is learned) and a ±1 readout (f0 ≈ 0: no mean-row
    # drift), as in Dandi et al.'s experiments
    problem = Problem("relu", STAIRCASE, learning_rate=3.0, alpha0=2.0)
    result = simulate(problem, [4.0], 0.05, dimension=D, seeds=3, steps=[1, 3], readout="rademacher")
    one, three = result.points
    after_one = _best_overlaps(one)[0]
    after_three = _best_overlaps(three)[-1]
    assert after_one[0] > 0.5 and after_one[1] < 0.15  # one step: θ1 only
    assert after_three[1] > after_one[1] + 0.4  # three steps: θ2 too (measured 0.097 → 0.712)
    e1, e3 = one.test_error, three.test_error
    assert e3.mean < e1.mean - 3 * math.hypot(e1.sem, e3.sem)  # and the test error falls: 1.480 → 0.919


def _feature_spectrum(beta: float, d: int) -> np.ndarray:
    """Top singular values of the centred features σ(X W1ᵀ)/√n of one seed's first layer after one step
    (gaussian readout, η̃·d^β), on n = d fresh samples."""
    from srf_engine.blas import single_threaded_blas
    from srf_engine.protocols import Protocol
    from srf_engine.simulation import setup
    from srf_engine.simulation.parallel import TaskRunner
    from srf_engine.simulation.sampling import Stream, sample
    from srf_engine.simulation.seed import SeedRun
    from srf_engine.simulation.spec import SimulationSpec

    problem = Problem("relu_centered", "tanh", learning_rate=0.3, alpha0=2.0)
    spec = SimulationSpec.build(model="network", dimension=d, alphas=[1.0], ridge=0.1, seeds=1)
    run = setup(problem, spec, Protocol.build(readout="gaussian", learning_rate_exponent=beta))
    with single_threaded_blas(), TaskRunner(1, 1.0, None) as runner:
        w, _ = SeedRun(run.plan, 0, runner).first_layer()
    x, _ = sample(0, Stream.TEST, d, d)
    phi = problem.student(x @ w.T)
    phi -= phi.mean(axis=0)
    return np.sqrt(np.maximum(np.linalg.eigvalsh(phi.T @ phi / d)[::-1][:4], 0.0))


def test_a_growing_step_separates_a_second_spike_of_the_features_as_d_grows() -> None:
    # Moniri et al. (2024): a step growing with the dimension adds spikes to the feature matrix, the k-th
    # along (Xθ)^∘k; with a gaussian readout the k-th has its own neuron-side vector u^∘k. Measured
    # sv2/sv3: β = 0.25: 1.46, 2.34 at d = 500, 1000 (growing); β = 0: 1.009, 1.009, 1.004 (none).
    grown = [(_feature_spectrum(0.25, d)) for d in (500, 1000, 2000)]
    ratios = [s[1] / s[2] for s in grown]
    assert ratios[0] < ratios[1] < ratios[2] and ratios[2] > 2.0
    flat = [_feature_spectrum(0.0, d) for d in (500, 2000)]
    assert all(s[1] / s[2] < 1.1 for s in flat)
