"""Which ingredient moves the training error below the width? (docs/theory.md §10.5)

One network first step (docs/theory.md §2), then the ridge readout's training and test errors of hybrid
first layers and feature maps that swap one ingredient of the network at a time, on the same training and
test samples:

- ``network``: ``W1`` itself;
- ``equal norms``: ``W1`` with every bulk row rescaled to the mean norm (no row-norm spread, §10.4);
- ``gaussian bulk``: ``W1``'s mean row plus Gaussian rows ``N(0, Σ/d)``, ``Σ`` of §10.3 built from the
  same first batch (the theory's model of the bulk);
- ``srf``: ``√c W0 + r 1 vᵀ/√d`` with the corrected ``(c, r)`` of §10.2 along the batch's ``ĝ``;
- ``GE per neuron``: features of ``W1`` replaced by their conditional Gaussian equivalent (§4) neuron by
  neuron, ``μ0(a_i κ; c_i) + μ1 (Πw_i·x) + μ2 ξ_i`` with the row's own spike weight ``a_i`` and norm ``c_i``.

Prints mean ± sem over seeds, the paired difference to the network, and the theory (corrected mapping,
one-step bulk, without and with the row-norm channel). ``--replicas R`` averages each first layer over R
training and test sets (less noise); ``--quick`` keeps the network and sRF only. Run (about 1 min):
``python benchmarks/belowwidth.py --d 800 --seeds 16 --replicas 2``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srf_engine import Problem
from srf_engine.theory.curve import theory_curve
from srf_engine.theory.mapping import map_to_srf, step_statistics

ETA, RIDGE = 2.0, 0.05
HERMITE = {"hermite": [0.5, 0.8, 0.3]}
PAIRS = {
    "relu/tanh": ("relu", "tanh"),
    "relu/sin": ("relu", "sin"),
    "hermite/tanh": (HERMITE, "tanh"),
    "relu_centered/tanh": ("relu_centered", "tanh"),
}


def unit_rows(rng: np.random.Generator, p: int, d: int) -> np.ndarray:
    w = rng.standard_normal((p, d))
    return w / np.linalg.norm(w, axis=1, keepdims=True)


def ridge_errors(phi: np.ndarray, y: np.ndarray, phi_t: np.ndarray, y_t: np.ndarray, lam: float):
    """Training and test error of ``argmin ‖y − Φw/√p‖² + λ‖w‖²`` (dual form, ``n × n``)."""
    n, p = phi.shape
    k = phi @ phi.T / p
    a = np.linalg.solve(k + lam * np.eye(n), y)
    train = lam * lam * float(a @ a) / n
    pred = phi_t @ (phi.T @ a) / p
    return train, float(np.mean((y_t - pred) ** 2))


def ge_features(problem: Problem, w: np.ndarray, x: np.ndarray, rng) -> np.ndarray:
    """Conditional Gaussian equivalent (docs/theory.md §4) of ``σ(X Wᵀ)`` given the mean-row direction."""
    mean_row = w.mean(axis=0)
    v = mean_row / np.linalg.norm(mean_row)
    a = w @ v  # each row's weight on κ = v̂·x
    perp = w - np.outer(a, v)
    c = np.einsum("ij,ij->i", perp, perp)
    kappa = x @ v
    g = x @ perp.T  # N(0, c_i) given κ
    first, with_z, second = problem.student.gaussian_moments(np.outer(kappa, a), np.sqrt(c)[None, :])
    mu2 = np.sqrt(np.maximum(second - first**2 - with_z**2, 0.0))
    return first + with_z * g / np.sqrt(c)[None, :] + mu2 * rng.standard_normal(g.shape)


def run_seed(
    problem: Problem, d: int, alpha: float, seed: int, replicas: int = 1, quick: bool = False
) -> dict[str, tuple[float, float]]:
    """Errors of every hybrid for one first step, averaged over ``replicas`` training and test sets."""
    rng = np.random.default_rng(seed)
    sigma, star = problem.student, problem.teacher
    p, n0, n = round(problem.width * d), round(problem.alpha0 * d), round(alpha * d)
    w0 = unit_rows(rng, p, d)
    theta = rng.standard_normal(d)
    theta *= math.sqrt(d) / np.linalg.norm(theta)

    def data(m: int):
        x = rng.standard_normal((m, d))
        return x, np.asarray(star(x @ theta / math.sqrt(d)), dtype=float)

    x0, y0 = data(n0)
    z0 = x0 @ w0.T
    e = y0 - np.asarray(sigma(z0), dtype=float).mean(axis=1)
    eta = problem.learning_rate
    w1 = w0 + (eta / n0) * ((np.asarray(sigma.derivative(z0), dtype=float) * e[:, None]).T @ x0)
    del z0
    sets = [(data(n), data(max(2000, 2 * d))) for _ in range(replicas)]
    out = {}

    def feats(w: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return np.asarray(sigma(xx @ w.T), dtype=float)

    def average(errors) -> tuple[float, float]:
        return tuple(np.mean(np.array(list(errors)), axis=0))

    def record(name: str, w: np.ndarray) -> None:
        out[name] = average(
            ridge_errors(feats(w, x), y, feats(w, xt), yt, RIDGE) for (x, y), (xt, yt) in sets
        )

    record("network", w1)
    srf = map_to_srf(problem, "corrected")
    g_hat = x0.T @ e
    g_hat /= np.linalg.norm(g_hat)
    record("srf (corrected)", math.sqrt(srf.c) * w0 + srf.r * g_hat[None, :])
    if quick:
        return out
    mean_row = w1.mean(axis=0)
    bulk = w1 - mean_row
    norms = np.linalg.norm(bulk, axis=1)
    record("equal norms", mean_row + bulk * (norms.mean() / norms)[:, None])
    st = step_statistics(problem)
    m1 = (x0 * e[:, None]).T @ x0 / n0
    m2 = (x0 * (e * e)[:, None]).T @ x0 / n0
    a_mat = np.eye(d) + eta * st.b1 * m1
    cov = a_mat @ a_mat + (eta**2 * st.orthogonal_slope2 / problem.alpha0) * m2
    lam_, vec = np.linalg.eigh(cov)
    root = (vec * np.sqrt(np.maximum(lam_, 0.0))) @ vec.T
    gb = rng.standard_normal((p, d)) @ root / math.sqrt(d)
    record("gaussian bulk", mean_row + gb - gb.mean(axis=0))
    out["GE per neuron"] = average(
        ridge_errors(ge_features(problem, w1, x, rng), y, ge_features(problem, w1, xt, rng), yt, RIDGE)
        for (x, y), (xt, yt) in sets
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pair", default="relu/tanh", choices=PAIRS)
    ap.add_argument("--alpha0", type=float, default=2.0)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--d", type=int, default=600)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--replicas", type=int, default=1, help="training/test sets per first layer")
    ap.add_argument("--quick", action="store_true", help="network and sRF only")
    args = ap.parse_args()
    student, teacher = PAIRS[args.pair]
    problem = Problem(student, teacher, ETA, args.alpha0, args.width, 0.0)
    runs = [run_seed(problem, args.d, args.alpha, s, args.replicas, args.quick) for s in range(args.seeds)]
    case = f"{args.pair}, α0 = {args.alpha0}, width {args.width}, α = {args.alpha}"
    print(f"{case}, d = {args.d}, {args.seeds} seeds")
    for row_norm in (False, True):
        th = theory_curve(problem, [args.alpha], RIDGE, baseline=False, row_norm=row_norm).points[0]
        name = "corrected + one-step" + (" + row-norm channel" if row_norm else "")
        print(f"theory ({name}): test {th.test_error:.4f}, train {th.train_error:.4f}")
    print("| first layer / features | train ± sem | vs network | test ± sem |")
    print("| --- | --- | --- | --- |")
    base = np.array([r["network"][0] for r in runs])
    for name in runs[0]:
        tr = np.array([r[name][0] for r in runs])
        te = np.array([r[name][1] for r in runs])
        sem = lambda a: a.std(ddof=1) / math.sqrt(len(a)) if len(a) > 1 else float("nan")  # noqa: E731
        rel = 100 * (tr / base - 1)
        print(
            f"| {name} | {tr.mean():.4f} ± {sem(tr):.4f} | {rel.mean():+.1f} ± {sem(rel):.1f} % "
            f"| {te.mean():.4f} ± {sem(te):.4f} |"
        )


if __name__ == "__main__":
    main()
