"""Cost model of simulations on a Dask cluster (docs/scaling.md): time in waves of seeds over the
cluster's threads, memory per worker; no cluster needed."""

from __future__ import annotations

import math

import pytest

from srf_engine import estimate_cost
from srf_engine.simulation.cost import (
    CALL_OVERHEAD_SECONDS,
    CLUSTER_OVERHEAD_SECONDS,
    ClusterShape,
    cluster_estimate,
    workload,
)
from srf_engine.simulation.spec import SimulationSpec

GiB = 2**30


def load_of(d: int = 1000, seeds: int = 8):
    spec = SimulationSpec.build(model="network", dimension=d, alphas=[0.5, 2.0], ridge=0.1, seeds=seeds)
    return workload(spec, width=1.0, alpha0=20.0, step=True)


@pytest.mark.parametrize(
    ("workers", "seeds", "threads_per_seed"),
    [((1, 1), 8, 1), ((4, 4), 1, 4), ((4, 4), 4, 2), ((2, 2, 2), 2, 2), ((32,), 100, 1)],
)
def test_seeds_share_the_cluster_threads_at_most_a_worker_each(workers, seeds, threads_per_seed) -> None:
    assert ClusterShape(workers, (0,) * len(workers)).task_threads(seeds) == threads_per_seed


def test_time_falls_in_waves_of_seeds_over_the_cluster_threads() -> None:
    load = load_of()
    one_wave = load.seconds_per_seed()
    small = cluster_estimate(load, 8, ClusterShape((1, 1), (0, 0)))  # 4 waves of 2 seeds
    large = cluster_estimate(load, 8, ClusterShape((1,) * 8, (0,) * 8))  # 1 wave of 8
    assert small.seconds - CLUSTER_OVERHEAD_SECONDS == pytest.approx(4 * one_wave)
    assert large.seconds - CLUSTER_OVERHEAD_SECONDS == pytest.approx(one_wave)
    assert small.flops == large.flops == 8 * load.flops_per_seed()


def test_memory_is_per_worker_and_grows_with_the_seeds_a_worker_runs_at_once() -> None:
    load = load_of()
    four_threads = ClusterShape((4, 4), (8 * GiB, 16 * GiB))
    assert cluster_estimate(load, 8, four_threads).memory_bytes == 4 * load.peak_bytes(1)
    assert cluster_estimate(load, 1, four_threads).memory_bytes == load.peak_bytes(4)
    assert four_threads.memory_limit == 8 * GiB
    assert ClusterShape((1,), (0,)).memory_limit is None


def test_estimate_cost_prices_the_cluster_when_given_one() -> None:
    shape = ClusterShape((2, 2), (0, 0))
    kwargs = dict(
        model="network", dimension=600, width=1.0, alphas=[1.0, 3.0], alpha0=20.0, test_samples=None
    )
    on_cluster = estimate_cost(seeds=16, cluster=shape, **kwargs)
    local = estimate_cost(seeds=16, n_jobs=1, **kwargs)
    # 16 single-threaded seeds on 4 threads: 4 waves against 16 seeds one after the other
    assert on_cluster.seconds - CLUSTER_OVERHEAD_SECONDS == pytest.approx(
        (local.seconds - CALL_OVERHEAD_SECONDS) / 4
    )
    assert math.isclose(on_cluster.flops, local.flops)
