"""The one-step bulk law with a sampled first batch (docs/theory.md §10.3, bulk ``"one_step_sampled"``).

The analytic law (:mod:`.onestep`) replaces ``M2 = X0ᵀ diag(e²) X0/n0`` by ``E[e²] I`` (plus its part along
the spike). This variant keeps it: one first batch is drawn exactly as the network simulation of
docs/theory.md §2 draws it (the streams of :mod:`.simulation.sampling`, seed ``seed``, dimension ``d``):
``W0``, the teacher direction ``θ``, ``n0 = round(α0 d)`` inputs ``X0``, labels ``y`` and the residual
``e = y − f0(X0)`` with ``f0`` the network at initialisation. From it

    ``M = X0ᵀ diag(e) X0/n0``,  ``M2 = X0ᵀ diag(e²) X0/n0``,  ``g0 = X0ᵀ e/n0`` (the spike direction),
    ``Σ = (I + η̃ b1 M)² + (η̃² s⊥²/α0) M2``  (``d × d``, one eigendecomposition ``Σ = U diag(σ) Uᵀ``).

The bulk rows are close to i.i.d. ``N(0, Σ/d)``; with ``θ̂ = θ/√d``, ``ĝ = g0/‖g0‖`` every form the
generalised Marchenko–Pastur law needs is a sum over the eigenvalues,
``(1/d) tr (xΣ − z)⁻¹ = mean_j 1/(xσ_j − z)``, ``yᵀ(xΣ − z)⁻¹y' = Σ_j (Uᵀy)_j (Uᵀy')_j/(xσ_j − z)``,
and steps 4–6 of :mod:`.onestep` (δ, the rank-one update to ``Ω``, the sums at one real point) are shared.
Deterministic given ``(problem, d, seed)``; the result of a curve reports both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..blas import single_threaded_blas
from ..cancel import checkpoint
from ..errors import InvalidParameterError
from ..problem import Problem
from .mapping import step_statistics
from .onestep import GeneralisedMarchenkoPastur

Array = np.ndarray

#: Dimension and seed of the first batch that is sampled by default (docs/theory.md §10.3).
BULK_DIMENSION = 1000
BULK_SEED = 0


@dataclass(frozen=True)
class FirstBatch:
    """What ``Σ`` needs of one sampled first batch: ``M``, ``M2``, ``θ̂`` and ``ĝ`` (unit vectors)."""

    M: Array
    M2: Array
    theta_hat: Array
    g_hat: Array
    dimension: int
    seed: int


def first_batch(problem: Problem, dimension: int = BULK_DIMENSION, seed: int = BULK_SEED) -> FirstBatch:
    """The first batch of the network simulation of ``problem`` at ``(dimension, seed)``.

    Chunk by chunk, as the simulation draws it: ``W0`` and ``θ`` of the seed, the inputs of the step's
    stream, ``e = y − (1/p) Σ_i σ(w_i·x)``. Then ``e`` is affinely moved so that its sample mean and
    variance are their limits ``E e``, ``Var e`` (docs/theory.md §10.2): one batch's mean residual is off
    by ``O(1/√n0)`` and would shift ``E_k D_k`` by ~2 % at ``d = 1000`` through the row shrink; every
    other feature of ``e`` (its law, its correlation with ``X0``) is the sample's. Costs
    ``n0·d·(p + 3d)`` on one BLAS thread (reproducible rounding); memory ``O(d² + p·d)``.
    """
    from ..simulation.sampling import (  # the simulation's streams: the same draws as a network seed
        CHUNK_ROWS,
        Stream,
        directions,
        initial_weights,
        input_chunk,
        labels,
        n_chunks,
    )

    d = int(dimension)
    if round(problem.alpha0 * d) < 1:
        # the batch would not hold one sample, while the law's formulas use α0 itself: no consistent law
        raise InvalidParameterError(
            "alpha0",
            f"with bulk 'one_step_sampled' must give at least one first-batch sample: α0 · bulk_dimension "
            f"= {problem.alpha0 * d:.3g} rounds to 0 (use a larger α0, or another bulk)",
        )
    p, n0 = max(1, round(problem.width * d)), round(problem.alpha0 * d)
    st = step_statistics(problem)
    s = np.zeros((3, d, d))  # Σ_μ e_μ^k x_μ x_μᵀ, k = 0, 1, 2
    sx, sex = np.zeros(d), np.zeros(d)
    es = []
    with single_threaded_blas():
        w0 = initial_weights(seed, p, d)
        theta, _ = directions(seed, d)
        for i in range(n_chunks(n0)):
            checkpoint()  # large α0: many chunks; a cancelled request stops here
            x, xi = input_chunk(seed, Stream.STEP, i, d)
            x = x[: n0 - i * CHUNK_ROWS]
            y = labels(x, xi[: x.shape[0]], theta, problem.teacher, problem.noise)
            e = y - np.asarray(problem.student(x @ w0.T), dtype=float).sum(axis=1) * (1.0 / p)
            ex = x * e[:, None]
            s[0] += x.T @ x
            s[1] += ex.T @ x
            s[2] += (ex * e[:, None]).T @ x
            sx += x.sum(axis=0)
            sex += ex.sum(axis=0)
            es.append(e)
    e = np.concatenate(es)
    spread = float(e.std())
    # e' = a + b e with mean E e and variance E e² − (E e)²
    b = math.sqrt(max(0.0, st.e2 - st.e_mean**2)) / spread if spread > 0 else 0.0
    a = st.e_mean - b * float(e.mean())
    m = (a * s[0] + b * s[1]) / n0
    m2 = (a * a * s[0] + 2 * a * b * s[1] + b * b * s[2]) / n0
    g0 = a * sx + b * sex
    norm = float(np.linalg.norm(g0))
    g_hat = g0 / norm if norm > 0 else g0
    return FirstBatch(m, m2, theta / math.sqrt(d), g_hat, d, int(seed))


class SampledOneStepBulk(GeneralisedMarchenkoPastur):
    """The one-step bulk of ``problem`` with ``Σ`` from the sampled ``batch`` (see module docstring)."""

    def __init__(self, problem: Problem, batch: FirstBatch) -> None:
        if not problem.has_step or problem.srf is not None:
            raise ValueError("the one-step bulk needs a step (learning_rate, alpha0 > 0) and no srf")
        st = step_statistics(problem)
        eta = problem.learning_rate
        a1 = eta * st.b1
        shrunk = a1 * batch.M
        shrunk[np.diag_indices_from(shrunk)] += 1.0  # I + η̃ b1 M (symmetric: its square is A A)
        sigma = shrunk @ shrunk + (eta * eta * st.orthogonal_slope2 / problem.alpha0) * batch.M2
        with single_threaded_blas():
            eig, vecs = np.linalg.eigh(sigma)
        pt, pg = vecs.T @ batch.theta_hat, vecs.T @ batch.g_hat
        self.sample = (batch.dimension, batch.seed)  # not the batch: its d × d matrices stay freeable
        self.width = problem.width
        self.eig = eig
        #: ``(θ̂θ̂, θ̂ĝ, ĝĝ)`` weights of every eigenvalue, one row each.
        self._weights = np.stack([pt * pt, pt * pg, pg * pg])
        self.mean = float(eig.mean())  # (1/d) tr Σ = E_k D_k
        self.gamma = float(batch.theta_hat @ batch.g_hat)
        self.rho = math.sqrt(max(0.0, 1.0 - self.gamma**2))
        self._z_cache: dict[float, Array] = {}

    def _sigma_forms(self, x: complex, z: complex) -> Array:
        inv = 1.0 / (x * self.eig - z)
        return np.concatenate([[inv.mean()], self._weights @ inv])

    def density(self, grid: Array, eps: float = 1e-7) -> Array:
        """Density of ``D`` on ``grid`` by ``(1/π) Im g(x + iε)``, all grid points at once (the atom of
        mass ``max(0, 1 − 1/ψ_w)`` at 0 is not included).

        ``δ`` solves ``δ = (1 + z t(x, z))/x``, ``x = ψ_w/(1 + δ)``, ``t = mean_j 1/(xσ_j − z)``: Newton
        from far above the axis (``Im z`` of the order of the spectrum, where it converges from ``δ = 0``)
        down to ``ε`` in steps of a factor 4, each stage started from the last.
        """
        psi, sig = self.width, self.eig
        x0 = np.asarray(grid, dtype=float)
        scale = max(float(sig[-1]), 1e-12)
        delta = np.zeros(x0.shape, dtype=complex)
        heights = [scale]
        while heights[-1] > eps:
            heights.append(max(heights[-1] / 4.0, eps))
        for height in heights:
            z = x0 + 1j * height * np.maximum(1.0, x0)
            for _ in range(60):
                x = psi / (1.0 + delta)
                inv = 1.0 / (x[:, None] * sig[None, :] - z[:, None])
                t = inv.mean(axis=1)
                dt_dx = -(inv * inv * sig[None, :]).mean(axis=1)
                gap = (1.0 + z * t) / x - delta
                # d/dδ of (1 + z t)/x with dx/dδ = −x²/ψ_w
                dgap = (z * dt_dx / x - (1.0 + z * t) / (x * x)) * (-x * x / psi) - 1.0
                step = gap / dgap
                trial = delta - step
                bad = ~np.isfinite(trial) | (trial.imag < -1e-12 * (1.0 + np.abs(trial)))
                trial[bad] = 0.5 * (delta[bad] + ((1.0 + z * t) / x)[bad])  # a damped plain step instead
                delta = trial
                if np.max(np.abs(step)) <= 1e-12 * (1.0 + np.max(np.abs(delta))):
                    break
        z = x0 + 1j * eps * np.maximum(1.0, x0)
        g = -1.0 / (z * (1.0 + delta))
        return np.maximum(0.0, g.imag / math.pi)
