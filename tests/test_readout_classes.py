"""Readout classes (docs/theory.md §12.2): every new path reduced to the old one where they must coincide,
the K-atom spectral law against sampled matrices, and the symmetries of the readout law."""

from __future__ import annotations

from functools import partial, partialmethod

import numpy as np
import pytest

from srf_engine.errors import InvalidParameterError
from srf_engine.problem import Problem
from srf_engine.theory import class_curve
from srf_engine.theory.class_spectrum import ClassSpectrum
from srf_engine.theory.curve import theory_curve
from srf_engine.theory.mapping import map_to_srf
from srf_engine.theory.readout import ReadoutLaw, check_readout, map_classes

# The reductions and symmetries here are those of the K-atom Marchenko–Pastur bulk (§12.2); the one-step
# bulk class by class (the engine's default) is tested where it is asked for by name.
readout_curve = partial(class_curve.readout_curve, bulk="marchenko_pastur")
readout_function = partial(class_curve.readout_function, bulk="marchenko_pastur")

ALPHAS = [0.3, 1.0, 2.5]
TWO_ATOM = ReadoutLaw((1.0, -0.5), (1 / 3, 2 / 3))
ODD_HERMITE = {"hermite": [0.0, 0.8, 0.0, 0.3]}


def _old(problem: Problem, ridge: float, mapping: str):
    curve = theory_curve(
        problem, ALPHAS, ridge, mapping=mapping, bulk="marchenko_pastur", row_norm=False, baseline=False
    )
    return [p.test_error for p in curve.points], [p.train_error for p in curve.points]


@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
@pytest.mark.parametrize(
    ("student", "teacher", "mapping", "noise"),
    [("tanh", "sin", "paper", 0.0), ("relu", "tanh", "corrected", 0.1), ("relu", "sin", "paper", 0.0)],
)
def test_one_class_is_todays_theory(width, student, teacher, mapping, noise) -> None:
    problem = Problem(student, teacher, 2.0, 2.0, width, noise)
    classes = map_classes(problem, ReadoutLaw.uniform(), mapping)
    srf = map_to_srf(problem, mapping)
    assert classes.c[0] == pytest.approx(srf.c, rel=1e-12) and classes.r[0] == pytest.approx(srf.r, rel=1e-12)
    assert classes.gamma == pytest.approx(srf.gamma, rel=1e-12)
    new = readout_curve(problem, ALPHAS, 0.05, readout="uniform", mapping=mapping)
    test, train = _old(problem, 0.05, mapping)
    assert all(p.converged and p.residual < 1e-10 for p in new.points)
    np.testing.assert_allclose(new.test_errors, test, rtol=1e-10)
    np.testing.assert_allclose(new.train_errors, train, rtol=1e-10)


def test_one_class_overlaps_and_given_srf_and_small_ridge() -> None:
    problem = Problem(
        "tanh", "sin", 0.0, 0.0, 1.0, 0.0, {"c": 1.01897320, "r": 1.13405551, "gamma": 0.97185444}
    )
    new = readout_curve(problem, ALPHAS, 1e-3, readout="uniform")
    old = theory_curve(problem, ALPHAS, 1e-3, bulk="marchenko_pastur", row_norm=False, baseline=False)
    for a, b in zip(new.points, old.points, strict=True):
        assert a.test_error == pytest.approx(b.test_error, rel=1e-10)
        fp = a.fixed_point
        mine = {"q1": fp.q1[0, 0], "q2": fp.q2[0], "V1": fp.V1[0, 0], "V2": fp.V2[0], "t": fp.t[0],
                "psi": fp.psi[0, 0], "m": fp.m[0]}  # fmt: skip
        for name, value in b.overlaps.items():
            assert mine[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


@pytest.mark.parametrize("student", ["tanh", "erf", ODD_HERMITE])
@pytest.mark.parametrize("width", [0.5, 2.0])
def test_rademacher_readout_with_an_odd_student_is_the_uniform_theory(student, width) -> None:
    # σ(−rκ + √c z) = −σ(rκ − √c z): the class u = −1 is the class u = +1 with w_i → −w_i and the readout
    # weight's sign flipped, which ridge absorbs; so the errors are those of the uniform readout.
    problem = Problem(student, "tanh", 2.0, 2.0, width, 0.05)
    for mapping in ("paper", "corrected"):
        rad = readout_curve(problem, ALPHAS, 0.05, readout="rademacher", mapping=mapping)
        uni = readout_curve(problem, ALPHAS, 0.05, readout="uniform", mapping=mapping)
        assert all(p.converged for p in rad.points)
        np.testing.assert_allclose(rad.test_errors, uni.test_errors, rtol=1e-10)
        np.testing.assert_allclose(rad.train_errors, uni.train_errors, rtol=1e-10)


def test_rademacher_readout_with_relu_differs_and_flipping_the_law_is_a_symmetry_for_odd_teachers() -> None:
    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    rad = readout_curve(problem, ALPHAS, 0.05, readout="rademacher")
    uni = readout_curve(problem, ALPHAS, 0.05, readout="uniform")
    assert all(r < 0.9 * u for r, u in zip(rad.test_errors, uni.test_errors, strict=True))
    # paper mapping: u → −u is r_k → −r_k, i.e. κ → −κ and γ → −γ; an odd teacher then only flips sign.
    flipped = ReadoutLaw((-1.0, 0.5), (1 / 3, 2 / 3))
    a = readout_curve(problem, ALPHAS, 0.05, readout=TWO_ATOM, mapping="paper")
    b = readout_curve(problem, ALPHAS, 0.05, readout=flipped, mapping="paper")
    np.testing.assert_allclose(a.test_errors, b.test_errors, rtol=1e-10)
    np.testing.assert_allclose(a.train_errors, b.train_errors, rtol=1e-10)
    # E u = 0 for both laws, so f0 = 0 and the corrected mapping is the paper's; unequal classes still move
    # the answer away from rademacher's
    c = readout_curve(problem, ALPHAS, 0.05, readout=TWO_ATOM, mapping="corrected")
    np.testing.assert_allclose(c.test_errors, a.test_errors, rtol=1e-12)
    assert max(abs(x / y - 1) for x, y in zip(a.test_errors, rad.test_errors, strict=True)) > 0.01


def test_gaussian_readout_converges_in_the_number_of_atoms() -> None:
    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    coarse = readout_curve(problem, [0.5, 2.0], 0.05, readout=ReadoutLaw.gaussian(4))
    fine = readout_curve(problem, [0.5, 2.0], 0.05, readout=ReadoutLaw.gaussian(8))
    finer = readout_curve(problem, [0.5, 2.0], 0.05, readout=ReadoutLaw.gaussian(16))
    assert all(p.converged for p in finer.points)
    gap_fine = np.max(np.abs(np.array(fine.test_errors) - finer.test_errors))
    gap_coarse = np.max(np.abs(np.array(coarse.test_errors) - finer.test_errors))
    assert gap_fine < 2e-3 * max(finer.test_errors) and gap_fine < gap_coarse


def test_k_atom_spectral_law_against_a_sampled_matrix() -> None:
    rng = np.random.default_rng(3)
    d, p = 1200, 1800
    pi, c = np.array([1 / 3, 2 / 3]), np.array([1.4, 0.7])
    cls = np.repeat([0, 1], [p // 3, p - p // 3])
    w = rng.standard_normal((p, d)) / np.sqrt(d)
    om = np.sqrt(c[cls])[:, None] * (w @ w.T) * np.sqrt(c[cls])[None, :]
    v1h, z = np.array([[0.8, -0.3], [-0.3, 0.5]]), np.array([0.2, 0.5])
    r = np.linalg.inv(np.diag(z[cls]) + v1h[cls][:, cls] * om)
    masks = [cls == k for k in range(2)]
    v2 = [np.trace(r[np.ix_(m, m)]) / p for m in masks]
    v1 = [[np.sum(om[np.ix_(a, b)] * r[np.ix_(b, a)].T) / p for b in masks] for a in masks]
    st = ClassSpectrum(p / d, pi, c).solve(v1h, z)
    assert st.residual < 1e-13
    np.testing.assert_allclose(st.V2, v2, rtol=5e-3)
    np.testing.assert_allclose(st.V1, v1, rtol=5e-3, atol=1e-3)


def test_spectral_jacobian_against_finite_differences() -> None:
    pi, c = np.array([0.2, 0.5, 0.3]), np.array([1.3, 0.8, 1.0])
    v1h = np.array([[0.9, 0.2, -0.1], [0.2, 0.6, 0.05], [-0.1, 0.05, 0.4]])
    z = np.array([0.3, 0.5, 0.2])
    sp = ClassSpectrum(1.5, pi, c)
    jac = sp.jacobian(sp.solve(v1h, z))

    def f(x: np.ndarray) -> np.ndarray:
        st = ClassSpectrum(1.5, pi, c).solve(x[:9].reshape(3, 3), x[9:])
        return np.concatenate([st.V1.ravel(), st.V2])

    x0, h = np.concatenate([v1h.ravel(), z]), 1e-6
    fd = np.array([(f(x0 + h * e) - f(x0 - h * e)) / (2 * h) for e in np.eye(12)]).T
    np.testing.assert_allclose(jac, fd, atol=1e-8)


def test_learned_function_of_relu_with_rademacher_follows_both_tails_of_an_odd_target() -> None:
    # after the step a uniform readout of relu features expresses μ0(κ) m + μ1(κ) κ t, relu-like in κ: it
    # cannot follow tanh's negative tail; relu of +rκ and of −rκ (rademacher) can.
    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    kappa = np.linspace(-3, 3, 61)
    rad = readout_function(problem, 2.0, 0.05, kappa, readout="rademacher")
    uni = readout_function(problem, 2.0, 0.05, kappa, readout="uniform")
    assert rad.converged and uni.converged
    weight = np.exp(-(kappa**2) / 2)
    miss = [float(np.sum(weight * (np.array(f.after_step) - f.target) ** 2)) for f in (rad, uni)]
    assert miss[0] < 0.2 * miss[1]
    assert rad.test_error < 0.6 * uni.test_error
    neg = kappa < -1.5
    assert np.all(np.array(rad.after_step)[neg] < -0.5) and np.all(np.array(uni.after_step)[neg] > -0.3)


def test_readout_law_validation_names_the_field() -> None:
    with pytest.raises(InvalidParameterError, match=r"readout\.weights"):
        ReadoutLaw((1.0, -1.0), (0.5, 0.6))
    with pytest.raises(InvalidParameterError, match=r"readout\.weights"):
        ReadoutLaw((1.0, -1.0), (1.0,))
    with pytest.raises(InvalidParameterError, match=r"readout\.values"):
        ReadoutLaw((0.0,), (1.0,))
    with pytest.raises(InvalidParameterError, match=r"readout\.values"):
        ReadoutLaw((float("nan"),), (1.0,))
    with pytest.raises(InvalidParameterError, match="readout"):
        check_readout("bernoulli")
    assert check_readout({"values": [1, -0.5], "weights": [1 / 3, 2 / 3]}).size == 2


def test_results_warn_with_the_measured_range_of_their_regime() -> None:
    relu = readout_curve(Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0), [0.5, 2.0], 0.05, readout="rademacher")
    below = [w for w in relu.warnings if "below the width" in w]
    from srf_engine.theory.class_curve import MEASURED, MEASURED_ONE_STEP

    assert len(below) == 1 and f"{MEASURED[('curved', True)][2]:+.1f}" in below[0]
    assert any("Marchenko–Pastur bulk" in w for w in relu.warnings)
    stepped = readout_curve(Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0), [0.5], 0.05, readout="rademacher",
                            bulk="one_step")  # fmt: skip
    quoted = f"{MEASURED_ONE_STEP[('curved', True)][2]:+.1f}"
    assert any(quoted in w for w in stepped.warnings) and any(
        "one-step bulk class by class" in w for w in stepped.warnings
    )
    uni = readout_curve(Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0), [2.0], 0.05, readout="uniform")
    assert any("theory_curve" in w for w in uni.warnings)
    none = readout_curve(Problem("relu", "tanh", 0.0, 0.0, 1.0, 0.0), [2.0], 0.05, readout="rademacher")
    assert none.warnings == []


def test_one_step_class_bulk_against_a_sampled_first_layer_and_its_jacobian(monkeypatch) -> None:
    from srf_engine.theory.class_onestep import OneStepClassSpectrum

    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    law = ReadoutLaw((1.0, -0.5), (1 / 3, 2 / 3))
    sp = OneStepClassSpectrum(problem, law, map_classes(problem, law).c)
    # rows of class k drawn as N(0, f_k(M)/d) in M's eigenbasis, with M's own sampled spectrum
    rng = np.random.default_rng(5)
    d = p = sp.l_nodes.size
    cls = np.repeat([0, 1], [p // 3, p - p // 3])
    b = rng.standard_normal((p, d)) * sp.scales[cls] / np.sqrt(d)
    om = b @ b.T
    v1h, z = np.array([[0.8, -0.3], [-0.3, 0.5]]), np.array([0.2, 0.5])
    r = np.linalg.inv(np.diag(z[cls]) + v1h[cls][:, cls] * om)
    masks = [cls == k for k in range(2)]
    st = sp.solve(v1h, z)
    np.testing.assert_allclose(st.V2, [np.trace(r[np.ix_(m, m)]) / p for m in masks], rtol=1e-2)
    v1 = [[np.sum(om[np.ix_(a, c)] * r[np.ix_(c, a)].T) / p for c in masks] for a in masks]
    np.testing.assert_allclose(st.V1, v1, rtol=1e-2, atol=2e-3)
    # the mean row norm² is the corrected mapping's c_k, up to the sampled law
    np.testing.assert_allclose(sp.c, map_classes(problem, law).c, rtol=2e-2)

    def f(x: np.ndarray) -> np.ndarray:
        s = sp.fresh().solve(x[:4].reshape(2, 2), x[4:])
        return np.concatenate([s.V1.ravel(), s.V2])

    x0, h = np.concatenate([v1h.ravel(), z]), 1e-6
    fd = np.array([(f(x0 + h * e) - f(x0 - h * e)) / (2 * h) for e in np.eye(6)]).T
    np.testing.assert_allclose(sp.jacobian(st), fd, atol=1e-7)
    # odd students have b1 = 0: flat rows, so with isotropic spike projections the bulk is Marchenko–Pastur;
    # the spike's projections keep M2 along the spike, which raises the error (tanh/tanh, α0 = 2: +1.0 …
    # +1.3 %, closer to the network, docs/fidelity.md)
    odd = Problem("tanh", "tanh", 2.0, 2.0, 1.0, 0.0)
    b = readout_curve(odd, [0.5, 2.0], 0.05, readout="rademacher")
    with monkeypatch.context() as patch:
        isotropic = partialmethod(OneStepClassSpectrum.__init__, spike=False)
        patch.setattr(OneStepClassSpectrum, "__init__", isotropic)
        flat = readout_curve(odd, [0.5, 2.0], 0.05, readout="rademacher", bulk="one_step")
    np.testing.assert_allclose(flat.test_errors, b.test_errors, rtol=1e-8)
    a = readout_curve(odd, [0.5, 2.0], 0.05, readout="rademacher", bulk="one_step")
    change = np.array(a.test_errors) / np.array(b.test_errors) - 1.0
    assert np.all(change > 0.005) and np.all(change < 0.02)


def _network_step(problem: Problem, law: ReadoutLaw, d: int, seed: int):
    """One step of §12.1's network (``W1 = W0 + η̃/n0 Σ e σ'(W0 x) ⊙ u xᵀ``), with ``u`` and ``θ``."""
    rng = np.random.default_rng(seed)
    p, n0 = round(problem.width * d), round(problem.alpha0 * d)
    w0 = rng.standard_normal((p, d))
    w0 /= np.linalg.norm(w0, axis=1, keepdims=True)
    u = law.sample(rng, p)
    theta = rng.standard_normal(d)
    theta *= np.sqrt(d) / np.linalg.norm(theta)
    x0 = rng.standard_normal((n0, d))
    y0 = problem.teacher(x0 @ theta / np.sqrt(d))
    pre = x0 @ w0.T
    e = y0 - problem.student(pre) @ u / p
    grad = (problem.student.derivative(pre) * e[:, None]).T @ x0
    return w0 + problem.learning_rate * (u[:, None] * grad) / n0, u, theta


@pytest.mark.parametrize("law", [ReadoutLaw.rademacher(), TWO_ATOM])
def test_per_class_mapping_against_a_sampled_first_layer(law) -> None:
    # class k's mean row is r_k v/√d: the spike, shared by the classes with the sign of u_k; its bulk has
    # mean row norm² c_k off the spike (docs/theory.md §12.1, corrected mapping). At finite n0 the batch's
    # sample mean of e shrinks one class and grows the other by (1 ± η̃ b1 ē)², ±3 % at d = 700.
    problem = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)
    cl = map_classes(problem, law, "corrected")
    w1, u, theta = _network_step(problem, law, 700, 11)
    d = w1.shape[1]
    spike = (u[:, None] * w1).mean(axis=0)  # Σ u_i w_i/p = E[u r_k] v/√d + O(1/√p)
    v = spike * np.sqrt(d) / np.linalg.norm(spike)
    assert float(theta @ v) / d == pytest.approx(cl.gamma, rel=0.03)
    measured = []
    for k, value in enumerate(law.values):
        rows = w1[u == value]
        mean = rows.mean(axis=0)
        bulk = rows - mean
        bulk -= np.outer(bulk @ v, v) / d
        measured.append(float(np.einsum("ij,ij->", bulk, bulk)) / len(rows))
        assert measured[k] == pytest.approx(cl.c[k], rel=0.05), k
        assert float(mean @ v) / np.sqrt(d) == pytest.approx(cl.r[k], rel=0.05), k
    assert float(np.dot(law.weights, measured)) == pytest.approx(float(np.dot(law.weights, cl.c)), rel=0.015)


def test_without_a_step_every_readout_law_is_random_features() -> None:
    # no step: every class sees σ(√1 z), the classes are one feature map and the readout law cannot matter
    problem = Problem("relu", "tanh", 0.0, 0.0, 1.5, 0.1)
    uni = readout_curve(problem, ALPHAS, 0.05, readout="uniform")
    for law in ("rademacher", TWO_ATOM, ReadoutLaw.gaussian(6)):
        other = readout_curve(problem, ALPHAS, 0.05, readout=law)
        assert all(p.converged for p in other.points)
        np.testing.assert_allclose(other.test_errors, uni.test_errors, rtol=1e-10)
        np.testing.assert_allclose(other.train_errors, uni.train_errors, rtol=1e-10)


def test_the_simulations_readout_law_is_accepted() -> None:
    from srf_engine.protocols import ReadoutLaw as SimulationLaw

    assert check_readout(SimulationLaw("rademacher")) == ReadoutLaw.rademacher()
    law = check_readout(SimulationLaw("finite", (1.0, -0.5), (1 / 3, 2 / 3)))
    assert law.values == (1.0, -0.5) and law.weights == pytest.approx((1 / 3, 2 / 3))
