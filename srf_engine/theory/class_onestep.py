"""The one-step bulk class by class, its spectrum only (docs/theory.md §12.4; experimental, not a default).

§10.3 class by class: given the first batch, the bulk rows of class ``k`` are close to i.i.d.
``N(0, f_k(M)/d)`` with ``M = X0ᵀ diag(e) X0/n0``, ``f_k(l) = (1 + η̃ b1 u_k l)² + u_k² k0``,
``k0 = η̃² s⊥² E[e²]/α0`` (``M2 → E[e²] I``, as §10.3's analytic route), ``e = y − E[u] μ0``. All ``f_k(M)``
are functions of one ``M``, so in ``M``'s eigenbasis a column of eigenvalue ``l`` carries the row scales
``s_k(l) = √f_k(l)`` (the signs of ``1 + η̃ b1 u_k l`` are absorbed by the independent rows). Leaving one
column out as in :mod:`~srf_engine.theory.class_spectrum`, averaged over ``M``'s law:

    τ_k z_k + 1 − E_l[N_kk(l)]/τ_k = ψ_w π_k,   N(l) = (T⁻¹ + Q(l))⁻¹,   Q(l)_kl = s_k(l) s_l(l) V̂1_kl,
    V2_k = τ_k/ψ_w,   V1_kl = E_l[s_k s_l N_kl(l)]/ψ_w.

The law of ``M`` (§10.3 step 1) is taken from one sampled, seeded ``M`` (``d`` = 800). What is left out:
the spike's projections ``F, H, C`` stay isotropic (``F_k = E f_k = c_k``, ``H`` from the column average),
while §10.3 puts ``F`` on the top of the bulk; so this is the bulk of §10.3 without its anisotropic spike,
and it is not used by default (``readout_curve(..., bulk="one_step")``).
"""

from __future__ import annotations

import math

import numpy as np

from ..activations import gauss_hermite
from ..problem import Problem
from .class_spectrum import ClassSpectrum, SpectralState
from .mapping import curvature
from .quadrature import kappa_rule
from .readout import ReadoutLaw

Array = np.ndarray


def _residuals(problem: Problem, f0: float) -> tuple[Array, Array]:
    """Nodes ``e = σ*(κ) + √Δ ξ − f0`` with weights (for ``E[e²]``)."""
    rule = kappa_rule(160, tuple(problem.teacher.kinks))
    y, w = np.asarray(problem.teacher(rule.nodes), dtype=float), rule.weights
    if problem.noise > 0:
        xi, wx = gauss_hermite(24)
        y = (y[:, None] + math.sqrt(problem.noise) * xi[None, :]).ravel()
        w = (w[:, None] * wx[None, :]).ravel()
    return y - f0, w


def m_law(problem: Problem, f0: float, seed: int = 0, size: int = 800) -> tuple[Array, Array]:
    """Nodes and weights of the spectral law of ``M = X0ᵀ diag(e) X0/n0``: the eigenvalues of one sampled
    ``M`` (``d = size``, at most 8000 samples; seeded, so the theory is reproducible). The Stieltjes
    equation of §10.3 step 1 is singular at ``l = 0`` for ``α0 = 1``, where a grid above the axis fails."""
    d = int(max(100, min(size, 8000 / problem.alpha0)))
    n0 = max(1, round(problem.alpha0 * d))
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    x0 = rng.standard_normal((n0, d))
    y = np.asarray(problem.teacher(x0[:, 0]), dtype=float)  # θ = e_1: M's law does not depend on θ
    if problem.noise > 0:
        y = y + math.sqrt(problem.noise) * rng.standard_normal(n0)
    e = y - f0
    nodes = np.linalg.eigvalsh(x0.T @ (e[:, None] * x0) / n0)
    return nodes, np.full(d, 1.0 / d)


class OneStepClassSpectrum(ClassSpectrum):
    """``K`` classes whose rows have covariance ``f_k(M)`` (module docstring)."""

    def __init__(self, problem: Problem, law: ReadoutLaw, c: Array) -> None:
        super().__init__(problem.width, np.asarray(law.weights), c)
        mu0, mu1, _ = problem.student.standard_moments()
        b1 = curvature(problem.student)
        varsigma2 = max(0.0, problem.student.derivative_second_moment - mu1 * mu1)
        e, w = _residuals(problem, law.mean * mu0)
        e2 = float(w @ (e * e))  # E[e²] exactly (the sampled M only gives the spectral law)
        eta, a0 = problem.learning_rate, problem.alpha0
        k0 = eta * eta * max(0.0, varsigma2 - b1 * b1) * e2 / a0
        self.problem, self.law = problem, law
        self.l_nodes, self.l_weights = m_law(problem, law.mean * mu0)
        u = np.asarray(law.values)[:, None]
        f = (1.0 + eta * b1 * u * self.l_nodes[None, :]) ** 2 + u * u * k0
        self.scales = np.sqrt(f)  # K × L
        # the mean row norm² per class: the corrected mapping's c_k (up to the grid)
        self.c = f @ self.l_weights

    def fresh(self) -> OneStepClassSpectrum:
        out = object.__new__(OneStepClassSpectrum)
        out.__dict__.update(self.__dict__)
        out._last = None
        return out

    def _ns(self, tau: Array, v1hat: Array) -> Array:
        """``N(l)`` for every node, ``L × K × K``."""
        s = self.scales.T  # L × K
        q = s[:, :, None] * s[:, None, :] * v1hat[None, :, :]
        root = np.sqrt(tau)
        inner = np.eye(self.size)[None] + root[None, :, None] * q * root[None, None, :]
        return root[None, :, None] * np.linalg.inv(inner) * root[None, None, :]

    def _gap2(self, tau: Array, v1hat: Array, z: Array) -> tuple[Array, Array]:
        ns = self._ns(tau, v1hat)
        diag = np.einsum("j,jkk->k", self.l_weights, ns)
        return tau * z + 1.0 - diag / tau - self.width * self.pi, ns

    def _tau_jac(self, tau: Array, ns: Array, z: Array) -> Array:
        w = self.l_weights
        diag = np.einsum("j,jkk->k", w, ns)
        sq = np.einsum("j,jkl->kl", w, ns * ns)
        return np.diag(z + diag / tau**2) - sq / (tau[:, None] * tau[None, :] ** 2)

    def solve(self, v1hat: Array, z: Array) -> SpectralState:
        v1hat = np.asarray(v1hat, dtype=float)
        z = np.asarray(z, dtype=float)
        target = self.width * self.pi
        qmax = np.max(self.scales**2, axis=1) * np.maximum(np.diag(v1hat), 0.0)
        lo, hi = target / (z + qmax), target / z
        start = self._last if self._last is not None and self._last.shape == lo.shape else lo
        tau = np.clip(start, lo, hi)
        g, ns = self._gap2(tau, v1hat, z)
        for _ in range(200):
            err = float(np.max(np.abs(g)))
            if err <= 1e-15 * (1.0 + float(np.max(tau * z))):
                break
            step = np.linalg.solve(self._tau_jac(tau, ns, z) * tau[None, :], -g)
            length = 1.0
            for _ in range(60):
                trial = np.clip(tau * np.exp(np.clip(length * step, -30.0, 30.0)), lo, hi)
                g_t, ns_t = self._gap2(trial, v1hat, z)
                if float(np.max(np.abs(g_t))) < err:
                    break
                length *= 0.5
            else:
                break
            tau, g, ns = trial, g_t, ns_t
        self._last = tau
        s = self.scales.T
        v1 = np.einsum("j,jk,jl,jkl->kl", self.l_weights, s, s, ns) / self.width
        self._state_ns = (tau.copy(), v1hat.copy(), ns)
        return SpectralState(tau, ns, v1, tau / self.width, z, float(np.max(np.abs(g))))

    def jacobian(self, st: SpectralState) -> Array:
        k, w = self.size, self.l_weights
        tau, ns, z = st.tau, st.N, st.z  # N is L × K × K here
        s = self.scales.T  # L × K
        jac = self._tau_jac(tau, ns, z)
        # −∂g_k/∂V̂1_ab = −E_l[s_a s_b N_ka N_bk]/τ_k ; −∂g_k/∂V̂2_a = −τ_k δ_ka
        sab = s[:, :, None] * s[:, None, :]  # L × a × b
        rhs1 = -np.einsum("j,jab,jka,jbk->kab", w, sab, ns, ns) / tau[:, None, None]
        rhs = np.concatenate([rhs1.reshape(k, k * k), -np.diag(tau)], axis=1)
        dtau = np.linalg.solve(jac, rhs)  # K × P
        scaled = dtau / (tau**2)[:, None]
        # dN(l) = N (T⁻² dT − dQ(l)) N ; dV1_kl = E_l[s_k s_l dN_kl]/ψ
        dn = np.einsum("jkm,mp,jml->jklp", ns, scaled, ns)
        direct = np.einsum("jab,jka,jbl->jklab", sab, ns, ns).reshape(len(w), k, k, k * k)
        dn[:, :, :, : k * k] -= direct
        dv1 = np.einsum("j,jk,jl,jklp->klp", w, s, s, dn).reshape(k * k, -1) / self.width
        return np.concatenate([dv1, dtau / self.width], axis=0)
