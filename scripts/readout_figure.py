"""Draw docs/figures/learned_function_readout.png: the learned function along κ of a relu network after one
step with a rademacher readout beside the uniform one (docs/theory.md §12.2).

    python scripts/readout_figure.py [--out DIR]

Engine only (``readout_function``), a few seconds. The readout-law request field is not wired into the
service yet, so this figure is drawn here rather than by scripts/make_figures.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from srf_engine import Problem  # noqa: E402
from srf_engine.theory.class_curve import readout_function  # noqa: E402

#: relu student, tanh teacher, η̃ = 2, α0 = 2, width 1, λ = 0.05 (the slow network test's case).
PROBLEM = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
ALPHAS = (0.5, 2.0, 8.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "figures"))
    args = ap.parse_args()
    kappa = np.linspace(-4, 4, 161)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, law in zip(axes, ("uniform", "rademacher"), strict=True):
        for alpha, shade in zip(ALPHAS, ("#9ecae1", "#4292c6", "#08519c"), strict=True):
            f = readout_function(PROBLEM, alpha, 0.05, kappa, readout=law)
            label = (
                f"α = {alpha:g} (test {f.test_error:.3f})"
                if f.converged
                else f"α = {alpha:g} (no fixed point)"
            )
            if f.after_step is not None:
                ax.plot(kappa, f.after_step, color=shade, label=label)
        ax.plot(kappa, f.target, "k--", label="target E[y | κ]")
        ax.set_title(f"relu, {law} readout")
        ax.set_xlabel("κ (the spike direction)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("ŷ(κ) after one step")
    fig.suptitle("Learned function after one step: tanh target, η̃ = 2, α0 = 2, width 1, λ = 0.05")
    fig.tight_layout()
    out = Path(args.out) / "learned_function_readout.png"
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
