"""Simulation benchmark (docs/theory.md §8): α sweep against the naive protocol, Gram throughput, peak memory.

    python benchmarks/simulate.py            # d = 1000 sweep, d = 2000 memory run (a few minutes)
    python benchmarks/simulate.py --quick    # smaller sizes (under a minute)

1. The α sweep ``np.linspace(0.2, 3.0, 10)`` at width 1, 3 seeds, network model (tanh student, sin
   teacher, η̃ = 3, α0 = 20, λ = 0.1: docs/theory.md §7) with ``simulate`` (nested prefixes, chunked Gram,
   one draw per seed) against the naive protocol of public reference code: for every α a fresh
   simulation (new ``W0``, new first step, new training and test samples, dense ``Φ``, a fresh solve),
   with numpy's default (multi-threaded) BLAS. Target: ratio ≥ 3. A second naive variant shares the
   first layer between α (fresh ridge data per α) and is printed for information.
2. Throughput of the Gram accumulation as ``simulate`` does it (``ΦᵀΦ`` per 512-row chunk, which numpy
   evaluates with ``dsyrk``, added into two partial sums on two threads, single-threaded BLAS, with
   ``b = Φᵀy``) against a plain numpy matmul ``AᵀB`` of the same
   shape with default BLAS threads, both in gemm-equivalent GFLOP/s (``2 n p²``). Target: ≥ 60 %.
3. Peak memory of one simulation at d = 2000, α = 3, width 2 (one seed: seeds run one after the other),
   in a subprocess: its peak resident set (VmHWM) and the ``tracemalloc`` peak of numpy's arrays,
   with the estimate.
   Target: < 1.5 GB.
4. Several giant steps (docs/theory.md §11.1), the §7 problem at α = 0.5, 1, 2: a grid over
   ``steps = 1 … T`` (one run of T steps, the readout fitted after each on the way) against the single
   T-step run (one readout) and against T separate runs ``steps = t``, all timed in the same run.
   Target: the grid costs ≤ 1.2 × the single T-step run.

    python benchmarks/simulate.py --steps-only    # only 4 (d = 1000, T = 4, 2 seeds)

5. Precision: the paper's case (d = 1000, α0 = 20, 10 α, 2 seeds) in float64 and in float32, each in a
   subprocess (peak resident set), against a plain numpy matmul (2000³, default BLAS threads) measured in
   the same run in each dtype: the simulation's flops (first step 4 n0 d p, training features 2 n d p,
   Gram 2 n p², test features 2 n_test d p) over that rate give a lower bound, printed as a ratio to the
   measured time (targets: float32 ≥ 1.7× faster end to end, half the peak memory; issue #20 item 3:
   ≥ 80 % of the float64 matmul rate, ≥ 75 % of the float32 one), and the largest relative change of the
   errors on the same seeds. Then the first step's ceiling whatever its code: per chunk, the two
   products against the chunk's float64 normal draws and σ, σ' (one thread), and the fraction of the
   matmul rate and the float32 speed-up they leave.

    python benchmarks/simulate.py --precision            # only 5 (d = 1000)
    python benchmarks/simulate.py --precision --dims 500,1000,2000,4000,8000 --seeds 1   # docs/scaling.md
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from srf_engine import Problem, estimate_cost, simulate
from srf_engine.blas import single_threaded_blas
from srf_engine.simulation.cost import PARTIALS
from srf_engine.simulation.ridge import gram_update
from srf_engine.simulation.sampling import CHUNK_ROWS

PROBLEM = Problem("tanh", "sin", learning_rate=3.0, alpha0=20.0)
RIDGE = 0.1


# ------------------------------------------------------------------------------------------------
# naive protocol: what a straightforward script does for each α
# ------------------------------------------------------------------------------------------------
def _naive_first_layer(
    problem: Problem, d: int, p: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    w0 = rng.standard_normal((p, d))
    w0 /= np.linalg.norm(w0, axis=1, keepdims=True)
    theta = rng.standard_normal(d)
    theta *= math.sqrt(d) / np.linalg.norm(theta)
    n0 = round(problem.alpha0 * d)
    x0 = rng.standard_normal((n0, d))
    y0 = problem.teacher(x0 @ theta / math.sqrt(d))
    z = x0 @ w0.T
    f0 = problem.student(z).mean(axis=1)
    grad = ((y0 - f0)[:, None] * problem.student.derivative(z)).T @ x0 / n0
    return w0 + problem.learning_rate * grad, theta


def _naive_ridge(problem, w, theta, n, n_test, ridge, rng) -> tuple[float, float]:
    p, d = w.shape
    x = rng.standard_normal((n, d))
    y = problem.teacher(x @ theta / math.sqrt(d))
    phi = problem.student(x @ w.T) / math.sqrt(p)
    w_hat = np.linalg.solve(phi.T @ phi + ridge * np.eye(p), phi.T @ y)
    train = float(np.mean((y - phi @ w_hat) ** 2))
    xt = rng.standard_normal((n_test, d))
    yt = problem.teacher(xt @ theta / math.sqrt(d))
    test = float(np.mean((yt - problem.student(xt @ w.T) @ w_hat / math.sqrt(p)) ** 2))
    return test, train


def naive_sweep(
    problem: Problem, alphas, d: int, seeds: int, n_test: int, share_first_layer: bool
) -> list[float]:
    p = round(problem.width * d)
    means = []
    layers = {}
    for a in alphas:
        tests = []
        for s in range(seeds):
            rng = np.random.default_rng([s, round(a * 1000)])
            if share_first_layer:
                if s not in layers:
                    layers[s] = _naive_first_layer(problem, d, p, np.random.default_rng(s))
                w, theta = layers[s]
            else:
                w, theta = _naive_first_layer(problem, d, p, rng)
            tests.append(_naive_ridge(problem, w, theta, round(a * d), n_test, RIDGE, rng)[0])
        means.append(float(np.mean(tests)))
    return means


def sweep_benchmark(d: int, seeds: int) -> None:
    alphas = np.linspace(0.2, 3.0, 10)
    n_test = max(2000, 2 * d)
    est = estimate_cost(
        model="network",
        dimension=d,
        width=1.0,
        alphas=alphas,
        alpha0=PROBLEM.alpha0,
        seeds=seeds,
        test_samples=None,
    )
    t0, c0 = time.perf_counter(), time.process_time()
    res = simulate(PROBLEM, alphas, RIDGE, dimension=d, seeds=seeds)
    fast, fast_cpu = time.perf_counter() - t0, time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    naive_means = naive_sweep(PROBLEM, alphas, d, seeds, n_test, share_first_layer=False)
    naive, naive_cpu = time.perf_counter() - t0, time.process_time() - c0

    t0 = time.perf_counter()
    naive_sweep(PROBLEM, alphas, d, seeds, n_test, share_first_layer=True)
    shared = time.perf_counter() - t0

    print(
        f"== α sweep: 10 α in [0.2, 3], d = {d}, width 1, {seeds} seeds, network (tanh/sin, η̃ = 3, α0 = 20)"
    )
    print(f"   simulate           {fast:7.2f} s wall  {fast_cpu:7.2f} s cpu   (estimate {est.seconds:.2f} s)")
    print(f"   naive (fresh)      {naive:7.2f} s wall  {naive_cpu:7.2f} s cpu")
    print(f"   naive, shared W1   {shared:7.2f} s wall")
    print(
        f"   ratio naive/simulate: {naive / fast:.2f} (target ≥ 3); "
        f"shared-W1 naive/simulate: {shared / fast:.2f}"
    )
    worst = max(abs(pt.test_error.mean - m) / m for pt, m in zip(res.points, naive_means, strict=True))
    print(f"   sanity: largest relative gap between the two mean curves {worst:.1%} (independent draws)")


# ------------------------------------------------------------------------------------------------
# Gram accumulation throughput
# ------------------------------------------------------------------------------------------------
def gram_benchmark(p: int, chunks: int, repeats: int = 5) -> None:
    rng = np.random.default_rng(0)
    phis = [np.tanh(rng.standard_normal((CHUNK_ROWS, p))) for _ in range(chunks)]
    ys = [rng.standard_normal(CHUNK_ROWS) for _ in range(chunks)]
    n = chunks * CHUNK_ROWS
    flops = 2.0 * n * p * p  # gemm-equivalent work of ΦᵀΦ

    def partial(k: int) -> None:
        gram, b, buffer = np.zeros((p, p)), np.zeros(p), np.empty((p, p))
        for i in range(k, chunks, PARTIALS):
            gram_update(gram, b, phis[i], ys[i], buffer)

    best_ours = math.inf
    with single_threaded_blas(), ThreadPoolExecutor(PARTIALS) as pool:
        for _ in range(repeats):
            t0 = time.perf_counter()
            list(pool.map(partial, range(PARTIALS)))
            best_ours = min(best_ours, time.perf_counter() - t0)

    a = np.concatenate(phis)
    b2 = a.copy()  # distinct operands: a general product, not numpy's AᵀA special case
    best_np = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        _ = a.T @ b2
        best_np = min(best_np, time.perf_counter() - t0)
    ours, ref = flops / best_ours / 1e9, flops / best_np / 1e9
    print(f"== Gram accumulation, n = {n}, p = {p} (gemm-equivalent 2·n·p² flops)")
    print(
        f"   simulate's chunked Gram, 2 threads  : {ours:7.1f} GFLOP/s  "
        f"({ours / 2:.1f} GFLOP/s of flops actually done)"
    )
    print(f"   numpy matmul AᵀB (n×p), default BLAS: {ref:7.1f} GFLOP/s")
    print(f"   ratio: {ours / ref:.0%} (target ≥ 60 %)")


# ------------------------------------------------------------------------------------------------
# peak memory, in a fresh process
# ------------------------------------------------------------------------------------------------
_MEMORY_CHILD = """
import json, sys, time, tracemalloc
sys.path.insert(0, {root!r})
from srf_engine import Problem, estimate_cost, simulate


def high_water_mark():
    # VmHWM: peak resident set of this process image (ru_maxrss would include the parent's, kept by exec)
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


problem = Problem("tanh", "sin", learning_rate=3.0, alpha0={alpha0}, width=2.0)
before = high_water_mark()
tracemalloc.start()
t0 = time.perf_counter()
simulate(problem, [3.0], 0.1, dimension={d}, seeds=1, test_samples=None)
seconds = time.perf_counter() - t0
_, peak = tracemalloc.get_traced_memory()
est = estimate_cost(model="network", dimension={d}, width=2.0, alphas=[3.0], alpha0={alpha0}, seeds=1,
                    test_samples=None)
print(json.dumps({{"maxrss": high_water_mark(), "before": before, "traced": peak,
                  "estimate": est.memory_bytes, "seconds": seconds, "estimate_seconds": est.seconds}}))
"""


def memory_benchmark(d: int, alpha0: float) -> None:
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    code = _MEMORY_CHILD.format(root=root, d=d, alpha0=alpha0)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    gib = 2.0**30
    print(f"== Peak memory: d = {d}, α = 3, width 2 (p = {2 * d}), network, α0 = {alpha0}, one seed")
    print(
        f"   peak RSS {r['maxrss'] / gib:.3f} GiB (whole process, VmHWM; "
        f"{r['before'] / gib:.3f} GiB before simulating)"
    )
    print(
        f"   tracemalloc peak of arrays {r['traced'] / gib:.3f} GiB; "
        f"estimate_cost {r['estimate'] / gib:.3f} GiB"
    )
    print(f"   target < 1.5 GB: {'met' if r['maxrss'] < 1.5e9 else 'NOT met'}")
    print(f"   time {r['seconds']:.1f} s (estimate {r['estimate_seconds']:.1f} s)")


def steps_benchmark(d: int, seeds: int, steps: int) -> None:
    """Section 4 of the module docstring."""
    alphas = [0.5, 1.0, 2.0]

    def timed(count: int | list[int]) -> float:
        start = time.perf_counter()
        simulate(PROBLEM, alphas, RIDGE, dimension=d, seeds=seeds, steps=count)
        return time.perf_counter() - start

    # interleaved and the best of two: a shared machine's load changes between runs
    single = grid = separate = math.inf
    for _ in range(2):
        single = min(single, timed(steps))
        grid = min(grid, timed(list(range(1, steps + 1))))
        separate = min(separate, sum(timed(t) for t in range(1, steps + 1)))
    base = {"model": "network", "dimension": d, "width": 1.0, "alphas": alphas, "alpha0": PROBLEM.alpha0}
    base |= {"seeds": seeds, "test_samples": None}
    estimate = estimate_cost(**base, steps=list(range(1, steps + 1))).seconds
    # the cost model's own ratio: what the timings estimate on an idle machine
    modelled = estimate / estimate_cost(**base, steps=[steps]).seconds
    print(f"\n4. steps (d = {d}, α0 = {PROBLEM.alpha0:g}, {seeds} seeds, α = {alphas}; best of 2)")
    print(f"   one run of T = {steps} steps (one readout):      {single:7.2f} s")
    print(
        f"   grid steps = 1…{steps} (one run, {steps} readouts): {grid:7.2f} s  (estimate {estimate:.2f} s)"
    )
    print(f"   {steps} separate runs steps = t:               {separate:7.2f} s")
    verdict = "meets" if grid <= 1.2 * single else "MISSES"
    print(
        f"   grid / single T-step run = {grid / single:.2f} ({verdict} the ≤ 1.2 target); "
        f"separate runs / grid = {separate / grid:.2f}"
    )
    print(f"   cost model (an idle machine): grid / single T-step run = {modelled:.2f}")


_PRECISION_CHILD = """
import json, sys, time
sys.path.insert(0, {root!r})
import numpy as np
from srf_engine import Problem
from srf_engine.simulation import simulate


def high_water_mark():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


before = high_water_mark()
t0 = time.perf_counter()
r = simulate(Problem("tanh", "sin", 3.0, 20.0), list(np.linspace(0.2, 3.0, 10)), 0.1, dimension={d},
             seeds={seeds}, precision={precision!r})
seconds = time.perf_counter() - t0
print(json.dumps({{"maxrss": high_water_mark(), "before": before, "seconds": seconds,
                  "test": [list(p.test_error.values) for p in r.points],
                  "train": [list(p.train_error.values) for p in r.points]}}))
"""


def _best(fn, repeats: int = 5) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_rate(dtype: str, size: int = 2000, repeats: int = 3) -> float:
    """FLOP/s of a plain numpy matmul ``size³`` in ``dtype`` (default BLAS threads), best of ``repeats``."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    a @ b
    return 2.0 * size**3 / _best(lambda: a @ b, repeats)


def simulation_flops(d: int, seeds: int) -> float:
    """Multiply-adds × 2 of the paper's case at ``d`` (10 α up to 3, width 1, α0 = 20)."""
    p, n0, n, n_test = d, round(20.0 * d), round(3.0 * d), max(2000, 2 * d)
    return seeds * (4.0 * n0 * d * p + 2.0 * n * d * p + 2.0 * n * p * p + 2.0 * n_test * d * p)


def first_step_ceiling(d: int) -> None:
    """What bounds the first step whatever its code: per chunk of ``CHUNK_ROWS`` samples, one thread, the
    two products (``z = X W0ᵀ`` and ``gᵀX``) against the work no product can absorb, the chunk's float64
    normal draws (float64 in both precisions: the same seed draws the same samples) and ``σ, σ'``."""
    from srf_engine import activations
    from srf_engine.simulation.sampling import Stream, input_chunk

    student = activations.get_activation("tanh")
    rng = np.random.default_rng(1)
    chunk = {}
    with single_threaded_blas():
        draws = _best(lambda: input_chunk(0, Stream.STEP, 3, d))
        for dt in ("float64", "float32"):
            x = rng.standard_normal((CHUNK_ROWS, d)).astype(dt)
            w0 = (rng.standard_normal((d, d)) / math.sqrt(d)).astype(dt)
            z = x @ w0.T
            out = np.empty((d, d), dtype=dt)
            products = _best(lambda: (x @ w0.T, np.matmul(z.T, x, out=out)))  # noqa: B023 (called at once)
            act = _best(lambda: (student(z), student.derivative(z)))  # noqa: B023
            chunk[dt] = (products, act)
    print(f"   first-step ceiling at d = p = {d}, one thread, per {CHUNK_ROWS}-sample chunk:")
    for dt, (products, act) in chunk.items():
        print(
            f"     {dt}: two products {1e3 * products:.1f} ms, float64 draws {1e3 * draws:.1f} ms, σ and σ' "
            f"{1e3 * act:.1f} ms: the step at most {100 * products / (products + draws + act):.0f} % of "
            "the matmul rate"
        )
    (p64, a64), (p32, a32) = chunk["float64"], chunk["float32"]
    print(f"     float32 at most {(p64 + draws + a64) / (p32 + draws + a32):.2f}× faster in the first step")


def precision_benchmark(dims: list[int], seeds: int) -> None:
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    rates = {dt: matmul_rate(dt) for dt in ("float64", "float32")}
    print(
        "== Precision: the paper's case (tanh, sin, η̃ = 3, α0 = 20, λ = 0.1, 10 α ≤ 3, width 1), "
        f"{seeds} seed(s), 2 threads"
    )
    print(
        f"   plain numpy matmul 2000³: float64 {rates['float64'] / 1e9:.0f} GFLOP/s, "
        f"float32 {rates['float32'] / 1e9:.0f} GFLOP/s"
    )
    gib = 2.0**30
    for d in dims:
        runs = {}
        for precision in ("float64", "float32"):
            code = _PRECISION_CHILD.format(root=root, d=d, seeds=seeds, precision=precision)
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
            runs[precision] = json.loads(out.stdout.strip().splitlines()[-1])
        flops = simulation_flops(d, seeds)
        a, b = runs["float64"], runs["float32"]
        change = max(
            abs(y - x) / abs(x)
            for key in ("test", "train")
            for xs, ys in zip(a[key], b[key], strict=True)
            for x, y in zip(xs, ys, strict=True)
        )
        for precision, r in runs.items():
            bound = flops / rates[precision]
            print(
                f"   d = {d} {precision}: {r['seconds']:.2f} s, peak RSS {r['maxrss'] / gib:.3f} GiB "
                f"({r['before'] / gib:.3f} before), matmul-rate bound {bound:.2f} s: "
                f"{100 * bound / r['seconds']:.0f} % of the {precision} matmul rate"
            )
        print(
            f"   d = {d}: float32 {a['seconds'] / b['seconds']:.2f}× faster (target ≥ 1.7×), peak memory "
            f"{(b['maxrss'] - b['before']) / (a['maxrss'] - a['before']):.2f}× of float64's above the "
            f"interpreter (target 0.5×); largest relative change of an error {change:.1e} (< 1e-3)"
        )
        first_step_ceiling(d)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, under a minute")
    parser.add_argument("--steps-only", action="store_true", help="only the several-steps benchmark (4)")
    parser.add_argument("--precision", action="store_true", help="only 5: float64 against float32")
    parser.add_argument("--dims", default="1000", help="dimensions of --precision (comma-separated)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds of --precision")
    args = parser.parse_args()
    print(f"cores: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.2f}")
    if args.steps_only:
        steps_benchmark(d=1000, seeds=2, steps=4)
        return
    if args.precision:
        precision_benchmark([int(d) for d in args.dims.split(",")], args.seeds)
        return
    if args.quick:
        sweep_benchmark(d=500, seeds=2)
        gram_benchmark(p=1000, chunks=8, repeats=3)
        memory_benchmark(d=1000, alpha0=0.5)
        steps_benchmark(d=500, seeds=2, steps=4)
    else:
        sweep_benchmark(d=1000, seeds=3)
        gram_benchmark(p=1000, chunks=24)
        memory_benchmark(d=2000, alpha0=2.0)
        steps_benchmark(d=1000, seeds=2, steps=4)
        precision_benchmark([1000], seeds=2)


if __name__ == "__main__":
    main()
