"""Distributed-simulation benchmark (docs/scaling.md): cluster overhead, and the cost of a seed against d.

    python benchmarks/distributed.py                 # d = 1000 overhead, then the table for d = 500 … 4000
    python benchmarks/distributed.py --max-d 3000    # a shorter table
    python benchmarks/distributed.py --quick         # d = 400 overhead, table up to 1000 (a minute)

The case is the paper's sweep (docs/theory.md §7): tanh student, sin teacher, η̃ = 3, α0 = 20, width 1,
10 α in [0.2, 3], λ = 0.1, network model.

1. Overhead: the same 8-seed simulation at d = 1000 in-process (threads over every core) and on a
   `LocalCluster` of 2 worker processes × 1 thread on loopback (as many threads as cores), in the same
   run, alternated, best of ``--repeats``. Target: cluster ≤ 1.15 × in-process. The two results must be
   equal bit for bit (checked). Cluster start-up is timed apart (a cluster outlives many requests).
   Wall times of a shared machine vary several-fold with its load: the CPU seconds of this process and
   of the workers are printed too, the cluster's cost beyond the work whatever else runs.
2. Table: one seed against d on one thread (a cluster task's unit when there are at least as many
   seeds as worker threads): seconds, its floating-point work (the cost model's count), GFLOP/s and
   their share of this machine's single-thread matmul rate measured in the same run (a 2000 × 2000
   float64 product with BLAS on one thread, best of 3), the peak resident memory of a subprocess
   running that seed alone (VmHWM), and the cost model's estimates of time and array memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
# This file is named like the package it benchmarks: its folder must not shadow `distributed`.
sys.path = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
sys.path.insert(0, os.path.dirname(HERE))

from srf_engine import Problem, estimate_cost, simulate  # noqa: E402

PROBLEM = Problem("tanh", "sin", learning_rate=3.0, alpha0=20.0)
ALPHAS = [float(a) for a in np.linspace(0.2, 3.0, 10)]
RIDGE = 0.1
ROOT = os.path.dirname(HERE)


def cores() -> int:
    return len(os.sched_getaffinity(0))


# ------------------------------------------------------------------------------------------------
# 1. overhead of the cluster against in-process threads
# ------------------------------------------------------------------------------------------------
def overhead(d: int, seeds: int, repeats: int) -> None:
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    with (
        LocalCluster(
            n_workers=cores(),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,  # logging.ERROR
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        start_up = time.perf_counter() - started
        client.submit(sum, [1]).result()  # workers ready
        local_times, cluster_times, local_cpu, cluster_cpu = [], [], [], []
        local = remote = None
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), _cpu()
            local = simulate(PROBLEM, ALPHAS, RIDGE, dimension=d, seeds=seeds)
            local_times.append(time.perf_counter() - t0)
            local_cpu.append(_cpu() - c0)
            t0, c0, w0 = time.perf_counter(), _cpu(), _workers_cpu(client)
            remote = simulate(PROBLEM, ALPHAS, RIDGE, dimension=d, seeds=seeds, client=client)
            cluster_times.append(time.perf_counter() - t0)
            cluster_cpu.append(_cpu() - c0 + _workers_cpu(client) - w0)
    assert local is not None and remote is not None
    same = local.as_dict() == remote.as_dict()
    best_local, best_cluster = min(local_times), min(cluster_times)
    ratio = best_cluster / best_local
    cpu_ratio = min(cluster_cpu) / min(local_cpu)
    print(
        f"== overhead: {seeds} seeds at d = {d}, in-process ({cores()} threads) vs LocalCluster "
        f"({cores()} processes × 1 thread), best of {repeats}"
    )
    print(f"   in-process    {best_local:7.2f} s   (runs: {', '.join(f'{t:.2f}' for t in local_times)})")
    print(
        f"   LocalCluster  {best_cluster:7.2f} s   (runs: {', '.join(f'{t:.2f}' for t in cluster_times)}); "
        f"cluster start-up {start_up:.2f} s, not counted"
    )
    print(f"   ratio cluster/in-process: {ratio:.3f} → overhead {ratio - 1:+.1%} (target ≤ +15 %)")
    print(
        f"   CPU seconds (this process + workers): in-process {min(local_cpu):.2f}, cluster "
        f"{min(cluster_cpu):.2f}: ratio {cpu_ratio:.3f} (what the cluster costs beyond the work, "
        "whatever else the machine runs)"
    )
    print(f"   results bit-identical: {same}; load average now {os.getloadavg()[0]:.1f} on {cores()} cores")
    if not same:
        raise SystemExit("the cluster's results differ from the in-process ones")


def _cpu() -> float:
    """CPU seconds (user + system) of this process so far."""
    t = os.times()
    return t.user + t.system


def _workers_cpu(client) -> float:
    return sum(client.run(_cpu).values())


# ------------------------------------------------------------------------------------------------
# 2. one seed against d
# ------------------------------------------------------------------------------------------------
def matmul_gflops(n: int = 2000, repeats: int = 3) -> float:
    """GFLOP/s of a float64 ``n × n`` product with BLAS on one thread, per CPU second (a busy machine
    stretches the wall time, not the CPU time, of a single-threaded product)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    with threadpool_limits(limits=1, user_api="blas"):
        a @ b
        best = min(_cpu_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * n**3 / best / 1e9


def _cpu_timed(fn) -> float:
    c0 = _cpu()
    fn()
    return _cpu() - c0


def one_seed(d: int) -> dict:
    """Run one seed at ``d`` on one thread here; its seconds and peak resident memory (in a subprocess)."""
    t0, c0 = time.perf_counter(), _cpu()
    simulate(PROBLEM, ALPHAS, RIDGE, dimension=d, seeds=1, n_jobs=1)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    with open("/proc/self/status") as status:
        hwm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM"))
    return {"seconds": seconds, "cpu": cpu, "peak_rss": hwm}


def table(dimensions: list[int]) -> None:
    print("== one seed against d, on one thread (each d in a fresh subprocess)")
    rate = matmul_gflops()
    print(
        f"   this machine's matmul: {rate:.1f} GFLOP/s per CPU second (2000 × 2000 float64, one BLAS thread)"
    )
    print("   GFLOP/s and its share are per CPU second: on a busy machine the wall time includes waiting")
    print(
        "   | d | wall s | CPU s | estimate s | GFLOP | GFLOP/s | share of matmul | peak RSS | est. arrays |"
    )
    print("   | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for d in dimensions:
        est = estimate_cost(
            model="network",
            dimension=d,
            width=1.0,
            alphas=ALPHAS,
            alpha0=PROBLEM.alpha0,
            seeds=1,
            test_samples=None,
            n_jobs=1,
        )
        out = subprocess.run(
            [sys.executable, __file__, "--one-seed", str(d)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": ROOT},
        )
        run = json.loads(out.stdout.strip().splitlines()[-1])
        gflop = est.flops / 1e9
        speed = gflop / run["cpu"]
        print(
            f"   | {d} | {run['seconds']:.2f} | {run['cpu']:.2f} | {est.seconds:.2f} | {gflop:.0f} "
            f"| {speed:.1f} | {speed / rate:.0%} | {run['peak_rss'] / 2**30:.2f} GiB "
            f"| {est.memory_bytes / 2**30:.2f} GiB |"
        )
        sys.stdout.flush()
    print(f"   load average now {os.getloadavg()[0]:.1f} on {cores()} cores (the machine is shared)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument("--max-d", type=int, default=4000, help="largest d of the table")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side of the overhead test")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-table", action="store_true")
    parser.add_argument("--one-seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_seed:
        print(json.dumps(one_seed(args.one_seed)))
        return
    if not args.skip_overhead:
        overhead(400 if args.quick else 1000, 8, args.repeats)
    if not args.skip_table:
        top = 1000 if args.quick else args.max_d
        table([d for d in (500, 1000, 1500, 2000, 2500, 3000, 3500, 4000) if d <= top])


if __name__ == "__main__":
    main()
