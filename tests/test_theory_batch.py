"""The batched solver (srf_engine/theory/batch.py): every point of a grid equals the same point solved alone
by the point solver to 1e-10, over every axis and every path of the solver; independent of how points are
split; cancellable; honest where it does not converge."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from srf_engine.cancel import cancellation
from srf_engine.grid import GridSpec
from srf_engine.theory.batch import BatchModel, solve_batch
from srf_engine.theory.conditional import conditional_moments
from srf_engine.theory.curve import theory_grid
from srf_engine.theory.quadrature import spectral_nodes_needed, spectral_nodes_needed_many
from srf_engine.theory.solver import solve_fixed_point

COORDS = ("width", "noise", "alpha0", "learning_rate", "ridge", "alpha")
NUMBERS = ("test_error", "train_error")


def _alone(student: str, teacher: str, point, spec: GridSpec, **kw):
    """The same point as a one-point grid (an optimal λ or η̃ asked again), by the point-by-point path."""
    optimal = {name: "optimal" for name in ("ridge", "learning_rate") if spec.values(name) == ("optimal",)}
    one = GridSpec.build(
        width=point.width,
        noise=point.noise,
        alpha0=point.alpha0,
        learning_rate=optimal.get("learning_rate", point.learning_rate),
        ridge=optimal.get("ridge", point.ridge),
        alphas=[point.alpha],
    )
    return theory_grid(student, teacher, one, batch=False, **kw)


def _assert_same(got, want, rel: float = 1e-10) -> None:
    assert got.converged == want.converged
    for name in NUMBERS:
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a == pytest.approx(b, rel=rel, abs=1e-14), name


def _check_grid(student: str, teacher: str, spec: GridSpec, rel: float = 1e-10, **kw) -> None:
    grid = theory_grid(student, teacher, spec, **kw)
    bases = grid.baseline or [None] * len(grid.points)
    for point, base in zip(grid.points, bases, strict=True):
        alone = _alone(student, teacher, point, spec, **kw)
        _assert_same(point, alone.points[0], rel)
        if base is not None:
            _assert_same(base, alone.baseline[0], rel)
        if point.converged:
            for name, value in point.overlaps.items():
                assert value == pytest.approx(alone.points[0].overlaps[name], rel=1e-9, abs=1e-12), name


def test_grid_over_every_axis_equals_each_point_alone() -> None:
    """Widths below, at and above 1 (the atom at 0 and the density's pole), noise, α0, η̃, λ including
    the ridgeless limit and α across the interpolation threshold: 2·2·2·2·3·3 = 144 points, each model
    with few points (κ arrays gathered and padded across models)."""
    spec = GridSpec.build(
        width=[0.5, 2.0],
        noise=[0.0, 0.2],
        alpha0=[5.0, 20.0],
        learning_rate=[1.0, 3.0],
        ridge=[0.0, 0.01, 0.3],
        alphas=[0.3, 1.0, 2.5],
    )
    _check_grid("tanh", "sin", spec)


def test_many_alphas_per_model_share_its_arrays_and_equal_each_point_alone() -> None:
    """A line of 24 α per model (its own chunks, κ sums as matrix products), a non-centred student
    (μ0 ≠ 0: the (t, m) system and the fit fraction) on §5's bulk, α near the width where the spectral
    rule is refined."""
    alphas = list(np.linspace(0.1, 3.0, 24))
    spec = GridSpec.build(
        width=1.0, noise=0.0, alpha0=20.0, learning_rate=[0.5, 2.0], ridge=[1e-3, 0.1], alphas=alphas
    )
    _check_grid("relu", "tanh", spec, bulk="marchenko_pastur")


def test_lines_of_many_models_solved_together_equal_each_point_alone(monkeypatch) -> None:
    """Lines of 20 α of many models (a grid's η̃ × ψ_w): several lines a chunk, each line with its own
    padded κ arrays, the two widths' spectral rules padded to one length in a chunk and alike within
    a width (a rule shared by scaling); the ridgeless limit and α across both widths."""
    from srf_engine.theory import batch

    layouts: list[str] = []
    solve_chunk = batch._solve_chunk

    def recording(*args):
        source = args[-1]
        layouts.append("rows" if source is None else "shared" if isinstance(source, int) else "lines")
        return solve_chunk(*args)

    monkeypatch.setattr(batch, "_solve_chunk", recording)
    spec = GridSpec.build(
        width=[0.5, 2.0],
        noise=0.1,
        alpha0=20.0,
        learning_rate=[0.5, 1.5, 3.0],
        ridge=[0.0, 0.02],
        alphas=list(np.linspace(0.1, 3.0, 20)),
    )
    _check_grid("tanh", "sin", spec)
    assert "lines" in layouts


def test_small_ridge_below_the_width_warns_as_point_by_point() -> None:
    """The fit fraction (docs/theory.md §10.6) of batched points gives the same thin-fit warning."""
    spec = GridSpec.build(
        width=1.0, noise=0.0, alpha0=20.0, learning_rate=3.0, ridge=[1e-6, 1e-3], alphas=[0.3, 0.6]
    )
    fast = theory_grid("tanh", "sin", spec)
    slow = theory_grid("tanh", "sin", spec, batch=False)
    assert fast.warnings == slow.warnings
    assert any(w.startswith("small ridge below the width") for w in fast.warnings)


@pytest.mark.parametrize(
    ("student", "ridge", "learning_rate", "kw"),
    [
        ("tanh", "optimal", [1.0, 3.0], {}),
        ("tanh", 0.1, "optimal", {"baseline": False}),
        ("relu", 0.1, [1.0, 2.0], {"bulk": "one_step", "row_norm": True}),
        ("relu", 0.1, [1.0, 2.0], {"bulk": "one_step", "row_norm": False}),
    ],
    ids=["optimal-ridge", "optimal-learning-rate", "one-step-row-norm", "one-step"],
)
def test_paths_point_by_point_equal_each_point_alone(student, ridge, learning_rate, kw) -> None:
    """Optimal λ or η̃ and the one-step bulk stay point by point (their baselines are batched when λ is
    fixed); the grid still equals each point alone."""
    alphas = [1.0] if learning_rate == "optimal" else [0.5, 2.0]
    spec = GridSpec.build(
        width=1.0, noise=0.0, alpha0=10.0, learning_rate=learning_rate, ridge=ridge, alphas=alphas
    )
    _check_grid(student, "sin", spec, **kw)


def test_batched_equals_point_by_point_grid() -> None:
    spec = GridSpec.build(
        width=[0.75, 1.0],
        noise=0.0,
        alpha0=20.0,
        learning_rate=[1.0, 4.0],
        ridge=0.05,
        alphas=[0.2, 0.8, 3.0],
    )
    fast = theory_grid("tanh", "sin", spec)
    slow = theory_grid("tanh", "sin", spec, batch=False)
    assert fast.as_dict()["grid"] == slow.as_dict()["grid"]
    for a, b in itertools.chain(
        zip(fast.points, slow.points, strict=True), zip(fast.baseline, slow.baseline, strict=True)
    ):
        assert {k: getattr(a, k) for k in COORDS} == {k: getattr(b, k) for k in COORDS}
        _assert_same(a, b)


def _models() -> list[BatchModel]:
    from srf_engine.activations import get_activation
    from srf_engine.problem import SRFParams

    out = []
    for c, r, width in [(1.2, 1.5, 1.0), (1.0, 0.0, 0.5), (2.0, 3.0, 2.0)]:
        cm = conditional_moments(get_activation("tanh"), get_activation("sin"), SRFParams(c, r, 0.8), 0.1)
        out.append(BatchModel(cm, width, c))
    return out


def test_solve_batch_equals_solve_fixed_point_and_is_independent_of_the_split() -> None:
    models = _models()
    rng = np.random.default_rng(3)
    n = 60
    which = rng.integers(0, len(models), n)
    alphas = rng.uniform(0.05, 4.0, n)
    ridges = np.where(rng.random(n) < 0.2, 0.0, 10.0 ** rng.uniform(-4, 1, n))
    together = solve_batch(models, which, alphas, ridges)
    for i in range(n):
        m = models[which[i]]
        alone = solve_fixed_point(m.cm, alpha=alphas[i], ridge=ridges[i], width=m.width, c=m.c)
        assert together[i].converged == alone.converged
        if alone.converged:
            assert together[i].test_error == pytest.approx(alone.test_error, rel=1e-10)
            assert together[i].train_error == pytest.approx(alone.train_error, rel=1e-10)
            assert together[i].residual <= 1e-8
            assert together[i].fit_fraction == pytest.approx(alone.fit_fraction, rel=1e-10)
    half = solve_batch(models, which[::2], alphas[::2], ridges[::2])
    for a, b in zip(half, together[::2], strict=True):
        assert a.converged == b.converged
        assert a.test_error == pytest.approx(b.test_error, rel=1e-12)


def test_interpolation_peak_without_ridge_is_not_claimed() -> None:
    """At λ = 0 and α = ψ_w the error diverges: the batch says not converged, as the point solver."""
    spec = GridSpec.build(width=1.0, noise=0.0, alpha0=20.0, learning_rate=3.0, ridge=0.0, alphas=[0.5, 1.0])
    fast = theory_grid("tanh", "sin", spec)
    slow = theory_grid("tanh", "sin", spec, batch=False)
    for got, want in ((fast.points, slow.points), (fast.baseline, slow.baseline)):
        assert [p.converged for p in got] == [p.converged for p in want]
        assert not got[1].converged and got[1].test_error is None
    assert fast.baseline[0].converged
    assert any("ridgeless" in w for w in fast.warnings)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_moments_stop_without_a_fixed_point() -> None:
    m = _models()[0]
    cm = m.cm.__class__(**{**m.cm.__dict__, "mu2": np.where(m.cm.kappa > 0, np.inf, m.cm.mu2)})
    out = solve_batch([BatchModel(cm, 1.0, m.c)], [0, 0], [0.5, 2.0], [0.1, 0.1])
    assert not any(fp.converged for fp in out)


def test_a_batch_is_cancellable() -> None:
    class Stop(Exception):
        pass

    calls = 0

    def check() -> None:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise Stop

    models = _models()
    with cancellation(check), pytest.raises(Stop):
        solve_batch(models, np.zeros(200, dtype=int), np.linspace(0.1, 3, 200), np.full(200, 0.1))


def test_vectorised_spectral_node_count_equals_the_scalar_rule() -> None:
    rng = np.random.default_rng(0)
    poles = np.concatenate([10.0 ** rng.uniform(-9, 3, 500), [0.0, math.inf, math.nan]])
    for ratio in (1.0, 0.5, 2.0, 0.999, 1e-9):
        want = [spectral_nodes_needed(ratio, None if math.isnan(p) else p) for p in poles]
        assert spectral_nodes_needed_many(ratio, poles).tolist() == want


def test_points_built_without_their_init_equal_constructed_ones_and_stay_frozen() -> None:
    """``frozen_instance`` (how a grid builds its 10⁴–10⁵ points) gives what the constructor gives,
    still immutable, and refuses a missing or unknown field."""
    import dataclasses

    from srf_engine.results import BaselinePoint, frozen_instance

    values = {
        "alpha": 0.5,
        "test_error": 0.2,
        "train_error": None,
        "ridge": 0.1,
        "converged": True,
        "learning_rate": 1.0,
        "alpha0": 2.0,
        "noise": 0.0,
        "width": 1.0,
    }
    built = frozen_instance(BaselinePoint, dict(values))
    assert built == BaselinePoint(**values)
    assert hash(built) == hash(BaselinePoint(**values))
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.alpha = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError, match="width"):
        frozen_instance(BaselinePoint, {k: v for k, v in values.items() if k != "width"})
    with pytest.raises(TypeError):
        frozen_instance(BaselinePoint, {**values, "extra": 1})
