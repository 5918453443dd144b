"""Readout classes against the network (docs/theory.md §12.2), with the minimal network of
benchmarks/readouts.py (§12.1's protocol). Slow: d = 1500, 8 seeds, about 4 minutes per case."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from srf_engine import Problem
from srf_engine.theory.class_curve import readout_curve
from srf_engine.theory.curve import theory_curve
from srf_engine.theory.readout import ReadoutLaw


def _load(name: str):
    # loaded from its file: putting benchmarks/ on sys.path would let its modules shadow installed ones
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _within(theory: float, mean: float, sem: float, rel: float) -> bool:
    return abs(theory - mean) <= max(rel * mean, 2.0 * sem)


@pytest.mark.slow
@pytest.mark.parametrize("law", [ReadoutLaw.rademacher(), ReadoutLaw((1.0, -0.5), (1 / 3, 2 / 3))])
def test_relu_with_a_random_readout_against_the_network(law: ReadoutLaw) -> None:
    """relu/tanh, η̃ = 2, α0 = 2, width 1, λ = 0.05, α = 2: the classes' theory is half the uniform
    readout's (the negative tail it can now follow) and within 2 % / 3 % of the network."""
    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    theory = readout_curve(problem, [2.0], 0.05, readout=law)
    uniform = theory_curve(problem, [2.0], 0.05, baseline=False)  # today's default uniform theory
    assert theory.test_errors[0] < 0.95 * uniform.points[0].test_error
    net = _load("readouts").network_stats(
        range(8), student="relu", teacher="tanh", readout=law, learning_rate=2.0, alpha0=2.0, width=1.0,
        ridge=0.05, alphas=[2.0], d=1500,
    )  # fmt: skip
    assert _within(theory.test_errors[0], net["test"][0], net["test_sem"][0], 0.02), (theory.test_errors, net)
    assert _within(theory.train_errors[0], net["train"][0], net["train_sem"][0], 0.03), (
        theory.train_errors,
        net,
    )
