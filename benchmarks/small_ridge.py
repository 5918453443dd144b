"""Small ridge below the width: the limit against simulations (docs/theory.md §10.6).

tanh student, sin teacher, the sRF matrix of docs/theory.md §7 given directly, width 1, no noise, one
``α`` below the width. For each ridge the script prints

- ``theory``: the limit of §5, the effective share ``f`` of the training samples that carries the fit of
  the mean direction (``FixedPoint.fit_fraction``) and the dimension ``d ≳ 50/(α f)`` from which a
  simulation's median is within about 5 % of the limit;
- ``sRF``: the engine's simulation of the sRF matrix (``simulate(model="srf")``), mean ± sem and median
  over seeds;
- ``GE``: the conditional Gaussian-equivalent features of §4, ``μ0(κ) + μ1(κ)(√c W0 x)_i + μ2(κ) ξ_i``,
  sampled explicitly (dual ridge on the ``n × n`` kernel; the test error follows exactly from the
  readout's overlaps ``m, t, ψ, q1, q2`` through §5's ``E(κ)``);
- ``finite-n``: the same equations of §5 with the channel's ``κ`` average taken over the ``n`` training
  ``κ`` of each GE seed instead of the Gaussian law (test error on the Gaussian law): if the
  finite-size gap is the sampling of the ``κ`` tail, this tracks the GE simulation seed by seed
  (``corr`` is their correlation over seeds).

Default (about 1 min): ``python benchmarks/small_ridge.py``. The full run of §10.6 (about 15 min):
``python benchmarks/small_ridge.py --full``. ``--dimensions 500 1000 2000 --seeds 16`` for any other.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from srf_engine import Problem, SRFParams, simulate
from srf_engine.theory.conditional import ConditionalMoments, conditional_moments
from srf_engine.theory.curve import fit_dimension, theory_curve
from srf_engine.theory.solver import FixedPoint, solve_fixed_point

SRF = SRFParams(1.01897320, 1.13405551, 0.97185444)  # docs/theory.md §7
PROBLEM = Problem("tanh", "sin", srf=SRF)
RIDGES = (1e-1, 1e-2, 1e-3, 1e-6)


def gaussian_moments(kappa: np.ndarray) -> tuple[np.ndarray, ...]:
    """``μ0, μ1, μ2`` (§4) and the teacher's ``h, h1, hh`` at the given ``κ``."""
    c, r, gamma = SRF.c, SRF.r, SRF.gamma
    m0, mz, m2 = PROBLEM.student.gaussian_moments(r * kappa, np.full_like(kappa, math.sqrt(c)))
    mu1 = mz / math.sqrt(c)
    mu2 = np.sqrt(np.clip(m2 - m0 * m0 - c * mu1 * mu1, 0.0, None))
    h, h1, hh = PROBLEM.teacher.gaussian_moments(gamma * kappa, np.full_like(kappa, SRF.rho))
    return m0, mu1, mu2, h, h1, hh


def conditional_error(cm: ConditionalMoments, m: float, t: float, psi: float, q1: float, q2: float) -> float:
    """``E_κ E(κ)`` of §5 for a readout with these overlaps: the GE model's exact test error."""
    y_hat = cm.mu0 * m + cm.mu1 * cm.kappa * t
    energy = cm.hh - 2 * y_hat * cm.h - 2 * cm.mu1 * psi * cm.h1 + y_hat**2 + cm.mu1**2 * q1 + cm.mu2**2 * q2
    return float(cm.weights @ energy)


def ge_seed(d: int, alpha: float, seed: int, ridges: tuple[float, ...], cm: ConditionalMoments):
    """One GE simulation: test errors per ridge and the training ``κ``."""
    rng = np.random.default_rng([seed, 2402])
    p, n = d, round(alpha * d)
    w0 = rng.standard_normal((p, d))
    w0 /= np.linalg.norm(w0, axis=1, keepdims=True)
    v = rng.standard_normal(d)
    v *= math.sqrt(d) / np.linalg.norm(v)
    zeta = rng.standard_normal(d)
    zeta -= (zeta @ v) / d * v
    zeta *= math.sqrt(d) / np.linalg.norm(zeta)
    x = rng.standard_normal((n, d))
    kappa, nu = x @ v / math.sqrt(d), x @ zeta / math.sqrt(d)
    y = np.sin(SRF.gamma * kappa + SRF.rho * nu)
    b = math.sqrt(SRF.c) * w0
    m0, mu1, mu2, *_ = gaussian_moments(kappa)
    phi = m0[:, None] + mu1[:, None] * (x @ b.T) + mu2[:, None] * rng.standard_normal((n, p))
    ev, u = np.linalg.eigh(phi @ phi.T / p)
    uy = u.T @ y
    bv, bz = b @ v / math.sqrt(d), b @ zeta / math.sqrt(d)
    errors = []
    for lam in ridges:
        w = phi.T @ (u @ (uy / (ev + lam))) / math.sqrt(p)
        bw = b.T @ w
        bw_perp = bw - (bw @ v) / d * v
        m, t, psi = w.sum() / math.sqrt(p), w @ bv / math.sqrt(p), w @ bz / math.sqrt(p)
        errors.append(conditional_error(cm, m, t, psi, bw_perp @ bw_perp / p, w @ w / p))
    return errors, kappa


def finite_n_theory(kappa: np.ndarray, alpha: float, lam: float, cm: ConditionalMoments) -> float:
    """§5 with the channel's ``E_κ`` over the sampled training ``κ``; test error on the Gaussian law."""
    m0, mu1, mu2, h, h1, hh = gaussian_moments(kappa)
    weights = np.full(kappa.size, 1.0 / kappa.size)
    sampled = ConditionalMoments(kappa, weights, m0, mu1, mu2, h, h1, hh)
    fp: FixedPoint = solve_fixed_point(sampled, alpha=alpha, ridge=lam, width=1.0, c=SRF.c)
    return conditional_error(cm, fp.m, fp.t, fp.psi, fp.q1, fp.q2)


def summary(values: list[float]) -> str:
    a = np.asarray(values)
    sem = a.std(ddof=1) / math.sqrt(a.size) if a.size > 1 else float("nan")
    return f"{a.mean():.4f} ± {sem:.4f} (median {np.median(a):.4f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dimensions", type=int, nargs="+", default=[1000, 2000])
    ap.add_argument("--seeds", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=0.3)
    ap.add_argument("--ridges", type=float, nargs="+", default=list(RIDGES))
    ap.add_argument("--no-srf", action="store_true", help="skip the engine's sRF simulation")
    ap.add_argument(
        "--finite-n",
        type=int,
        nargs="*",
        default=[10_000, 100_000],
        metavar="D",
        help="dimensions at which to evaluate the finite-n theory alone (no simulation; 64 draws of κ)",
    )
    ap.add_argument("--full", action="store_true", help="d = 1000, 2000, 4000 with 32 seeds (about 15 min)")
    args = ap.parse_args()
    if args.full:
        args.dimensions, args.seeds = [1000, 2000, 4000], 32
    ridges = tuple(args.ridges)
    cm = conditional_moments(PROBLEM.student, PROBLEM.teacher, SRF, 0.0)
    theory = {}
    print(f"tanh/sin, (c, r, γ) = ({SRF.c}, {SRF.r}, {SRF.gamma}), width 1, α = {args.alpha}")
    print("ridge | theory | fit share f | d for the median within ~5 %")
    for lam in ridges:
        fp = solve_fixed_point(cm, alpha=args.alpha, ridge=lam, width=1.0, c=SRF.c)
        theory[lam] = theory_curve(PROBLEM, [args.alpha], lam, baseline=False).points[0].test_error
        print(f"{lam:g} | {theory[lam]:.4f} | {fp.fit_fraction:.3g} | {fit_dimension(fp, args.alpha):.3g}")
    for d in args.dimensions:
        start = time.time()
        seeds = list(range(args.seeds))
        srf_points = None
        if not args.no_srf:
            srf_points = simulate(PROBLEM, [args.alpha], list(ridges), model="srf", dimension=d, seeds=seeds)
        ge = [ge_seed(d, args.alpha, s, ridges, cm) for s in seeds]
        print(f"\nd = {d}, {len(seeds)} seeds ({time.time() - start:.0f} s)")
        print("ridge | theory | sRF simulation | GE simulation | finite-n theory (same κ) | corr")
        for i, lam in enumerate(ridges):
            ge_values = [errors[i] for errors, _ in ge]
            finite = [finite_n_theory(kappa, args.alpha, lam, cm) for _, kappa in ge]
            srf_text = "-"
            if srf_points is not None:
                point = next(p for p in srf_points.points if p.ridge == lam)
                srf_text = summary(list(point.test_error.values))
            corr = np.corrcoef(ge_values, finite)[0, 1] if len(seeds) > 2 else float("nan")
            cells = (
                f"{lam:g}",
                f"{theory[lam]:.4f}",
                srf_text,
                summary(ge_values),
                summary(finite),
                f"{corr:.2f}",
            )
            print(" | ".join(cells))
    if args.finite_n:
        print("\nfinite-n theory alone (κ sampled, 64 draws): ridge | d | theory | finite-n")
    for lam in ridges:
        for d in args.finite_n:
            n = round(args.alpha * d)
            draws = [np.random.default_rng([k, 7, d]).standard_normal(n) for k in range(64)]
            finite = [finite_n_theory(kappa, args.alpha, lam, cm) for kappa in draws]
            print(f"{lam:g} | {d} | {theory[lam]:.4f} | {summary(finite)}")


if __name__ == "__main__":
    main()
