"""The one-step bulk law with a sampled first batch (docs/theory.md §10.3, bulk "one_step_sampled")."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srf_engine.blas import single_threaded_blas
from srf_engine.errors import InvalidParameterError
from srf_engine.problem import Problem
from srf_engine.simulation.sampling import Stream, directions, initial_weights, sample
from srf_engine.theory.bulk import MarchenkoPasturBulk
from srf_engine.theory.curve import theory_curve
from srf_engine.theory.mapping import step_statistics
from srf_engine.theory.sampled_bulk import FirstBatch, SampledOneStepBulk, first_batch

RELU = Problem("relu", "tanh", 2.0, 2.0, 1.0, 0.0)


def _batch(m: np.ndarray, m2: np.ndarray, theta: np.ndarray, g: np.ndarray) -> FirstBatch:
    return FirstBatch(m, m2, theta / np.linalg.norm(theta), g / np.linalg.norm(g), m.shape[0], 0)


def spectrum(law: SampledOneStepBulk, top: float, qs: tuple[float, ...]) -> tuple[float, float, list[float]]:
    """Mass, top edge and quantiles of the nonzero spectrum from the density on ``[0, top]`` (a grid in
    ``√D``: the density has a ``1/√D`` edge at 0 at width 1)."""
    u = np.linspace(1e-3, 1.0, 1000)
    grid = top * u * u
    density = law.density(grid, eps=1e-9)
    cdf = np.concatenate([[0.0], np.cumsum(np.diff(u) * (density * 2 * top * u)[1:])])
    edge = float(grid[np.nonzero(density > 1e-3)[0][-1]])
    return float(cdf[-1]), edge, [float(np.interp(q * cdf[-1], cdf, grid)) for q in qs]


def test_first_batch_is_the_network_simulations_own() -> None:
    # Written out from the simulation's draws (docs/theory.md §2), then the residual moved to its limit
    # mean and variance: M, M2 and the spike direction are those of that batch.
    problem = Problem("relu", "tanh", 2.0, 1.5, 0.5, 0.1)
    d, seed = 80, 7
    p, n0 = 40, 120
    batch = first_batch(problem, d, seed)
    w0 = initial_weights(seed, p, d)
    theta, _ = directions(seed, d)
    x, xi = sample(seed, Stream.STEP, n0, d)
    y = problem.teacher(x @ theta / math.sqrt(d)) + math.sqrt(problem.noise) * xi
    e = y - problem.student(x @ w0.T).mean(axis=1)
    st = step_statistics(problem)
    e = st.e_mean + (e - e.mean()) * math.sqrt(st.e2 - st.e_mean**2) / e.std()
    assert np.allclose(batch.M, (x * e[:, None]).T @ x / n0, atol=1e-12)
    assert np.allclose(batch.M2, (x * (e * e)[:, None]).T @ x / n0, atol=1e-12)
    g = x.T @ e
    assert np.allclose(batch.g_hat, g / np.linalg.norm(g), atol=1e-12)
    assert np.allclose(batch.theta_hat * math.sqrt(d), theta)
    assert (batch.dimension, batch.seed) == (d, seed)


@pytest.mark.parametrize("width", [0.5, 1.0, 2.0])
def test_isotropic_population_gives_the_marchenko_pastur_bulk(width: float) -> None:
    # M = 0, M2 = I: Σ = (1 + k) I, so F ≡ c, H ≡ D, C ≡ 0 and D = c·MP(ψ_w) (docs/theory.md §10.1).
    d = 50
    rng = np.random.default_rng(1)
    law = SampledOneStepBulk(
        Problem("relu", "tanh", 2.0, 2.0, width),
        _batch(np.zeros((d, d)), np.eye(d), rng.standard_normal(d), rng.standard_normal(d)),
    )
    mp = MarchenkoPasturBulk(width, law.mean, 4000)
    assert law.mean == pytest.approx(1.0 + 4.0 * step_statistics(RELU).orthogonal_slope2 / 2.0, rel=1e-12)
    for s0, v1 in ((0.3, 1.0), (1.0, 0.5), (5.0, 2.0)):
        f, k = law.v_sums(s0, v1)
        f_mp, k_mp = mp.v_sums(s0, v1)
        assert np.allclose(f, f_mp, rtol=1e-6) and np.allclose(k, k_mp, rtol=1e-5)
        spk, spk_mp = law.spike_sums(s0, v1, f, k), mp.spike_sums(s0, v1, f_mp, k_mp)
        assert spk.b_f == pytest.approx(spk_mp.b_f, rel=1e-6) and spk.b_h == pytest.approx(
            spk_mp.b_h, rel=1e-6
        )
        assert abs(spk.b_c) < 1e-12 and np.allclose(spk.g_c, 0.0, atol=1e-9)  # central difference


def test_resolvents_and_spectrum_match_rows_drawn_from_the_population() -> None:
    # The generalised Marchenko–Pastur law itself: rows b_i ~ N(0, Σ/d), Ω = B Π Bᵀ, at d = 300.
    d, width = 300, 2.0
    rng = np.random.default_rng(2)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    spread = np.exp(rng.uniform(-1.0, 1.5, d))
    m = (q * (spread - spread.mean()) / 4) @ q.T  # a curved M: Σ = (I + a1 M)² + k M2
    theta, g = rng.standard_normal(d), q[:, -1] + 0.5 * rng.standard_normal(d) / math.sqrt(d)
    batch = _batch(m, np.eye(d) + 0.5 * np.outer(g, g) / (g @ g), theta, g)
    law = SampledOneStepBulk(Problem("relu", "tanh", 2.0, 2.0, width), batch)
    vals, vecs = np.linalg.eigh(
        (lambda a: a @ a)(np.eye(d) + 2.0 * step_statistics(RELU).b1 * m)
        + (4.0 * step_statistics(RELU).orthogonal_slope2 / 2.0) * batch.M2
    )
    root = (vecs * np.sqrt(vals)) @ vecs.T
    assert law.mean == pytest.approx(vals.mean(), rel=1e-12)
    v, t = batch.g_hat * math.sqrt(d), batch.theta_hat * math.sqrt(d)
    zeta = t - (t @ v / d) * v
    zeta *= math.sqrt(d) / np.linalg.norm(zeta)
    measured, eigs = [], []
    with single_threaded_blas():  # small products: threads only contend
        draws = [rng.standard_normal((round(width * d), d)) @ root / math.sqrt(d) for _ in range(6)]
    for b in draws:
        proj = b - np.outer(b @ v, v) / d
        with single_threaded_blas():
            eig, u = np.linalg.eigh(proj @ proj.T)
        bv, bz = u.T @ (b @ v), u.T @ (b @ zeta)
        eigs.append(eig[eig > 1e-9])
        measured.append(
            [
                [np.mean(x / (eig - z)) for x in (1.0 + 0 * eig, bv * bv, bv * bz, bz * bz)]
                for z in (-0.5, -3.0)
            ]
        )
    measured = np.mean(measured, axis=0)
    for z, row in zip((-0.5, -3.0), measured, strict=True):
        g_, s_f, s_c, s_h = law.resolvents(z)
        # six draws at d = 300: g to 0.1 %, the projections F, H to 2–4 % (one direction each)
        assert g_ == pytest.approx(row[0], rel=0.01)
        assert s_f == pytest.approx(row[1], rel=0.08)
        assert s_h == pytest.approx(row[3], rel=0.08)
        assert abs(s_c) < 0.1 * math.sqrt(s_f * s_h)  # ζ is random with respect to Σ here
    eig = np.concatenate(eigs)
    mass, _, quantiles = spectrum(law, 1.2 * eig.max(), (0.25, 0.5, 0.9))
    assert mass == pytest.approx(1.0 / width, abs=0.01)
    for qq, theory in zip((0.25, 0.5, 0.9), quantiles, strict=True):
        assert theory == pytest.approx(np.quantile(eig, qq), rel=0.03)


def test_sampled_curves_are_deterministic_and_say_which_sample() -> None:
    a = theory_curve(RELU, [0.5, 2.0], 0.05, baseline=False, bulk="one_step_sampled", bulk_dimension=200)
    b = theory_curve(RELU, [0.5, 2.0], 0.05, baseline=False, bulk="one_step_sampled", bulk_dimension=200)
    other = theory_curve(
        RELU, [0.5, 2.0], 0.05, baseline=False, bulk="one_step_sampled", bulk_dimension=200, bulk_seed=1
    )
    assert a.bulk == "one_step_sampled" and a.as_dict()["bulk_sample"] == {"dimension": 200, "seed": 0}
    assert other.bulk_sample == {"dimension": 200, "seed": 1}
    assert [p.test_error for p in a.points] == [p.test_error for p in b.points]
    assert all(p.converged for p in a.points + other.points)
    assert [p.test_error for p in a.points] != [p.test_error for p in other.points]
    analytic = theory_curve(RELU, [0.5, 2.0], 0.05, baseline=False, bulk="one_step")
    assert "bulk_sample" not in analytic.as_dict()
    for s, t in zip(a.points, analytic.points, strict=True):  # two routes to one law: a few percent apart
        assert s.test_error == pytest.approx(t.test_error, rel=0.03)
    # odd students: Σ = I + k M2 is not isotropic, so the sampled law applies to them too
    odd = theory_curve(
        Problem("erf", "tanh", 2.0, 1.0, 0.5),
        [1.0],
        0.05,
        baseline=False,
        bulk="one_step_sampled",
        bulk_dimension=100,
    )
    assert odd.bulk == "one_step_sampled" and odd.points[0].converged
    no_step = theory_curve(Problem("relu", "tanh", 0.0, 2.0), [1.0], 0.05, bulk="one_step_sampled")
    assert no_step.bulk == "marchenko_pastur" and no_step.bulk_sample is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"bulk_dimension": 1}, "bulk_dimension"),
        ({"bulk_dimension": 2.5}, "bulk_dimension"),
        ({"bulk_dimension": 10**6}, "bulk_dimension"),
        ({"bulk_seed": -1}, "bulk_seed"),
        ({"bulk": "sampled"}, "bulk"),
    ],
)
def test_bad_sample_arguments_name_their_field(kwargs: dict, field: str) -> None:
    with pytest.raises(InvalidParameterError) as err:
        theory_curve(RELU, [1.0], 0.05, **{"bulk": "one_step_sampled", **kwargs})
    assert err.value.field == field


@pytest.mark.slow
@pytest.mark.parametrize(("student", "width"), [("relu_centered", 2.0), ("relu", 1.0)])
def test_sampled_bulk_matches_a_network_first_layer(student: str, width: float) -> None:
    # η̃ = 2, α0 = 2, d = 1000 (docs/theory.md §10.3), against a network of another seed: measured
    # (3 network seeds) c within 1 %, E[1/(D − z)] 0.1–0.2 %, E[F/(D − z)] −1.8 … −7 %, E[H/(D − z)] −0.4 …
    # −3.3 %, top edge and quantiles q10…q90 within 4.5 %; the analytic law has q10 25 % low at width 1.
    from test_fidelity import network_first_layer

    from srf_engine.simulation.first_layer import decompose, measure_first_layer

    problem = Problem(student, "tanh", 2.0, 2.0, width, 0.0)
    law = SampledOneStepBulk(problem, first_batch(problem))
    w1, _, theta = network_first_layer(problem, 1000, 2)
    d = w1.shape[1]
    dec = decompose(w1)
    zeta = theta - (theta @ dec.v / d) * dec.v
    zeta *= math.sqrt(d) / np.linalg.norm(zeta)
    with single_threaded_blas():
        eig, vecs = np.linalg.eigh(dec.projected @ dec.projected.T)
    bv, bz = vecs.T @ (dec.bulk @ dec.v), vecs.T @ (dec.bulk @ zeta)
    assert law.mean == pytest.approx(dec.c_eff, rel=0.02)
    for z in (-0.3, -1.0, -5.0):
        g, s_f, _, s_h = law.resolvents(z)
        assert g == pytest.approx(np.mean(1 / (eig - z)), rel=0.015)
        assert s_f == pytest.approx(np.mean(bv * bv / (eig - z)), rel=0.1)
        assert s_h == pytest.approx(np.mean(bz * bz / (eig - z)), rel=0.06)
    measured = measure_first_layer(w1, theta)
    qs = (0.1, 0.25, 0.5, 0.75, 0.9)
    top = 1.3 * measured.spectrum_edges[1]
    mass, edge, quantiles = spectrum(law, top, qs)
    assert mass == pytest.approx(min(1.0, 1.0 / width), abs=0.005)
    assert edge == pytest.approx(measured.spectrum_edges[1], rel=0.04)
    for q, theory in zip(qs, quantiles, strict=True):
        assert theory == pytest.approx(measured.spectrum_quantiles[f"q{round(100 * q)}"], rel=0.07)


def test_sampled_bulk_warnings_follow_its_validation_rows() -> None:
    from srf_engine.theory.fidelity import MEASURED, _off

    def warnings(student: str, alpha0: float, bulk: str, **kw) -> list[str]:
        problem = Problem(student, "tanh", 2.0, alpha0, 0.5)
        curve = theory_curve(problem, [1.0], 0.05, baseline=False, bulk=bulk, bulk_dimension=100, **kw)
        return curve.warnings

    # the odd student at α0 = 1 (α = 1 ≥ width 0.5): the sampled M2 is measured closer than §5's bulk
    sampled = MEASURED[("corrected", "one_step_sampled", False)][("odd_small_alpha0", "above_width")]
    flat = MEASURED[("corrected", "marchenko_pastur", False)][("odd_small_alpha0", "above_width")]
    assert max(map(abs, sampled["test"])) < max(map(abs, flat["test"]))
    said = " ".join(warnings("erf", 1.0, "marchenko_pastur"))
    assert "'marchenko_pastur'" in said
    assert "closest measured there is mapping 'corrected', bulk 'one_step_sampled'" in said
    assert ("'one_step_sampled'" in " ".join(warnings("erf", 1.0, "one_step_sampled"))) == bool(_off(sampled))
    # a student with E σ'' ≠ 0: the sampled law's own measured range, with or without the channel
    for row_norm in (False, True):
        ranges = MEASURED[("corrected", "one_step_sampled", row_norm)][("curved", "above_width")]
        said = " ".join(warnings("relu", 2.0, "one_step_sampled", row_norm=row_norm))
        assert bool(_off(ranges)) == ("'one_step_sampled'" in said)


def test_time_model_prices_the_batch_and_its_eigendecomposition() -> None:
    from srf_engine.theory.cost import estimate_theory_seconds

    def cost(problem: Problem, bulk: str, **kw: int) -> float:
        return estimate_theory_seconds(problem, 12, 0.05, bulk=bulk, **kw)

    # measured (one core, 12 α): §5 0.01 s, one_step 0.28 s, one_step_sampled 0.6 s (α0 = 2), 4.1 s (α0 = 20)
    assert cost(RELU, "marchenko_pastur") < cost(RELU, "one_step") < cost(RELU, "one_step_sampled")
    at20 = Problem("relu", "tanh", 2.0, 20.0, 1.0)
    assert 2.0 < cost(at20, "one_step_sampled") < 8.0 and 0.3 < cost(RELU, "one_step_sampled") < 1.5
    assert cost(RELU, "one_step_sampled", bulk_dimension=2000) > 6 * cost(RELU, "one_step_sampled")
    # odd students: "one_step" is §5's bulk (nothing to add), the sampled law still costs its batch
    odd = Problem("tanh", "sin", 3.0, 2.0, 1.0)
    assert cost(odd, "one_step") == cost(odd, "marchenko_pastur") < 0.1 < cost(odd, "one_step_sampled")
