"""Benchmark of the theory: a cold 50-point α curve against the straightforward implementation.

Prints the median time of ``theory_curve`` on docs/theory.md §7's problem (tanh student, sin teacher,
η̃ = 3, α0 = 20, λ = 0.1, ψ_w = 1) for 50 values of α, with and without the baseline curve, cold
(no quadrature rule cached), and the ratio of the per-point time of ``benchmarks/naive_theory.py``
(nested ``scipy.integrate.quad``, damped iteration: the reference's approach) measured in the
same run on a few points. Targets: median < 50 ms, ratio ≥ 1000.

    python benchmarks/theory.py            # full: 30 repetitions, 2 naive points
    python benchmarks/theory.py --quick    # 10 repetitions, 1 naive point
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from naive_theory import naive_point

from srf_engine import activations
from srf_engine.problem import Problem
from srf_engine.theory import quadrature
from srf_engine.theory.curve import theory_curve

PROBLEM = Problem("tanh", "sin", learning_rate=3.0, alpha0=20.0, width=1.0, noise=0.0)
ALPHAS = np.linspace(0.1, 3.0, 50)
RIDGE = 0.1


def _cold() -> None:
    for cached in (activations.gauss_hermite, quadrature.kappa_rule, quadrature.marchenko_pastur_rule):
        cached.cache_clear()


def time_curve(repeats: int, baseline: bool, bulk: str = "marchenko_pastur") -> list[float]:
    times = []
    for _ in range(repeats):
        _cold()
        start = time.perf_counter()
        curve = theory_curve(PROBLEM, ALPHAS, RIDGE, baseline=baseline, bulk=bulk)
        times.append(time.perf_counter() - start)
        assert all(p.converged for p in curve.points)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and naive points")
    args = parser.parse_args()
    repeats, naive_alphas = (10, [0.9]) if args.quick else (30, [0.9, 2.3])

    time_curve(2, True)  # import and first-call costs are not what we measure
    with_base = time_curve(repeats, True)
    without = time_curve(repeats, False)
    fast_per_point = statistics.median(without) / len(ALPHAS)

    naive_times = []
    fast = theory_curve(PROBLEM, naive_alphas, RIDGE, baseline=False, bulk="marchenko_pastur")
    for alpha, point in zip(naive_alphas, fast.points, strict=True):
        start = time.perf_counter()
        test, _, iterations = naive_point(PROBLEM, alpha, RIDGE, tol=1e-7)
        naive_times.append(time.perf_counter() - start)
        diff = test / point.test_error - 1
        print(
            f"naive  alpha={alpha:<4} {naive_times[-1]:7.2f} s  {iterations} iterations  "
            f"test error {test:.8f} (engine {point.test_error:.8f}, rel. diff {diff:+.1e})"
        )
    naive_per_point = statistics.median(naive_times)

    for label, times, target in (
        ("with baseline (100 fixed points)", with_base, ""),
        ("without baseline (50 fixed points)", without, "   target < 50 ms"),
    ):
        print(
            f"cold 50-point curve {label:<35} median {1e3 * statistics.median(times):6.1f} ms"
            f"  (min {1e3 * min(times):.1f}, max {1e3 * max(times):.1f}, {repeats} runs){target}"
        )
    print(f"per point: engine {1e3 * fast_per_point:.3f} ms, naive {naive_per_point:.2f} s")
    ratio = naive_per_point / fast_per_point
    print(f"speed-up ratio (naive / engine, per point): {ratio:,.0f}   target >= 1000")
    one_step = time_curve(max(1, repeats // 5), False, "one_step")
    print(
        f"for information: the same curve with the one-step bulk (the API's default, docs/theory.md §10.3) "
        f"median {1e3 * statistics.median(one_step):.0f} ms, "
        f"{statistics.median(one_step) / statistics.median(without):.0f}× the §5 bulk"
    )
    sampled = time_curve(1, False, "one_step_sampled")
    print(
        f"for information: with the sampled one-step bulk (first batch d = 1000, one eigendecomposition) "
        f"{sampled[0]:.2f} s, {sampled[0] / statistics.median(without):.0f}× the §5 bulk"
    )


if __name__ == "__main__":
    main()
