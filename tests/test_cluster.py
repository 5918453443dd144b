"""Simulations on a Dask cluster (docs/scaling.md), on a LocalCluster of 2 worker processes on loopback.

Bit-identical to the local run (split first step or not, every model, λ = 0 included), progress as
tasks finish, cancellation of the cluster's tasks, a worker killed mid-run (rerun by Dask, same
numbers), an unreachable or vanished scheduler (a clear error, never a hang), and the service using the
cluster through ``SRF_DASK_SCHEDULER``. Sizes are small (d ≤ 400) to keep the suite fast; the cluster is
started once for the module.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

distributed = pytest.importorskip("distributed")

from test_service_support import SIMULATE, THEORY, SilentServer, free_port, wait_job  # noqa: E402
from test_service_support import client as service_client  # noqa: E402

from srf_engine import Cancelled, Problem, simulate  # noqa: E402
from srf_engine.errors import ClusterUnavailable  # noqa: E402
from srf_engine.simulation import cluster as backend  # noqa: E402

# A second cluster's scheduler finds the first one's HTTP port (8787) taken and picks another: harmless.
pytestmark = pytest.mark.filterwarnings("ignore:Port 8787 is already in use")

TANH_SIN = Problem("tanh", "sin", learning_rate=3.0, alpha0=2.0)


@pytest.fixture(scope="module")
def client() -> Iterator[distributed.Client]:
    """A client of a LocalCluster: 2 worker processes × 1 thread on 127.0.0.1, no dashboard."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as c,
    ):
        c.wait_for_workers(2, timeout=60)
        yield c


def _story_keys(dask_scheduler) -> list:
    """Keys of every task in the scheduler's recent transition log (runs on the scheduler)."""
    return list({event[0] for event in dask_scheduler.transition_log})


def srf_tasks(client: distributed.Client) -> list[str]:
    """Keys of srf's tasks the scheduler still holds."""
    return client.run_on_scheduler(
        lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks if "srf-" in str(k)]
    )


def throwaway_cluster() -> distributed.LocalCluster:
    """A one-worker cluster in this process (cheap to start) for a test that shuts its scheduler down."""
    return distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        silence_logs=logging.CRITICAL,
    )


def wait_until(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------------------------------------------
# bit for bit
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "split", "ridge"),
    [
        ("network", False, [0.0, 0.1]),
        ("network", True, 0.1),
        ("srf", False, 0.1),
        ("random_features", False, 0.0),
    ],
)
def test_cluster_results_equal_the_local_run_bit_for_bit(client, monkeypatch, model, split, ridge) -> None:
    # split: the first step's two gradient partial sums run as tasks of their own
    monkeypatch.setattr(backend, "split_step", lambda plan, seeds, shape: split)
    kwargs = dict(model=model, dimension=150, seeds=[0, 3, 5], test_samples=700)
    alphas = [0.4, 1.7, 3.5]  # 3.5·150 = 525: one size across a chunk boundary
    local = simulate(TANH_SIN, alphas, ridge, n_jobs=1, **kwargs)
    remote = simulate(TANH_SIN, alphas, ridge, client=client, **kwargs)
    assert remote.as_dict() == local.as_dict()
    assert simulate(TANH_SIN, alphas, ridge, n_jobs=2, **kwargs).as_dict() == local.as_dict()
    if split:
        assert any(str(k).startswith("('srf-step") for k in client.run_on_scheduler(_story_keys))


def test_a_seed_does_not_depend_on_the_other_seeds_on_the_cluster(client) -> None:
    alone = simulate(TANH_SIN, [1.0], 0.1, dimension=120, seeds=[4], client=client)
    many = simulate(TANH_SIN, [1.0], 0.1, dimension=120, seeds=[1, 4, 6, 8], client=client)
    assert alone.points[0].test_error.values == many.points[0].test_error.values[1:2]


def test_a_task_uses_the_threads_its_worker_has_free(client) -> None:
    # 1-thread workers: a task asking for 4 threads gets 1 (BLAS itself runs on one thread in a task)
    assert client.submit(backend._worker_threads, 4, pure=False).result() == 1
    assert backend._worker_threads(3) == 3  # not on a worker: as asked


@pytest.mark.slow
def test_bit_for_bit_on_another_topology_with_an_automatically_split_first_step() -> None:
    """One worker with 2 threads (a seed task then runs 2 threads), α0 = 20: the step is split."""
    problem = Problem("tanh", "sin", learning_rate=3.0, alpha0=20.0)
    kwargs = dict(dimension=700, seeds=[11], test_samples=1500)
    local = simulate(problem, [0.5, 2.0, 3.0], [0.0, 0.1], n_jobs=1, **kwargs)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as c,
    ):
        shape = backend.cluster_shape(c)
        assert shape.task_threads(1) == 2
        remote = simulate(problem, [0.5, 2.0, 3.0], [0.0, 0.1], client=c, **kwargs)
        assert any(str(k).startswith("('srf-step") for k in c.run_on_scheduler(_story_keys))
    assert remote.as_dict() == local.as_dict()


# ------------------------------------------------------------------------------------------------
# progress and cancellation
# ------------------------------------------------------------------------------------------------
def test_progress_moves_as_the_seed_tasks_finish(client) -> None:
    calls: list[float] = []
    simulate(TANH_SIN, [1.0, 2.0], 0.1, dimension=200, seeds=4, client=client, progress=calls.append)
    assert calls[0] == 0.0 and calls[-1] == 1.0
    assert all(b >= a for a, b in itertools.pairwise(calls))
    assert any(0.0 < c < 1.0 for c in calls), "no intermediate progress while tasks finished"


def test_cancelling_stops_the_tasks_on_the_cluster(client) -> None:
    seen: list[float] = []

    def progress(fraction: float) -> None:
        seen.append(fraction)
        if len(seen) > 3:  # the tasks are on the cluster by now
            raise Cancelled("stop")

    started = time.monotonic()
    with pytest.raises(Cancelled):
        # 200 test chunks a seed: a task runs 5–12 s, longer than it takes a cancelled one to stop
        simulate(
            TANH_SIN,
            [3.0],
            0.1,
            dimension=500,
            seeds=8,
            test_samples=100_000,
            client=client,
            progress=progress,
        )
    assert time.monotonic() - started < 5
    # queued tasks are dropped, running ones stop at their next chunk: the cluster is idle at once
    assert wait_until(lambda: not srf_tasks(client), timeout=5), srf_tasks(client)
    assert wait_until(lambda: not any(client.processing().values()), timeout=5)
    executing = lambda: client.run(lambda dask_worker: dask_worker.state.executing_count)  # noqa: E731
    assert wait_until(lambda: not any(executing().values()), timeout=5), executing()


# ------------------------------------------------------------------------------------------------
# failures
# ------------------------------------------------------------------------------------------------
def test_a_worker_killed_mid_run_is_replaced_and_the_result_is_unchanged(client) -> None:
    kwargs = dict(dimension=300, seeds=4, test_samples=600)
    local = simulate(TANH_SIN, [1.0, 3.0], 0.1, n_jobs=1, **kwargs)
    pids = client.run(os.getpid)
    out: dict = {}
    thread = threading.Thread(
        target=lambda: out.setdefault("result", simulate(TANH_SIN, [1.0, 3.0], 0.1, client=client, **kwargs))
    )
    thread.start()
    busy: dict = {}
    assert wait_until(lambda: busy.update({w: k for w, k in client.processing().items() if k}) or busy, 20)
    victim, keys = next(iter(busy.items()))
    os.kill(pids[victim], signal.SIGKILL)
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert out["result"].as_dict() == local.as_dict()
    # the task that was on the killed worker ran again elsewhere
    story = client.story(*keys)
    assert sum(1 for event in story if event[2] == "processing") >= 2, story
    assert client.wait_for_workers(2, timeout=60) is None  # the nanny restarted it


def test_an_unreachable_scheduler_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(backend, "CONNECT_TIMEOUT_SECONDS", 1.0)
    address = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ClusterUnavailable, match=r"127\.0\.0\.1"):
        simulate(TANH_SIN, [1.0], 0.1, dimension=50, seeds=1, client=address)
    assert time.monotonic() - started < 10


def test_a_peer_that_accepts_and_stays_silent_is_a_clear_error_within_the_deadline() -> None:
    wrong = SilentServer()
    try:
        started = time.monotonic()
        with pytest.raises(ClusterUnavailable, match="handshake"):
            backend.connect(wrong.address, timeout=0.5)
        assert time.monotonic() - started < 3
    finally:
        wrong.close()


def test_the_service_fails_fast_while_a_connect_is_under_way_and_after_it_failed(tmp_path) -> None:
    from service.errors import AtCapacity
    from service.work.cluster import Cluster

    wrong = SilentServer()
    cluster = Cluster(wrong.address, connect_timeout=1.0, retry_after=30)
    try:
        assert cluster.health()["state"] == "not_connected"
        times: list[float] = []

        def one() -> None:
            started = time.monotonic()
            with pytest.raises(AtCapacity) as raised:
                cluster.client()
            assert raised.value.status_code == 503
            times.append(time.monotonic() - started)

        threads = [threading.Thread(target=one) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        assert len(times) == 8 and max(times) < 3, times
        assert sorted(times)[-2] < 0.5, times  # only one waited for the handshake
        health = cluster.health()
        assert health["state"] == "unreachable" and "handshake" in health["reason"]
        started = time.monotonic()
        with pytest.raises(AtCapacity, match="handshake"):  # within Retry-After: the same reason, at once
            cluster.client()
        assert time.monotonic() - started < 0.5
    finally:
        cluster.close()
        wrong.close()


def test_a_scheduler_lost_mid_run_fails_the_run_with_the_reason() -> None:
    cluster = throwaway_cluster()
    client = distributed.Client(cluster, set_as_default=False)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            simulate(TANH_SIN, [3.0], 0.1, dimension=300, seeds=20, client=client)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert wait_until(lambda: any(client.processing().values()), 20)
    cluster.close()
    thread.join(timeout=60)
    client.close()
    assert not thread.is_alive(), "the run hung after its scheduler went away"
    assert errors and isinstance(errors[0], ClusterUnavailable), errors
    assert "scheduler" in str(errors[0])


# ------------------------------------------------------------------------------------------------
# the service through SRF_DASK_SCHEDULER
# ------------------------------------------------------------------------------------------------
ASYNC = {"Prefer": "respond-async"}


def test_the_service_simulates_on_the_cluster_with_the_local_numbers(client, tmp_path) -> None:
    before = set(client.run_on_scheduler(_story_keys))
    with service_client(tmp_path / "local") as http:
        local = http.post("/simulate", json={**SIMULATE, "seeds": 3})
    with service_client(tmp_path / "cluster", dask_scheduler=client.scheduler.address) as http:
        remote = http.post("/simulate", json={**SIMULATE, "seeds": 3})
    assert local.status_code == remote.status_code == 200, remote.text
    same = {k: v for k, v in remote.json().items() if k != "elapsed_seconds"}
    assert same == {k: v for k, v in local.json().items() if k != "elapsed_seconds"}
    new = set(client.run_on_scheduler(_story_keys)) - before
    assert sum(1 for key in new if str(key).startswith("('srf-seed")) == 3  # one task per seed


def test_a_job_on_the_cluster_reports_progress_as_seeds_finish(client, tmp_path) -> None:
    body = {**SIMULATE, "model": "network", "dimension": 300, "seeds": 6, "alphas": [1.0, 3.0]}
    with service_client(tmp_path, dask_scheduler=client.scheduler.address) as http:
        job_id = http.post("/simulate", json=body, headers=ASYNC).json()["id"]
        seen = []
        deadline = time.monotonic() + 120
        while (job := http.get(f"/jobs/{job_id}").json())["status"] not in ("done", "failed"):
            seen.append(job["progress"])
            assert time.monotonic() < deadline
            time.sleep(0.02)
    assert job["status"] == "done", job["error"]
    assert any(0.0 < p < 1.0 for p in seen), seen
    assert job["progress"] == 1.0


def test_deleting_a_job_cancels_its_tasks_on_the_cluster(client, tmp_path) -> None:
    body = {
        **SIMULATE,
        "model": "network",
        "dimension": 500,
        "seeds": 8,
        "alphas": [3.0],
        "test_samples": 100_000,
    }
    with service_client(tmp_path, dask_scheduler=client.scheduler.address) as http:
        job_id = http.post("/simulate", json=body, headers=ASYNC).json()["id"]
        assert wait_until(lambda: bool(srf_tasks(client)), timeout=60), "the job's tasks never appeared"
        assert http.delete(f"/jobs/{job_id}").json()["status"] == "cancelled"
        assert wait_until(lambda: not srf_tasks(client), timeout=10), srf_tasks(client)
        executing = lambda: client.run(lambda dask_worker: dask_worker.state.executing_count)  # noqa: E731
        assert wait_until(lambda: not any(executing().values()), timeout=5), executing()
        assert http.get(f"/jobs/{job_id}").json()["status"] == "cancelled"


def test_an_unreachable_scheduler_is_a_503_for_new_work_only(tmp_path) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    with service_client(tmp_path, dask_scheduler=address, dask_connect_timeout=0.5) as http:
        for headers in ({}, ASYNC):
            started = time.monotonic()
            answer = http.post("/simulate", json=SIMULATE, headers=headers)
            assert answer.status_code == 503, answer.text
            assert time.monotonic() - started < 10
            assert "Retry-After" in answer.headers
            detail = answer.json()["detail"]
            assert address in detail and "SRF_DASK_SCHEDULER" in detail
        assert http.post("/theory/curve", json=THEORY).status_code == 200  # needs no cluster


def test_a_job_whose_scheduler_goes_away_fails_with_the_reason(tmp_path) -> None:
    cluster = throwaway_cluster()
    body = {**SIMULATE, "model": "network", "dimension": 300, "seeds": 20, "alphas": [3.0]}
    with service_client(tmp_path, dask_scheduler=cluster.scheduler_address) as http:
        job_id = http.post("/simulate", json=body, headers=ASYNC).json()["id"]
        assert wait_until(lambda: http.get(f"/jobs/{job_id}").json()["progress"] > 0, timeout=60)
        cluster.close()
        job = wait_job(http, job_id, timeout=60)
    assert job["status"] == "failed"
    assert "Dask scheduler" in job["error"] and "SRF_DASK_SCHEDULER" in job["error"], job["error"]


def test_the_413_limits_know_the_workers_memory(client, tmp_path, monkeypatch) -> None:
    from service.work.cluster import Cluster
    from srf_engine.simulation.cost import ClusterShape

    small = ClusterShape(threads=(1, 1), memory_limits=(50 * 2**20, 2**34))  # 50 MiB on one worker
    monkeypatch.setattr(Cluster, "shape", lambda self: small)
    body = {**SIMULATE, "dimension": 1000}  # ≈ 100 MiB of arrays for one seed
    with service_client(tmp_path, dask_scheduler=client.scheduler.address) as http:
        answer = http.post("/simulate", json=body)
    assert answer.status_code == 413, answer.text
    assert answer.json()["limit"] == "dask worker --memory-limit"
    assert "per Dask worker" in answer.json()["detail"]


# ------------------------------------------------------------------------------------------------
# the command line: --scheduler
# ------------------------------------------------------------------------------------------------
CLI_SIMULATION = [
    "simulate",
    "--student", "tanh", "--teacher", "sin", "--learning-rate", "3", "--alpha0", "2",
    "--alphas", "0.5,1.5", "--dimension", "120", "--seeds", "2", "--test-samples", "600",
]  # fmt: skip


def test_the_cli_simulates_on_the_scheduler_given_with_the_local_numbers(client, capsys) -> None:
    from service.cli.main import main

    assert main(CLI_SIMULATION) == 0
    local = json.loads(capsys.readouterr().out)
    assert main([*CLI_SIMULATION, "--scheduler", client.scheduler.address]) == 0
    remote = json.loads(capsys.readouterr().out)
    assert local.pop("elapsed_seconds") >= 0 and remote.pop("elapsed_seconds") >= 0
    assert remote == local


def test_the_cli_reports_an_unreachable_scheduler_without_a_traceback(monkeypatch, capsys) -> None:
    from service.cli.main import main

    monkeypatch.setattr(backend, "CONNECT_TIMEOUT_SECONDS", 0.5)
    address = f"tcp://127.0.0.1:{free_port()}"
    assert main([*CLI_SIMULATION, "--scheduler", address]) == 1
    err = capsys.readouterr().err
    assert err.startswith("srf simulate: error: cannot reach the Dask scheduler") and address in err


def test_a_grid_on_the_cluster_equals_the_local_grid(client) -> None:
    from srf_engine.grid import GridSpec
    from srf_engine.simulation import SimulationSpec, simulate_grid

    grid = GridSpec.build(
        width=1.0, noise=0.0, alpha0=[2.0, 0.0], learning_rate=[1.0, 3.0], ridge=0.1, alphas=[0.5, 1.0]
    )
    spec = SimulationSpec.build(model="network", dimension=100, alphas=[0.5, 1.0], ridge=0.1, seeds=[0, 1])
    local = simulate_grid(TANH_SIN, grid, spec, n_jobs=1)
    fractions: list[float] = []
    remote = simulate_grid(TANH_SIN, grid, spec, client=client, progress=fractions.append)
    assert [p.test_error.values for p in remote.points] == [p.test_error.values for p in local.points]
    assert [p.train_error.values for p in remote.points] == [p.train_error.values for p in local.points]
    assert fractions[-1] == 1.0 and fractions == sorted(fractions)
