"""Readout classes against the network (docs/theory.md §12.2), with the minimal network of
benchmarks/readouts.py (§12.1's protocol). Slow: d = 1500, 8 seeds, 0.5–4 minutes per case on one core."""

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


@pytest.mark.slow
def test_the_one_step_classes_close_small_alpha0_against_the_network() -> None:
    """relu/tanh, rademacher, α0 = 1, width 1: the K-atom Marchenko–Pastur bulk is 8.8 % low on the
    training error at α = 0.5; the one-step bulk with the spike's projections class by class (§12.4)
    is within 2 % / 3 % of the network at both α (docs/fidelity.md: +0.2/+0.8 % test, +1.7/−1.2 %)."""
    problem = Problem("relu", "tanh", 2.0, 1.0, 1.0, 0.0)
    alphas = [0.5, 2.0]
    one_step = readout_curve(problem, alphas, 0.05, readout="rademacher", bulk="one_step")
    plain = readout_curve(problem, alphas, 0.05, readout="rademacher", bulk="marchenko_pastur")
    net = _load("readouts").network_stats(
        range(8), student="relu", teacher="tanh", readout=ReadoutLaw.rademacher(), learning_rate=2.0,
        alpha0=1.0, width=1.0, ridge=0.05, alphas=alphas, d=1500,
    )  # fmt: skip
    assert not _within(plain.train_errors[0], net["train"][0], net["train_sem"][0], 0.03), (plain, net)
    for j in range(len(alphas)):
        assert _within(one_step.test_errors[j], net["test"][j], net["test_sem"][j], 0.02), (one_step, net)
        assert _within(one_step.train_errors[j], net["train"][j], net["train_sem"][j], 0.03), (one_step, net)


@pytest.mark.slow
def test_a_multi_index_target_against_the_network() -> None:
    """relu, target tanh(z1) + 0.5 z1 z2 (§12.3), rademacher, α0 = 2, width 1, α = 2: within 2 % / 3 %
    of the network (docs/fidelity.md: −0.5 % test, −2.0 % training)."""
    target = "tanh(z1)+0.5*z1*z2"
    problem = Problem("relu", "linear", 2.0, 2.0, 1.0, 0.0)
    theory = readout_curve(problem, [2.0], 0.05, readout="rademacher", target=target)
    net = _load("readouts").network_stats(
        range(8), student="relu", teacher=target, readout=ReadoutLaw.rademacher(), learning_rate=2.0,
        alpha0=2.0, width=1.0, ridge=0.05, alphas=[2.0], d=1500,
    )  # fmt: skip
    assert _within(theory.test_errors[0], net["test"][0], net["test_sem"][0], 0.02), (theory.test_errors, net)
    assert _within(theory.train_errors[0], net["train"][0], net["train_sem"][0], 0.03), (
        theory.train_errors,
        net,
    )
