"""Simulations (docs/theory.md §2, §3, §8): validation, reproducibility, and equality with dense computations.

The dense reference below recomputes a seed's simulation from the same draws
(``srf_engine.simulation.sampling``) with whole matrices: unblocked gradient, full ``Φ``,
``numpy.linalg.solve``/``lstsq`` per α, direct residuals. Everything the chunked,
nested-prefix implementation does must agree with it to rounding.
"""

from __future__ import annotations

import itertools
import math
import threading
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from srf_engine import Cancelled, InvalidParameterError, Problem, SRFParams, estimate_cost, simulate
from srf_engine.simulation import SimulationSpec, cost, ridge, ridge_from_gram, sampling
from srf_engine.simulation.parallel import TaskRunner
from srf_engine.simulation.sampling import CHUNK_ROWS, Stream
from srf_engine.simulation.seed import Plan, SeedRun
from srf_engine.theory.mapping import map_to_srf

TANH_SIN = Problem("tanh", "sin", learning_rate=3.0, alpha0=2.0)


# ------------------------------------------------------------------------------------------------
# dense reference
# ------------------------------------------------------------------------------------------------
def dense_first_layer(problem: Problem, model: str, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(W, θ)`` with whole matrices; the step gradient in one product over all ``n0`` samples."""
    p = max(1, round(problem.width * d))
    w0 = sampling.initial_weights(seed, p, d)
    v, zeta = sampling.directions(seed, d)
    if model == "srf":
        srf = map_to_srf(problem)
        theta = srf.gamma * v + srf.rho * zeta
        return math.sqrt(srf.c) * w0 + srf.r * np.outer(np.ones(p), v) / math.sqrt(d), theta
    theta = v
    if model == "network" and problem.learning_rate > 0 and problem.alpha0 > 0:
        n0 = round(problem.alpha0 * d)
        x0, xi0 = sampling.sample(seed, Stream.STEP, n0, d)
        y0 = sampling.labels(x0, xi0, theta, problem.teacher, problem.noise)
        z = x0 @ w0.T
        a = np.full(p, 1.0 / math.sqrt(p))
        f0 = problem.student(z) @ a / math.sqrt(p)
        grad = ((y0 - f0)[:, None] * problem.student.derivative(z) * (math.sqrt(p) * a)).T @ x0
        return w0 + problem.learning_rate * grad / n0, theta
    return w0, theta


def dense_errors(
    problem: Problem, model: str, d: int, seed: int, alphas, ridges, n_test: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(test, train)`` indexed ``[ridge, alpha]`` from a fresh, independent computation per α."""
    w, theta = dense_first_layer(problem, model, d, seed)
    p = w.shape[0]
    n_max = max(round(a * d) for a in alphas)
    x, xi = sampling.sample(seed, Stream.TRAIN, n_max, d)
    y = sampling.labels(x, xi, theta, problem.teacher, problem.noise)
    phi = problem.student(x @ w.T)
    xt, xit = sampling.sample(seed, Stream.TEST, n_test, d)
    yt = sampling.labels(xt, xit, theta, problem.teacher, problem.noise)
    phit = problem.student(xt @ w.T)
    test = np.empty((len(ridges), len(alphas)))
    train = np.empty_like(test)
    for j, lam in enumerate(ridges):
        for i, a in enumerate(alphas):
            n = round(a * d)
            f = phi[:n] / math.sqrt(p)
            if lam == 0:
                w_hat = np.linalg.lstsq(f, y[:n], rcond=None)[0]  # minimum-norm least squares
            else:
                w_hat = np.linalg.solve(f.T @ f + lam * np.eye(p), f.T @ y[:n])
            train[j, i] = np.mean((y[:n] - f @ w_hat) ** 2)
            test[j, i] = np.mean((yt - phit @ w_hat / math.sqrt(p)) ** 2)
    return test, train


def values(result, which: str = "test_error") -> np.ndarray:
    """``[point, seed]`` array of per-seed values."""
    return np.array([getattr(pt, which).values for pt in result.points])


# ------------------------------------------------------------------------------------------------
# validation and shapes
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dimension": 1}, "dimension"),
        ({"dimension": 10.5}, "dimension"),
        ({"dimension": "100"}, "dimension"),
        ({"dimension": True}, "dimension"),
        ({"seeds": 0}, "seeds"),
        ({"seeds": []}, "seeds"),
        ({"seeds": [1, 1]}, "seeds"),
        ({"seeds": [-1]}, "seeds"),
        ({"seeds": "3"}, "seeds"),
        ({"test_samples": 0}, "test_samples"),
        ({"ridge": -0.1}, "ridge"),
        ({"ridge": float("nan")}, "ridge"),
        ({"ridge": []}, "ridge"),
        ({"ridge": "optimal"}, "ridge"),
        ({"alphas": []}, "alphas"),
        ({"alphas": [0.5, -1.0]}, "alphas[1]"),
        ({"alphas": [1e-4]}, "alphas"),  # α d rounds to 0 samples at d = 100
        ({"model": "kernel"}, "model"),
        ({"n_jobs": 0}, "n_jobs"),
    ],
)
def test_invalid_parameters_name_their_field(kwargs: dict, field: str) -> None:
    args = {"alphas": [0.5], "ridge": 0.1, "dimension": 100, "seeds": 1}
    args.update(kwargs)
    alphas, ridge = args.pop("alphas"), args.pop("ridge")
    with pytest.raises(InvalidParameterError) as err:
        simulate(TANH_SIN, alphas, ridge, **args)
    assert err.value.field == field


def test_problem_must_be_a_problem_and_alpha0_must_give_samples() -> None:
    with pytest.raises(InvalidParameterError) as err:
        simulate({"student": "tanh"}, [1.0], 0.1)  # type: ignore[arg-type]
    assert err.value.field == "problem"
    with pytest.raises(InvalidParameterError) as err:
        simulate(Problem("tanh", "sin", 1.0, 1e-3), [1.0], 0.1, dimension=100, seeds=1)
    assert err.value.field == "alpha0"


def test_points_are_ordered_by_ridge_then_alpha_as_given_with_statistics_over_seeds() -> None:
    alphas = [1.5, 0.3, 1.5, 0.8]
    ridges = [0.5, 0.01]
    res = simulate(TANH_SIN, alphas, ridges, dimension=80, seeds=[7, 3, 11], test_samples=300)
    assert res.model == "network" and res.dimension == 80 and res.seeds == (7, 3, 11)
    assert res.srf == map_to_srf(TANH_SIN)
    assert [(pt.ridge, pt.alpha) for pt in res.points] == [(lam, a) for lam in ridges for a in alphas]
    for pt in res.points:
        for stats in (pt.test_error, pt.train_error):
            v = np.array(stats.values)
            assert v.shape == (3,) and np.all(np.isfinite(v)) and np.all(v >= 0)
            assert stats.mean == pytest.approx(v.mean(), rel=1e-14)
            assert stats.std == pytest.approx(v.std(ddof=1), rel=1e-12)
            assert stats.sem == pytest.approx(v.std(ddof=1) / math.sqrt(3), rel=1e-12)
    # a repeated α is the same point
    assert res.points[0].test_error == res.points[2].test_error
    one = simulate(TANH_SIN, [0.5], 0.1, dimension=50, seeds=1, test_samples=100).points[0].test_error
    assert one.std == 0.0 and one.sem == 0.0


def test_reported_srf_and_warnings_per_model() -> None:
    relu = Problem("relu", "tanh", 2.0, 2.0)
    net = simulate(relu, [0.5], 0.05, dimension=60, seeds=1, test_samples=100)
    # the theory's default mapping, and no advice to use the mapping already in use
    assert net.srf == map_to_srf(relu, "corrected") and net.mapping == "corrected"
    assert not any("not centred" in w for w in net.warnings)
    paper = simulate(relu, [0.5], 0.05, dimension=60, seeds=1, test_samples=100, mapping="paper")
    assert paper.srf == map_to_srf(relu, "paper") and any("not centred" in w for w in paper.warnings)
    srf = simulate(relu, [0.5], 0.05, model="srf", dimension=60, seeds=1, test_samples=100)
    assert srf.srf == map_to_srf(relu, "corrected") and srf.warnings == [] and srf.mapping == "corrected"
    rf = simulate(relu, [0.5], 0.05, model="random_features", dimension=60, seeds=1, test_samples=100)
    assert (rf.srf.c, rf.srf.r) == (1.0, 0.0) and rf.warnings == []
    given = Problem("tanh", "sin", srf=SRFParams(1.2, 0.8, 0.5))
    assert simulate(given, [0.5], 0.1, model="srf", dimension=60, seeds=1).srf == SRFParams(1.2, 0.8, 0.5)
    net_given = simulate(given, [0.5], 0.1, dimension=60, seeds=1)
    assert any("srf is given" in w for w in net_given.warnings)


# ------------------------------------------------------------------------------------------------
# reproducibility
# ------------------------------------------------------------------------------------------------
def test_a_seed_is_bit_identical_however_the_work_is_split() -> None:
    """Seed 2 alone, among other seeds, with 1, 2 or 3 threads: the very same floats.

    (There is no separate block size: the chunk of ``CHUNK_ROWS`` rows is the unit of both randomness
    and computation, so no setting can change a seed's arithmetic.)
    """
    kwargs = {"dimension": 300, "test_samples": 700, "model": "network"}
    alphas, ridges = [0.7, 2.2, 1.9], [0.1, 1.0]
    problem = Problem("tanh", "sin", 3.0, 2.5, width=1.4, noise=0.1)
    alone = simulate(problem, alphas, ridges, seeds=[2], n_jobs=1, **kwargs)
    for seeds, n_jobs in (([0, 2, 5], 2), ([2, 9], 3), ([5, 2], 1)):
        res = simulate(problem, alphas, ridges, seeds=seeds, n_jobs=n_jobs, **kwargs)
        at = seeds.index(2)
        for which in ("test_error", "train_error"):
            np.testing.assert_array_equal(values(res, which)[:, at], values(alone, which)[:, 0])


def test_a_point_does_not_depend_on_the_other_alphas_of_the_sweep() -> None:
    """α = 1.9 alone and inside a sweep: training error (Gram-based) bit-identical, test error to 1e-13."""
    kwargs = {"dimension": 300, "test_samples": 700, "seeds": 2}
    alone = simulate(TANH_SIN, [1.9], 0.1, **kwargs)
    sweep = simulate(TANH_SIN, [0.4, 1.9, 2.5, 1.7], 0.1, **kwargs)
    np.testing.assert_array_equal(values(sweep, "train_error")[1], values(alone, "train_error")[0])
    np.testing.assert_allclose(values(sweep)[1], values(alone)[0], rtol=1e-13)


def test_different_seeds_give_different_draws_and_streams_are_independent_of_row_counts() -> None:
    a, _ = sampling.sample(0, Stream.TRAIN, 700, 20)
    b, _ = sampling.sample(0, Stream.TRAIN, 1300, 20)
    c, _ = sampling.sample(1, Stream.TRAIN, 700, 20)
    t, _ = sampling.sample(0, Stream.TEST, 700, 20)
    np.testing.assert_array_equal(a, b[:700])  # prefixes: the draw of n rows starts the draw of more
    assert not np.allclose(a, c) and not np.allclose(a, t)
    # a chunk is SeedSequence(seed).spawn(…)[stream].spawn(…)[index]
    child = np.random.SeedSequence(0).spawn(4)[Stream.TRAIN].spawn(2)[1]
    x = np.random.Generator(np.random.PCG64(child)).standard_normal((CHUNK_ROWS, 20))
    np.testing.assert_array_equal(x, b[CHUNK_ROWS : 2 * CHUNK_ROWS])
    # W0: rows on the unit sphere, the first rows of a wider layer are those of a narrower one
    w_small, w_big = sampling.initial_weights(3, 600, 20), sampling.initial_weights(3, 1100, 20)
    np.testing.assert_allclose(np.linalg.norm(w_big, axis=1), 1.0, rtol=1e-14)
    np.testing.assert_array_equal(w_small, w_big[:600])


# ------------------------------------------------------------------------------------------------
# equality with the dense reference
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("problem", "model", "d", "alphas", "ridges"),
    [
        # n crosses chunk boundaries (512) and several n fall in the same chunk; n < p and n > p
        (
            Problem("tanh", "sin", 3.0, 3.0, width=1.5, noise=0.2),
            "network",
            240,
            [3.0, 0.4, 2.2, 2.3],
            [0.05, 0.7],
        ),
        (Problem("relu", "tanh", 2.0, 2.0, width=0.5), "network", 200, [1.0, 2.6], [0.01]),
        (Problem("tanh", "sin", srf=SRFParams(1.3, 1.1, 0.6), width=2.0), "srf", 150, [0.5, 3.6], [0.1]),
        (
            Problem("relu_centered", {"hermite": [0, 0.5, 0.3, 0.2]}, 1.5, 1.0),
            "random_features",
            160,
            [0.9, 4.0],
            [0.3],
        ),
        # λ = 0: minimum-norm interpolation below p, least squares above
        (Problem("erf", "tanh", 1.0, 1.5, width=1.0), "network", 120, [0.5, 3.0], [0.0, 0.2]),
    ],
)
def test_nested_prefix_sweep_equals_an_independent_dense_computation(
    problem, model, d, alphas, ridges
) -> None:
    n_test = 900
    res = simulate(problem, alphas, ridges, model=model, dimension=d, seeds=[4], test_samples=n_test)
    test, train = dense_errors(problem, model, d, 4, alphas, ridges, n_test)
    np.testing.assert_allclose(values(res)[:, 0], test.ravel(), rtol=1e-8)
    # training errors: relative to the label scale, since interpolation (n < p, λ = 0) gives ~0
    np.testing.assert_allclose(values(res, "train_error")[:, 0], train.ravel(), rtol=1e-7, atol=1e-11)


def test_blockwise_step_equals_the_unblocked_gradient() -> None:
    """``W1`` accumulated over chunks (two partial sums) equals one product over all ``n0`` samples."""
    problem = Problem("tanh", "sin", 3.0, 7.3, width=1.2, noise=0.3)  # n0 = 584: a short last chunk
    d = 80
    plan = _make_plan(problem, "network", d)
    with TaskRunner(2, 1.0, None) as runner:
        w, theta = SeedRun(plan, 1, runner).first_layer()
    w_ref, theta_ref = dense_first_layer(problem, "network", d, 1)
    np.testing.assert_array_equal(theta, theta_ref)
    np.testing.assert_allclose(w, w_ref, rtol=1e-12, atol=1e-14)
    w0 = sampling.initial_weights(1, w.shape[0], d)
    assert np.linalg.norm(w - w0) > 0.1  # the step did something


def _make_plan(problem: Problem, model: str, d: int, ridges=(0.1,)) -> Plan:
    step = model == "network" and problem.has_step
    spec = SimulationSpec.build(
        model=model, dimension=d, alphas=[1.0], ridge=list(ridges), seeds=1, test_samples=10
    )
    load = cost.workload(spec, width=problem.width, alpha0=problem.alpha0, step=step)
    return Plan.build(problem, spec, step=step, srf=map_to_srf(problem), load=load)


def test_multiple_ridges_equal_separate_single_ridge_runs() -> None:
    """3 λ (Cholesky per λ), 16 λ (one eigendecomposition) and λ = 0 among them: as one λ at a time."""
    kwargs = {"dimension": 150, "seeds": [0, 1], "test_samples": 500}
    alphas = [0.5, 1.4, 2.0]
    for ridges in ([0.01, 0.3, 2.0], list(np.geomspace(1e-3, 10, 16)), [0.0, 0.5]):
        together = simulate(TANH_SIN, alphas, ridges, **kwargs)
        for j, lam in enumerate(ridges):
            single = simulate(TANH_SIN, alphas, lam, **kwargs)
            block = slice(j * len(alphas), (j + 1) * len(alphas))
            np.testing.assert_allclose(values(together)[block], values(single), rtol=1e-9)
            np.testing.assert_allclose(
                values(together, "train_error")[block], values(single, "train_error"), rtol=1e-8, atol=1e-12
            )


def test_training_error_from_the_gram_equals_the_direct_residual_for_both_solvers() -> None:
    rng = np.random.default_rng(5)
    for n, p in ((300, 120), (80, 120)):
        phi = np.tanh(rng.standard_normal((n, p)) + 0.3)
        y = rng.standard_normal(n)
        ridges = [0.0, 1e-3, 0.1, 3.0]
        out = {}
        for eigh in (False, True):
            gram = np.asfortranarray(phi.T @ phi)
            gram[np.tril_indices(p, -1)] = np.nan  # only the upper triangle may be read
            if not eigh:  # λ > 0 only: Cholesky for each
                out[eigh] = ridge_from_gram(gram, phi.T @ y, float(y @ y), n, ridges[1:])
            else:  # the eigendecomposition for every λ
                scaled_b = (phi.T @ y) * (1.0 / math.sqrt(p))  # as ridge_from_gram scales them
                out[eigh] = ridge._ridge_eigh(gram * (1.0 / p), scaled_b, float(y @ y), n, ridges)
        gram = np.asfortranarray(phi.T @ phi)
        mixed = ridge_from_gram(gram, phi.T @ y, float(y @ y), n, ridges)  # λ = 0 by eigh, the rest Cholesky
        assert np.array_equal(mixed[0][:, 1:], out[False][0]) and np.array_equal(mixed[1][1:], out[False][1])
        assert np.array_equal(mixed[0][:, 0], out[True][0][:, 0])
        f = phi / math.sqrt(p)
        for j, lam in enumerate(ridges):
            if lam == 0:
                ref = np.linalg.lstsq(f, y, rcond=None)[0]
            else:
                ref = np.linalg.solve(f.T @ f + lam * np.eye(p), f.T @ y)
            direct = np.mean((y - f @ ref) ** 2)
            w_e, t_e = out[True][0][:, j], out[True][1][j]
            np.testing.assert_allclose(w_e, ref, rtol=1e-7, atol=1e-9 * np.abs(ref).max())
            assert t_e == pytest.approx(direct, rel=1e-7, abs=1e-12)
            if lam > 0:
                w_c, t_c = out[False][0][:, j - 1], out[False][1][j - 1]
                np.testing.assert_allclose(w_c, ref, rtol=1e-8, atol=1e-10 * np.abs(ref).max())
                assert t_c == pytest.approx(direct, rel=1e-8, abs=1e-12)
        if n < p:  # λ = 0 interpolates
            assert out[True][1][0] == pytest.approx(0.0, abs=1e-12)


# ------------------------------------------------------------------------------------------------
# models
# ------------------------------------------------------------------------------------------------
def test_srf_first_layer_and_teacher_have_the_statistics_of_section_3() -> None:
    d = 400
    srf = SRFParams(c=1.4, r=0.9, gamma=0.6)
    problem = Problem("tanh", "sin", srf=srf, width=0.75)
    plan = _make_plan(problem, "srf", d)
    with TaskRunner(1, 1.0, None) as runner:
        w, theta = SeedRun(plan, 3, runner).first_layer()
    v, zeta = sampling.directions(3, d)
    assert v @ v == pytest.approx(d, rel=1e-12)
    assert zeta @ zeta == pytest.approx(d, rel=1e-12)
    assert abs(zeta @ v) < 1e-9 * d
    assert theta @ v / d == pytest.approx(srf.gamma, rel=1e-12)
    assert theta @ theta == pytest.approx(d, rel=1e-12)
    w0 = sampling.initial_weights(3, 300, d)
    np.testing.assert_allclose(
        w, math.sqrt(srf.c) * w0 + srf.r * np.ones((300, 1)) * v / math.sqrt(d), rtol=1e-13, atol=1e-15
    )
    # neuron i sees r κ + √c z_i with κ = v·x/√d: the spike component of every row is r
    np.testing.assert_allclose((w - math.sqrt(srf.c) * w0) @ v / math.sqrt(d), srf.r, rtol=1e-12)


def test_random_features_equal_the_network_without_a_step() -> None:
    kwargs = {"dimension": 120, "seeds": [0, 3], "test_samples": 400}
    rf = simulate(TANH_SIN, [0.6, 1.7], 0.05, model="random_features", **kwargs)
    for no_step in (Problem("tanh", "sin", 3.0, 0.0), Problem("tanh", "sin", 0.0, 2.0)):
        net = simulate(no_step, [0.6, 1.7], 0.05, model="network", **kwargs)
        np.testing.assert_array_equal(values(net), values(rf))
        np.testing.assert_array_equal(values(net, "train_error"), values(rf, "train_error"))
    stepped = simulate(TANH_SIN, [0.6, 1.7], 0.05, **kwargs)
    assert not np.allclose(values(stepped), values(rf))


def test_label_noise_raises_the_test_error_floor_by_delta() -> None:
    """Same draws (ξ drawn whatever Δ): at large λ the predictor is ~0 and the error E y² ≈ E σ*² + Δ."""
    kwargs = {"dimension": 100, "seeds": 2, "test_samples": 4000, "model": "random_features"}
    clean = simulate(Problem("tanh", "sin"), [1.0], 1e6, **kwargs).points[0].test_error.mean
    noisy = simulate(Problem("tanh", "sin", noise=0.5), [1.0], 1e6, **kwargs).points[0].test_error.mean
    assert noisy - clean == pytest.approx(0.5, abs=0.05)
    assert clean == pytest.approx(0.5 * (1 - math.exp(-2)), abs=0.03)  # E sin(z)²


# ------------------------------------------------------------------------------------------------
# progress, cancellation, threads
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_progress_is_monotone_in_the_unit_interval_and_ends_at_one(n_jobs: int) -> None:
    calls: list[float] = []
    simulate(TANH_SIN, [0.5, 2.0, 3.0], 0.1, dimension=300, seeds=2, n_jobs=n_jobs, progress=calls.append)
    assert calls[0] == 0.0 and calls[-1] == 1.0 and len(calls) >= 3
    assert all(0.0 <= c <= 1.0 for c in calls)
    assert all(b >= a for a, b in itertools.pairwise(calls))


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_cancelled_from_progress_propagates_promptly_and_restores_blas_threads(n_jobs: int) -> None:
    before = [info["num_threads"] for info in threadpool_info()]
    problem = Problem("tanh", "sin", 3.0, 20.0)
    full = estimate_cost(
        model="network", dimension=600, width=1.0, alphas=[3.0], alpha0=20.0, seeds=8, test_samples=None
    ).seconds
    calls: list[float] = []

    def progress(fraction: float) -> None:
        calls.append(fraction)
        if fraction > 0.05:
            raise Cancelled("stop")

    # CPU time of this process (all its threads), the unit of the estimate: wall time on a loaded
    # machine stretches without the simulation doing more work. Uncancelled, the run costs about
    # `full` (3 s); cancelled after 5 %, about 0.4 s.
    start = time.process_time()
    with pytest.raises(Cancelled):
        simulate(problem, [3.0], 0.1, dimension=600, seeds=8, progress=progress, n_jobs=n_jobs)
    elapsed = time.process_time() - start
    assert elapsed < 0.5 * full
    assert [info["num_threads"] for info in threadpool_info()] == before
    assert not [t for t in threading.enumerate() if t.name.startswith("srf-sim")]


def test_concurrent_simulations_agree_with_sequential_ones() -> None:
    """Two simulations in two threads (the service's situation): same values as one after the other."""
    kwargs = {"dimension": 150, "seeds": 2, "test_samples": 300, "n_jobs": 2}
    ref = [values(simulate(TANH_SIN, [1.0, 2.0], lam, **kwargs)) for lam in (0.1, 0.5)]
    out: dict[int, np.ndarray] = {}

    def run(i: int, lam: float) -> None:
        out[i] = values(simulate(TANH_SIN, [1.0, 2.0], lam, **kwargs))

    threads = [threading.Thread(target=run, args=(i, lam)) for i, lam in enumerate((0.1, 0.5))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(out[0], ref[0])
    np.testing.assert_array_equal(out[1], ref[1])
