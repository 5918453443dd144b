"""Cost estimate of the simulations against measured memory and time.

Memory: ``estimate_cost(...).memory_bytes`` against the ``tracemalloc`` peak of the very simulation
(numpy reports its array allocations to ``tracemalloc``): within 30 % either way. With one thread the
peak is deterministic; with two, solves may or may not overlap the accumulation, so the estimate is an
upper bound that is still within 30 % on these cases.
Time: the machine is shared and noisy, so CPU time (``process_time``, robust to other processes)
is held to the single-thread estimate within a factor 2, and wall time to the estimate within a factor 5,
the upper bound stretched by the slowdown other processes cause to a reference job timed around it
(the best of up to 3 runs).
"""

from __future__ import annotations

import math
import time
import tracemalloc

import numpy as np
import pytest

from srf_engine import InvalidParameterError, Problem, estimate_cost, simulate
from srf_engine.blas import single_threaded_blas

MEMORY_FACTOR = 1.3
CPU_FACTOR = 2.0
WALL_FACTOR = 5.0


def _estimate(
    problem: Problem, alphas, ridges, d: int, seeds: int, n_jobs: int, test_samples=None, precision="float64"
):
    return estimate_cost(
        model="network",
        dimension=d,
        width=problem.width,
        alphas=alphas,
        alpha0=problem.alpha0 if problem.learning_rate > 0 else 0.0,
        seeds=seeds,
        test_samples=test_samples,
        n_ridges=len(ridges),
        zero_ridge=0.0 in ridges,
        n_jobs=n_jobs,
        precision=precision,
    )


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize(
    ("problem", "alphas", "ridges", "d", "n_jobs"),
    [
        (Problem("tanh", "sin", 3.0, 2.0), [3.0], [0.1], 600, 1),
        (Problem("tanh", "sin", 3.0, 2.0), [3.0], [0.1], 600, 2),
        (Problem("tanh", "sin", 3.0, 2.0, width=2.0), [0.5, 1.0, 2.0], [0.1], 500, 1),
        (Problem("tanh", "sin", 3.0, 2.0, width=2.0), [0.5, 1.0, 2.0], [0.0, 0.1], 500, 1),
        (Problem("tanh", "sin", width=2.0), [2.0], [0.1], 800, 2),
        (Problem("relu_centered", "tanh", 2.0, 2.0, width=0.5), [0.5, 1.0, 2.0], [0.1, 1.0], 1000, 2),
    ],
)
def test_memory_estimate_is_within_30_percent_of_the_tracemalloc_peak(
    problem, alphas, ridges, d, n_jobs, precision
) -> None:
    if precision == "float32":  # float32 refuses λ < 0.01: the same case without λ = 0
        ridges = [r for r in ridges if r >= 0.01]
    est = _estimate(problem, alphas, ridges, d, 1, n_jobs, precision=precision).memory_bytes
    tracemalloc.start()
    try:
        simulate(problem, alphas, ridges, dimension=d, seeds=1, n_jobs=n_jobs, precision=precision)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak / MEMORY_FACTOR <= est <= peak * MEMORY_FACTOR, (est / 2**20, peak / 2**20)


def _contention() -> float:
    """Wall time over CPU time of a fixed single-threaded job now: ≥ 1, how much other processes slow
    one thread of this one down (1 on an idle machine)."""
    a = np.random.default_rng(0).standard_normal((200, 200))
    with single_threaded_blas():
        t0, c0 = time.perf_counter(), time.thread_time()
        for _ in range(60):
            a = np.tanh(a @ a.T * 0.005)
        wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
    return max(1.0, wall / max(cpu, 1e-9))


def test_time_estimate_is_within_a_generous_factor() -> None:
    problem = Problem("tanh", "sin", 3.0, 8.0, width=1.5)
    alphas, d = [0.5, 1.0, 2.0, 3.0], 700
    single = _estimate(problem, alphas, [0.1], d, 2, 1).seconds
    wall_est = _estimate(problem, alphas, [0.1], d, 2, 2).seconds
    # Other processes inflate even CPU time (shared caches and cores): the best of up to 3 runs counts,
    # stopping at the first one within the bounds
    cpu = wall = slowdown = math.inf
    for _ in range(3):
        before = _contention()
        t0, c0 = time.perf_counter(), time.process_time()
        simulate(problem, alphas, 0.1, dimension=d, seeds=2, n_jobs=2)  # BLAS at one thread per worker
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
        slowdown = min(slowdown, max(before, _contention()))
        if cpu <= single * CPU_FACTOR and wall <= wall_est * WALL_FACTOR * slowdown:
            break
    # CPU time of the process is what other processes on a shared machine inflate least: held to the
    # single-thread estimate (the work does not grow with threads)
    assert single / CPU_FACTOR <= cpu <= single * CPU_FACTOR, (cpu, single)
    # wall time: other processes only slow it down, so the lower bound holds as is, and the upper bound
    # is stretched by the slowdown a single thread sees right before and after the run
    assert wall_est / WALL_FACTOR <= wall <= wall_est * WALL_FACTOR * slowdown, (wall, wall_est, slowdown)
    assert wall_est < single  # two threads are estimated faster than one


def test_estimate_scales_with_seeds_and_sizes_and_validates() -> None:
    kwargs = {"model": "network", "width": 1.0, "alphas": [1.0, 2.0], "alpha0": 2.0, "test_samples": None}
    one = estimate_cost(dimension=500, seeds=1, **kwargs)
    three = estimate_cost(dimension=500, seeds=3, **kwargs)
    assert three.flops == pytest.approx(3 * one.flops)
    assert three.memory_bytes == one.memory_bytes  # seeds run one after the other
    assert three.seconds > 2 * one.seconds
    big = estimate_cost(dimension=2000, seeds=1, **kwargs)
    assert big.flops > 40 * one.flops and big.memory_bytes > 6 * one.memory_bytes
    no_step = estimate_cost(dimension=500, seeds=1, **{**kwargs, "model": "srf"})
    assert no_step.flops < one.flops
    assert estimate_cost(dimension=500, seeds=[4, 9], **kwargs).flops == pytest.approx(2 * one.flops)
    for bad, field in (
        ({"dimension": 1}, "dimension"),
        ({"seeds": 0}, "seeds"),
        ({"model": "nope"}, "model"),
        ({"alphas": []}, "alphas"),
        ({"test_samples": 0}, "test_samples"),
        ({"n_ridges": 0}, "ridge"),
        ({"width": -1.0}, "width"),
    ):
        args = {"dimension": 500, "seeds": 1, **kwargs, **bad}
        with pytest.raises(InvalidParameterError) as err:
            estimate_cost(**args)
        assert err.value.field == field


def test_a_d2000_width2_alpha3_simulation_is_estimated_under_1_5_gb() -> None:
    """The issue's memory target, as the estimate sees it (the benchmark measures it)."""
    est = estimate_cost(
        model="network", dimension=2000, width=2.0, alphas=[3.0], alpha0=2.0, seeds=3, test_samples=None
    )
    assert est.memory_bytes < 1.5e9
