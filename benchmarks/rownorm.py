"""Row-norm spread V_c (docs/theory.md §10.4): the derived value against sampled first layers, term by term.

For each case the first step of docs/theory.md §2 is drawn with the simulations' own streams
(`srf_engine.simulation.sampling`: W0 on the sphere, θ, the n0 step samples) and the same arithmetic as
`srf_engine/simulation/seed.py` (f0 = mean_i σ(w_i·x), W1 = W0 + (η̃/n0) Σ_μ e_μ σ'(W0 x_μ) x_μᵀ); V_c is
measured by `srf_engine.first_layer.measure_first_layer`. Each term of `srf_engine.rownorm` is also
measured on the same rows (A_i, D_i, O_i of its docstring), so a term that does not close shows.

    python benchmarks/rownorm.py                 # the grid of the validation, d = 600, 2 seeds
    python benchmarks/rownorm.py --d 1000 --seeds 4 --cases relu/tanh:2:1
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srf_engine import Problem
from srf_engine.simulation.first_layer import measure_first_layer
from srf_engine.simulation.sampling import Stream, directions, initial_weights, labels, sample
from srf_engine.theory.rownorm import row_norm_spread

ETA = 2.0
STUDENTS = {
    "relu": "relu",
    "relu_centered": "relu_centered",
    "hermite": {"hermite": [0.5, 0.8, 0.3]},
    "erf": "erf",
}
TERMS = ("A", "D", "O", "AxD", "overlap")


def sampled(problem: Problem, d: int, seed: int) -> dict[str, float]:
    """Measured V_c of one first layer and its terms (all × ψ_w d, as in `srf_engine.rownorm`)."""
    p, n0 = round(problem.width * d), round(problem.alpha0 * d)
    eta, sig = problem.learning_rate, problem.student
    w0 = initial_weights(seed, p, d)
    theta, _ = directions(seed, d)
    x, xi = sample(seed, Stream.STEP, n0, d)
    y = labels(x, xi, theta, problem.teacher, problem.noise)
    z = x @ w0.T  # n0 × p
    e = y - np.asarray(sig(z)).mean(axis=1)
    ds = np.asarray(sig.derivative(z), dtype=float)
    grad = (ds * e[:, None]).T @ x  # Σ_μ e_μ σ'(W0 x_μ) x_μᵀ
    w1 = w0 + grad * (eta / n0)
    measured = measure_first_layer(w1, theta).V_c
    # terms: τ = σ' − μ1 (μ1 as the theory has it), A_i, and R_i = ‖Δ_i − A_i w_i‖² split D + O
    mu1 = float(np.mean(ds))
    tau = ds - mu1
    a = np.einsum("mi,mi->i", tau * e[:, None], z) / n0
    delta = (tau * e[:, None]).T @ x / n0  # p × d
    delta -= a[:, None] * w0
    r = np.einsum("ij,ij->i", delta, delta)
    xn = np.einsum("mj,mj->m", x, x)
    dd = ((tau * tau) * (e * e * xn)[:, None]).sum(axis=0) / n0**2 - a * a / n0  # diagonal, x̃ = x − u w
    o = r - dd
    s0 = 1.0 + eta * float(np.mean(a))
    scale = p * (p / (p - 1))  # p Var_i, unbiased

    def cov(f: np.ndarray, g: np.ndarray) -> float:
        return scale * float(np.mean((f - f.mean()) * (g - g.mean())))

    return {
        "A+overlap": 4 * eta**2 * s0**2 * cov(a, a),
        "D": eta**4 * cov(dd, dd),
        "O": eta**4 * cov(o, o),
        "AxD": 4 * eta**3 * s0 * cov(a, dd),
        "AxO+DxO": 4 * eta**3 * s0 * cov(a, o) + 2 * eta**4 * cov(dd, o),
        "norms": cov((1 + eta * a) ** 2 + eta**2 * r, (1 + eta * a) ** 2 + eta**2 * r),
        "V_c": measured,
    }


def row(
    student: str, teacher: str, a0: float, width: float, d: int, seeds: int, first: int = 0
) -> tuple[str, float]:
    """One table row and the relative difference of the derived V_c to the measured spread."""
    problem = Problem(STUDENTS[student], teacher, ETA, a0, width, 0.0)
    pred = row_norm_spread(problem)
    runs = [sampled(problem, d, seed) for seed in range(first, first + seeds)]
    mean = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}

    def sem(key: str) -> float:
        return float(np.std([r[key] for r in runs], ddof=1) / math.sqrt(len(runs))) if len(runs) > 1 else 0.0

    diff = pred.V_c / mean["norms"] - 1
    terms_p = [pred.a_term + pred.overlap_term, pred.d_term, pred.o_term, pred.ad_term]
    terms_m = [mean["A+overlap"], mean["D"], mean["O"], mean["AxD"]]
    cells = [
        f"{student}/{teacher}, α0 = {a0:g}, width {width:g}",
        f"{pred.V_c:.4f}",
        f"{mean['norms']:.4f} ± {sem('norms'):.4f}",
        f"{100 * diff:+.1f} %",
        f"{mean['V_c']:.4f} ± {sem('V_c'):.4f}",
        " / ".join(f"{t:.3f}" for t in terms_p),
        " / ".join(f"{t:.3f}" for t in terms_m) + f" ({mean['AxO+DxO']:+.3f})",
    ]
    return "| " + " | ".join(cells) + " |", diff


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--d", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--cases", nargs="*", help="student/teacher:alpha0:width")
    args = parser.parse_args()
    if args.cases:
        cases = []
        for spec in args.cases:
            pair, a0, w = spec.split(":")
            cases.append((*pair.split("/"), float(a0), float(w)))
    else:
        cases = [
            (s, "tanh", a0, w) for s, a0, w in itertools.product(STUDENTS, (1.0, 2.0, 5.0, 20.0), (1.0, 2.0))
        ]
    print(
        f"η̃ = {ETA}, d = {args.d}, {args.seeds} seeds. Predicted V_c (docs/theory.md §10.4) against the "
        "measured spread of ‖w_i + η̃Δ_i‖² (the derived quantity) and the first layer's V_c (which adds "
        "the O(1/d) part of the mean row and Π); terms A+overlap / D / O / AxD, measured (AxO + DxO)."
    )
    print("| case | predicted | spread ± sem | diff | first-layer V_c ± sem | terms | measured terms |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    worst = 0.0
    for case in cases:
        start = time.perf_counter()
        line, diff = row(*case, args.d, args.seeds, args.first_seed)
        worst = max(worst, abs(diff))
        print(line, f" {time.perf_counter() - start:.1f} s", flush=True)
    print(f"largest |predicted/measured spread − 1|: {100 * worst:.1f} %")


if __name__ == "__main__":
    main()
