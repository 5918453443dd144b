"""The one-step bulk law (docs/theory.md §10.3): the spectrum of ``Ω = B Π Bᵀ`` after one giant step and the
spike's projections ``F, H, C`` on it, from resolvents, without sampling.

Given the first batch ``X0`` (``n0 = α0 d`` rows), the bulk rows are close to i.i.d. ``N(0, Σ/d)`` with
``Σ = f(M)``, ``M = X0ᵀ diag(e) X0/n0``, ``f(l) = (1 + η̃ b1 l)² + k0``, ``k0 = η̃² s⊥² E[e²]/α0``
(``M2 = X0ᵀ diag(e²) X0/n0`` replaced by ``E[e²] I``). Then:

1. **Law of M.** ``m(l) = (1/d) tr (M − l)⁻¹`` solves ``m = 1/(−l + E_e[e/(1 + e m/α0)])``.
2. **Quadratic forms of M** along ``θ̂`` (unit teacher direction) and ``ĝ = g0/‖g0‖``,
   ``g0 = X0ᵀe/n0 = μ1* θ̂ + u``: split ``X0`` along ``θ̂`` (``κ = θ̂·x``, ``e`` a function of ``κ`` and noise);
   with ``a = m/α0`` and ``Q(w, w') = E[w w' a/(1 + e a)]`` (leave-one-out), the Schur complement
   ``s = E[e κ²] − l − Q(eκ, eκ)`` gives ``θ̂ᵀ(M−l)⁻¹θ̂ = 1/s``,
   ``θ̂ᵀ(M−l)⁻¹g0 = (μ1* − Q(eκ, e))/s``, ``g0ᵀ(M−l)⁻¹g0 = Q(e, e) + (μ1* − Q(e, eκ))²/s``.
3. **Functions of Σ.** ``1/(x f(l) − z)`` has partial fractions at the roots ``l±`` of ``x f(l) = z``, so
   ``yᵀ(xΣ − z)⁻¹y' = [G(l+) − G(l−)]/(x a1² (l+ − l−))`` with ``G`` the resolvent form of step 2
   (``a1 = η̃ b1``).
4. **Generalised Marchenko–Pastur.** ``(BᵀB − z)⁻¹ ≈ (xΣ − z)⁻¹``, ``x = ψ_w/(1 + δ)``,
   ``δ = (1/d) tr Σ (xΣ − z)⁻¹``; ``(1/p) tr (BBᵀ − z)⁻¹ = −1/(z(1 + δ))`` and
   ``φ_yy' = (1/p) yᵀBᵀ(BBᵀ − z)⁻¹By' = (1/ψ_w)(⟨y, y'⟩ + z yᵀ(xΣ − z)⁻¹y')``.
5. **Ω = BBᵀ − (Bv)(Bv)ᵀ/d** (rank one): ``E[F/(D−z)] = φ_vv/(1 − ψ_w φ_vv)``,
   ``E[C/(D−z)] = φ_vζ/(1 − ψ_w φ_vv)``, ``E[H/(D−z)] = φ_ζζ + ψ_w φ_vζ²/(1 − ψ_w φ_vv)``.

The fixed point only needs these at the real point ``z0 = −(λ + V̂2)/V̂1 < 0`` (``S = V̂1 (D − z0)``) and their
first derivative, where every resolvent is far from its spectrum: no density, no Stieltjes inversion.
The spectrum itself (edges, quantiles) comes from the same functions just above the real axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ..activations import gauss_hermite
from ..problem import Problem
from .bulk import SpikeSums
from .mapping import StepStatistics, step_statistics
from .quadrature import kappa_rule

Array = np.ndarray

#: Relative step of the central difference for ``d/dz`` (truncation ~1e-9, rounding ~1e-12).
_DIFF_STEP = 3e-5
_KAPPA_NODES = 160
#: Below this ``|η̃ b1|`` the row shrink's dependence on ``M`` is dropped (relative effect ~1e-6): odd
#: students have ``b1 = 0`` up to the rounding of its numerical derivative.
_FLAT_SLOPE = 1e-6
_NOISE_NODES = 24


@dataclass(frozen=True)
class _Residual:
    """Nodes of ``(κ, e)`` with weights: ``e = σ*(κ) + √Δ ξ − μ0``."""

    e: Array
    ek: Array
    ek2: Array
    w: Array


def _residual_nodes(problem: Problem, st: StepStatistics) -> _Residual:
    rule = kappa_rule(_KAPPA_NODES, tuple(problem.teacher.kinks))
    kappa, w = rule.nodes, rule.weights
    y = np.asarray(problem.teacher(kappa), dtype=float)
    if problem.noise > 0:
        xi, wx = gauss_hermite(_NOISE_NODES)
        y = (y[:, None] + math.sqrt(problem.noise) * xi[None, :]).ravel()
        kappa = np.repeat(kappa, xi.size)
        w = (w[:, None] * wx[None, :]).ravel()
    e = y - st.mu0
    return _Residual(e, e * kappa, e * kappa * kappa, w)


class GeneralisedMarchenkoPastur:
    """Steps 4–6 for any population ``Σ``: a subclass gives ``_sigma_forms(x, z)``, i.e.
    ``(1/d) tr (xΣ − z)⁻¹`` and ``yᵀ(xΣ − z)⁻¹y'`` for ``(θ̂θ̂, θ̂ĝ, ĝĝ)``, and sets ``width`` (``ψ_w``),
    ``mean`` (``(1/d) tr Σ = E_k D_k``), ``gamma = θ̂·ĝ`` and ``rho = √(1 − γ²)``; this class turns them
    into the :class:`~srf_engine.bulk.Bulk` sums of the general fixed point."""

    width: float
    mean: float
    gamma: float
    rho: float
    _z_cache: dict[float, Array]

    def _sigma_forms(self, x: complex, z: complex) -> Array:
        raise NotImplementedError

    def _delta(self, z: float) -> tuple[float, Array]:
        """``δ(z)`` at real ``z < 0`` (unique root in ``[0, c/|z|]``) and the forms at ``x(δ)``."""
        psi = self.width

        def gap(delta: float) -> float:
            x = psi / (1.0 + delta)
            t0 = self._sigma_forms(x, z)[0].real
            return (1.0 + z * t0) / x - delta

        hi = self.mean / abs(z) * (1 + 1e-9) + 1e-300
        delta = optimize.brentq(gap, 0.0, hi, xtol=1e-15 * hi, rtol=1e-15) if gap(hi) < 0 else hi
        x = psi / (1.0 + delta)
        return delta, self._sigma_forms(x, z).real

    def resolvents(self, z: float) -> Array:
        """``(g, S_F, S_C, S_H)(z)``, ``S_X = E_k[X_k/(D_k − z)]``, at real ``z < 0``."""
        cached = self._z_cache.get(z)
        if cached is not None:
            return cached
        psi, gamma, rho = self.width, self.gamma, self.rho
        delta, (_, y_tt, y_tg, y_gg) = self._delta(z)
        g = -1.0 / (z * (1.0 + delta))
        phi_vv = (1.0 + z * y_gg) / psi
        if rho > 1e-12:
            y_gz = (y_tg - gamma * y_gg) / rho
            y_zz = (y_tt - 2 * gamma * y_tg + gamma * gamma * y_gg) / (rho * rho)
            phi_vz, phi_zz = z * y_gz / psi, (1.0 + z * y_zz) / psi
        else:
            phi_vz = phi_zz = 0.0
        den = 1.0 - psi * phi_vv
        out = np.array([g, phi_vv / den, phi_vz / den, phi_zz + psi * phi_vz * phi_vz / den])
        if len(self._z_cache) > 4096:
            self._z_cache.clear()
        self._z_cache[z] = out
        return out

    def _with_derivative(self, z: float) -> tuple[Array, Array]:
        h = _DIFF_STEP * abs(z)
        return self.resolvents(z), (self.resolvents(z + h) - self.resolvents(z - h)) / (2 * h)

    # --- the Bulk protocol --------------------------------------------------------------------------------
    def v_sums(self, s0: float, v1: float) -> tuple[Array, Array]:
        """``E[(D, 1)/S]`` and ``E[g gᵀ/S²]`` with ``S = v1 (D − z0)``, ``z0 = −s0/v1``."""
        z = -s0 / v1
        val, der = self._with_derivative(z)
        g, dg = val[0], der[0]
        f = np.array([(1.0 + z * g) / v1, g / v1])
        k12 = (g + z * dg) / v1**2
        k_mat = np.array([[(1.0 + 2 * z * g + z * z * dg) / v1**2, k12], [k12, dg / v1**2]])
        return f, k_mat

    def spike_sums(self, s0: float, v1: float, f: Array, k_mat: Array) -> SpikeSums:
        z = -s0 / v1
        val, der = self._with_derivative(z)
        b = val[1:] / v1

        def g(i: int) -> Array:
            return np.array([val[i] + z * der[i], der[i]]) / v1**2

        return SpikeSums(float(b[0]), float(b[1]), float(b[2]), g(1), g(3), g(2))

    # --- the spectrum, for checks and reports -------------------------------------------------------------
    def density(self, grid: Array, eps: float = 1e-7) -> Array:
        """Density of ``D`` on ``grid`` (``D > 0``) by ``(1/π) Im g(x + iε)``; the atom of mass
        ``max(0, 1 − 1/ψ_w)`` at 0 is not included."""
        psi = self.width
        out = np.empty(len(grid))
        delta = complex(0.1, 0.1)
        for i, x0 in enumerate(np.asarray(grid, dtype=float)[::-1]):
            z = complex(x0, eps * max(1.0, x0))
            for _ in range(2000):
                x = psi / (1.0 + delta)
                new = (1.0 + z * self._sigma_forms(x, z)[0]) / x
                if abs(new - delta) <= 1e-12 * (1 + abs(delta)):
                    delta = new
                    break
                delta = 0.5 * delta + 0.5 * new
            g = -1.0 / (z * (1.0 + delta))
            out[len(grid) - 1 - i] = max(0.0, g.imag / math.pi)
        return out


class OneStepBulk(GeneralisedMarchenkoPastur):
    """The bulk of one giant step, as a :class:`~srf_engine.bulk.Bulk` of the general fixed point."""

    def __init__(self, problem: Problem) -> None:
        if not problem.has_step or problem.srf is not None:
            raise ValueError("the one-step bulk needs a step (learning_rate, alpha0 > 0) and no srf")
        self.problem = problem
        self.width = problem.width
        self.st = st = step_statistics(problem)
        self.alpha0 = problem.alpha0
        self.a1 = problem.learning_rate * st.b1
        self.k0 = problem.learning_rate**2 * st.orthogonal_slope2 * st.e2 / problem.alpha0
        self._res = _residual_nodes(problem, st)
        r = self._res
        self.e_k2 = float(r.w @ r.ek2)  # E[e κ²]
        self.g_norm = st.spike_norm
        self.gamma = st.mu1_star / self.g_norm
        self.rho = math.sqrt(max(0.0, 1.0 - self.gamma**2))
        #: ``E_k D_k = E f(l) = (1 + a1 E e)² + a1² E[e²]/α0 + k0``: the corrected mapping's ``c``.
        self.mean = (1 + self.a1 * st.e_mean) ** 2 + self.a1**2 * st.e2 / self.alpha0 + self.k0
        self.k_span = self._span_correction()
        self._m_cache: dict[complex, complex] = {}
        self._z_cache: dict[float, Array] = {}

    def _span_correction(self) -> Array:
        """``K`` with ``UᵀPU = G K G``: the part of ``(η̃² s⊥²/α0)(M2 − E[e²] I)`` in ``span(θ̂, ĝ)``.

        ``x_μ·g0 ≈ e_μ/α0 + μ1* κ_μ + (a part independent of μ)``: the sample's own term makes ``M2`` much
        larger along ``ĝ`` (and along ``θ̂`` when ``e²`` correlates with ``κ²``) than ``E[e²]``.
        """
        r, a0, st = self._res, self.alpha0, self.st
        kappa = np.divide(r.ek, r.e, out=np.zeros_like(r.e), where=r.e != 0)
        self_term = r.e / a0 + st.mu1_star * kappa  # x_μ·g0 without its independent part
        e2 = r.e * r.e
        g = self.g_norm
        tt = float(r.w @ (e2 * kappa * kappa))
        tg = float(r.w @ (e2 * kappa * self_term)) / g
        gg = (float(r.w @ (e2 * self_term * self_term)) + st.e2 * st.e2 / a0) / (g * g)
        gram = np.array([[1.0, self.gamma], [self.gamma, 1.0]])
        scale = self.problem.learning_rate**2 * st.orthogonal_slope2 / a0
        target = scale * (np.array([[tt, tg], [tg, gg]]) - st.e2 * gram)
        inv = np.linalg.pinv(gram)
        return inv @ target @ inv

    # --- 1–2. the law of M and its quadratic forms -------------------------------------------------------
    def _m(self, l: complex) -> complex:
        """``m(l)`` for ``Im l > 0``: fixed-point steps into the basin, then Newton."""
        r, a0 = self._res, self.alpha0
        m = self._m_cache.get(l)
        if m is not None:
            return m
        m = complex(-1.0 / l)
        for _ in range(8):
            m = 1.0 / (-l + np.dot(r.w, r.e / (1.0 + r.e * (m / a0))))
        for _ in range(200):
            den = 1.0 + r.e * (m / a0)
            g = 1.0 / m + l - np.dot(r.w, r.e / den)
            dg = -1.0 / (m * m) + np.dot(r.w, r.e * r.e / (a0 * den * den))
            step = g / dg
            trial = m - step
            if trial.imag <= 0:  # keep to the Stieltjes branch
                trial = 1.0 / (-l + np.dot(r.w, r.e / den))
            m = trial
            if abs(step) <= 1e-15 * abs(m):
                break
        self._m_cache[l] = m
        return m

    def forms(self, l: complex) -> tuple[complex, complex, complex, complex]:
        """``(m, θ̂ᵀRθ̂, θ̂ᵀRĝ, ĝᵀRĝ)`` with ``R = (M − l)⁻¹`` (docstring, step 2)."""
        if l.imag < 0:
            return tuple(np.conj(v) for v in self.forms(l.conjugate()))  # type: ignore[return-value]
        r = self._res
        m = self._m(l)
        a = m / self.alpha0
        k = r.w * a / (1.0 + r.e * a)
        q_ee, q_ek, q_kk = np.dot(k, r.e * r.e), np.dot(k, r.e * r.ek), np.dot(k, r.ek * r.ek)
        s = self.e_k2 - l - q_kk
        mu = self.st.mu1_star
        g = self.g_norm
        return m, 1.0 / s, (mu - q_ek) / (s * g), (q_ee + (mu - q_ek) ** 2 / s) / (g * g)

    # --- 3. functions of Σ (steps 4–6: the base class) ---------------------------------------------------
    def _sigma_forms(self, x: complex, z: complex) -> Array:
        """``(1/d) tr (xΣ − z)⁻¹`` and ``yᵀ(xΣ − z)⁻¹y'`` for ``(θ̂θ̂, θ̂ĝ, ĝĝ)``."""
        a1 = self.a1
        if abs(a1) < _FLAT_SLOPE:
            # Σ = (1 + k0) I apart from M2's span: every form is 1/(x(1 + k0) − z) times ⟨y, y'⟩.
            inv = 1.0 / (x * (1.0 + self.k0) - z)
            t0, y_tt, y_tg, y_gg = inv, inv, self.gamma * inv, inv
        else:
            root = np.sqrt(complex(z / x - self.k0))
            lp, lm = (-1.0 + root) / a1, (-1.0 - root) / a1
            fp, fm = np.array(self.forms(lp)), np.array(self.forms(lm))
            t0, y_tt, y_tg, y_gg = (fp - fm) / (x * a1 * a1 * (lp - lm))
        # M2's part in span(θ̂, ĝ), by Woodbury: UᵀYU ← UᵀYU (I + x K UᵀYU)⁻¹.
        yf = np.array([[y_tt, y_tg], [y_tg, y_gg]])
        yf = yf @ np.linalg.inv(np.eye(2) + x * self.k_span @ yf)
        return np.array([t0, yf[0, 0], 0.5 * (yf[0, 1] + yf[1, 0]), yf[1, 1]])
