"""The spectral side with ``K`` readout classes: a generalised Marchenko–Pastur law with a population of
``K`` atoms on the neuron side (docs/theory.md §12.2).

The bulk is ``B = diag(√c_k) W0``, ``Ω = B Π Bᵀ = C^{1/2} G C^{1/2}`` with ``G = W0 Π W0ᵀ`` (Wishart of ratio
``ψ_w``), and the fixed point meets it through the resolvent ``R = (Z + Σ_kl V̂1_kl P_k Ω P_l)⁻¹``,
``Z = diag(λ + V̂2_k)`` (``P_k`` projects on class ``k``, of weight ``π_k``). Writing ``G = Σ_μ x_μ x_μᵀ``
over the ``d`` columns and ``X̄_μ`` the ``p × K`` matrix holding ``x_μ``'s class blocks,
``Σ_kl V̂1_kl P_k Ω P_l = Σ_μ X̄_μ Q X̄_μᵀ`` with ``Q = C^{1/2} V̂1 C^{1/2}`` (``K × K``). Leave-one-column-out
(``X̄_μᵀ R X̄_μ → T = diag(τ_k)``, ``τ_k = (1/d) tr P_k R``) gives the deterministic equivalent

    τ_k z_k + 1 − N_kk/τ_k = ψ_w π_k,     N = (T⁻¹ + Q)⁻¹ = T^{1/2}(I + T^{1/2} Q T^{1/2})⁻¹ T^{1/2},

a ``K``-dimensional equation, and from it the traces the equations use:

    V2_k = (1/p) tr P_k R = τ_k/ψ_w,     V1_kl = (1/p) tr P_k Ω P_l R = √(c_k c_l) N_kl/ψ_w.

``K = 1`` is §5's ``c·MP(ψ_w)``: ``τ = ψ_w E_D[1/S]`` with the Marchenko–Pastur Stieltjes equation.
:meth:`ClassSpectrum.jacobian` differentiates ``(V1, V2)`` in ``(V̂1, V̂2)`` exactly (implicit function
theorem on the equation above): the ``q``'s are ``−`` that derivative applied to ``Â`` (§5's ``K_ab``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

Array = np.ndarray

_TOL = 1e-15
_MAX_STEPS = 200


@dataclass(frozen=True)
class SpectralState:
    """The deterministic equivalent at one ``(V̂1, Z)``: ``τ``, ``N`` and the traces ``V1`` (K×K), ``V2``."""

    tau: Array
    N: Array
    V1: Array
    V2: Array
    z: Array
    residual: float


class ClassSpectrum:
    """``K``-atom generalised Marchenko–Pastur law of width ``ψ_w``, class weights ``π``, scales ``c``."""

    def __init__(self, width: float, pi: Array, c: Array) -> None:
        self.width = float(width)
        self.pi = np.asarray(pi, dtype=float)
        self.c = np.asarray(c, dtype=float)
        self.cc = np.sqrt(np.outer(self.c, self.c))
        self.size = int(self.pi.size)
        self._last: Array | None = None

    def fresh(self) -> ClassSpectrum:
        """The same law without the warm start (for an independent evaluation)."""
        return ClassSpectrum(self.width, self.pi, self.c)

    def _n_matrix(self, tau: Array, q: Array) -> Array:
        root = np.sqrt(tau)
        inner = np.eye(self.size) + root[:, None] * q * root[None, :]
        return root[:, None] * np.linalg.inv(inner) * root[None, :]

    def _gap(self, tau: Array, q: Array, z: Array) -> tuple[Array, Array]:
        n = self._n_matrix(tau, q)
        return tau * z + 1.0 - np.diag(n) / tau - self.width * self.pi, n

    def solve(self, v1hat: Array, z: Array) -> SpectralState:
        """Solve for ``τ`` (Newton in ``log τ`` from the last solution or the lower bound
        ``ψ_w π_k/(z_k + Q_kk)``, with backtracking), then the traces."""
        q = self.cc * np.asarray(v1hat, dtype=float)
        z = np.asarray(z, dtype=float)
        if self.size == 1:
            return self._solve_one(float(q[0, 0]), z)
        target = self.width * self.pi
        lo = target / (z + np.maximum(np.diag(q), 0.0))
        hi = target / z
        start = self._last if self._last is not None and self._last.shape == lo.shape else lo
        tau = np.clip(start, lo, hi)
        g, n = self._gap(tau, q, z)
        for _ in range(_MAX_STEPS):
            err = float(np.max(np.abs(g)))
            if err <= _TOL * (1.0 + float(np.max(tau * z))):
                break
            jac = np.diag(z + np.diag(n) / tau**2) - n * n / (tau[:, None] * tau[None, :] ** 2)
            step = np.linalg.solve(jac * tau[None, :], -g)  # in log τ
            length = 1.0
            for _ in range(60):
                trial = np.clip(tau * np.exp(np.clip(length * step, -30.0, 30.0)), lo, hi)
                g_t, n_t = self._gap(trial, q, z)
                if float(np.max(np.abs(g_t))) < err:
                    break
                length *= 0.5
            else:
                break
            tau, g, n = trial, g_t, n_t
        self._last = tau
        return SpectralState(tau, n, self.cc * n / self.width, tau / self.width, z, float(np.max(np.abs(g))))

    def _solve_one(self, q: float, z: Array) -> SpectralState:
        """``K = 1``: ``z q τ² + (z + q(1 − ψ_w)) τ − ψ_w = 0``, the Marchenko–Pastur Stieltjes equation,
        by its positive root in the form free of cancellation."""
        psi, zz = self.width, float(z[0])
        b = zz + q * (1.0 - psi)
        disc = np.sqrt(b * b + 4.0 * zz * q * psi)
        tau = 2.0 * psi / (b + disc) if b >= 0.0 else (disc - b) / (2.0 * zz * q)
        t = np.array([tau])
        n = np.array([[tau / (1.0 + q * tau)]])
        gap = tau * zz + 1.0 - n[0, 0] / tau - psi
        return SpectralState(t, n, self.cc * n / psi, t / psi, z, abs(float(gap)))

    def jacobian(self, st: SpectralState) -> Array:
        """``∂(vec V1, V2)/∂(vec V̂1, V̂2)``, a ``(K²+K)²`` matrix (``V̂1`` entries taken independently)."""
        k = self.size
        tau, n, z = st.tau, st.N, st.z
        jac = np.diag(z + np.diag(n) / tau**2) - n * n / (tau[:, None] * tau[None, :] ** 2)
        # right-hand sides: −∂g/∂V̂1_ab = −(N dQ N)_kk/τ_k with dQ = cc_ab E_ab; −∂g/∂V̂2_a = −τ_k δ_ka
        rhs1 = -(n[:, :, None] * n.T[:, None, :]) * self.cc[None, :, :] / tau[:, None, None]
        rhs = np.concatenate([rhs1.reshape(k, k * k), -np.diag(tau)], axis=1)
        dtau = np.linalg.solve(jac, rhs)  # K × P
        scaled = dtau / (tau**2)[:, None]
        dn = np.einsum("kj,jp,jl->klp", n, scaled, n)
        # the direct part of dQ = cc_ab E_ab: dN_kl −= cc_ab N_ka N_bl
        dn[:, :, : k * k] -= np.einsum("ka,bl,ab->klab", n, n, self.cc).reshape(k, k, k * k)
        dv1 = (self.cc[:, :, None] * dn / self.width).reshape(k * k, -1)
        return np.concatenate([dv1, dtau / self.width], axis=0)

    # --- the spike (§12.2: isotropic rows; OneStepClassSpectrum overrides both) ---------------------------
    def spike_forms(self, st: SpectralState, v1hat: Array) -> tuple[Array, Array, Array]:
        """``(F, H, C)``, ``K × K``: ``t = F t̂ + C ψ̂`` and ``ψ = H ψ̂ + Cᵀ t̂``. Isotropic rows:
        ``F = ψ_w diag(c_k V2_k)``, ``H = ψ_w V1``, ``C = 0``."""
        return np.diag(self.width * self.c * st.V2), self.width * st.V1, np.zeros((self.size, self.size))

    def spike_q(
        self, st: SpectralState, v1hat: Array, t_hat: Array, psi_hat: Array, jacobian: Array
    ) -> Array:
        """The spike's part of ``q``: ``−d/d(vec V̂1, V̂2)`` of ``t̂ᵀ F t̂ + ψ̂ᵀ H ψ̂ + 2 t̂ᵀ C ψ̂``, for
        isotropic rows ``−J·(ψ_w ψ̂ψ̂ᵀ, ψ_w c t̂²)`` (``ψ̂``: ``K × J``; ``jacobian``: :meth:`jacobian` at
        ``st``, which the caller has already)."""
        spike = np.concatenate([(self.width * psi_hat @ psi_hat.T).ravel(), self.width * self.c * t_hat**2])
        return -jacobian @ spike
