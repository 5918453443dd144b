"""The one-step bulk class by class and the spike's projections on it (docs/theory.md §12.4).

§10.3 class by class: given the first batch, the bulk rows of class ``k`` are close to i.i.d.
``N(0, f_k(M)/d)`` with ``M = X0ᵀ diag(e) X0/n0``, ``f_k(l) = (1 + η̃ b1 u_k l)² + u_k² k0``,
``k0 = η̃² s⊥² E[e²]/α0`` (``M2 → E[e²] I``, as §10.3's analytic route), ``e = y − E[u] μ0``. All ``f_k(M)``
are functions of one ``M``, so in ``M``'s eigenbasis a column of eigenvalue ``l`` carries the row scales
``s_k(l) = √f_k(l)`` (the signs of ``1 + η̃ b1 u_k l`` are absorbed by the independent rows). Leaving one
column out as in :mod:`~srf_engine.theory.class_spectrum`, averaged over ``M``'s law:

    τ_k z_k + 1 − E_l[N_kk(l)]/τ_k = ψ_w π_k,   N(l) = (T⁻¹ + Q(l))⁻¹,   Q(l)_kl = s_k(l) s_l(l) V̂1_kl,
    V2_k = τ_k/ψ_w,   V1_kl = E_l[s_k s_l N_kl(l)]/ψ_w.

The law of ``M`` (§10.3 step 1) is taken from one sampled, seeded ``M`` (``d`` = 800). The spike's
projections ``F, H, C`` follow §10.3 class by class (:meth:`OneStepClassSpectrum.spike_forms`: ``F`` sits on
the top of the bulk); ``spike=False`` keeps them isotropic (``F_k = E f_k = c_k``, ``H`` from the column
average), for comparison. ``readout_curve(..., bulk="one_step")`` asks for this bulk (the service's
default).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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


def _sample_batch(problem: Problem, f0: float, seed: int, d: int, n0: int) -> tuple[Array, Array]:
    """One seeded first batch ``X0`` (``n0 × d``, θ = e_1: ``M``'s law does not depend on θ) and its
    residuals ``e = y − f0``."""
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    x0 = rng.standard_normal((n0, d))
    y = np.asarray(problem.teacher(x0[:, 0]), dtype=float)
    if problem.noise > 0:
        y = y + math.sqrt(problem.noise) * rng.standard_normal(n0)
    return x0, y - f0


def _batch_size(problem: Problem, size: int) -> tuple[int, int]:
    """``(d, n0)`` of a sampled batch: ``d = size``, at most 8000 samples."""
    d = int(max(100, min(size, 8000 / problem.alpha0)))
    return d, max(1, round(problem.alpha0 * d))


def m_law(problem: Problem, f0: float, seed: int = 0, size: int = 800) -> tuple[Array, Array]:
    """Nodes and weights of the spectral law of ``M = X0ᵀ diag(e) X0/n0``: the eigenvalues of one sampled
    ``M`` (seeded, so the theory is reproducible). The Stieltjes equation of §10.3 step 1 is singular at
    ``l = 0`` for ``α0 = 1``, where a grid above the axis fails."""
    d, n0 = _batch_size(problem, size)
    x0, e = _sample_batch(problem, f0, seed, d, n0)
    nodes = np.linalg.eigvalsh(x0.T @ (e[:, None] * x0) / n0)
    return nodes, np.full(d, 1.0 / d)


@dataclass(frozen=True)
class BatchLaw:
    """``S`` sampled batches: ``M``'s eigenvalues ``l_j`` (all batches) and, per batch, the components
    ``a = Uᵀv``, ``b = Uᵀζ`` of the spike direction ``v = g0/‖g0‖`` and of the teacher's direction
    orthogonal to it in ``M``'s eigenbasis ``U``, and ``M2 − mean(e²) I`` on ``span(v, ζ)``."""

    nodes: Array  # S·d
    size: int  # nodes of one batch (d)
    a: Array  # S × d
    b: Array  # S × d
    m2_span: Array  # S × 2 × 2, in the basis (v, ζ)


def batch_law(problem: Problem, f0: float, seeds: Sequence[int], size: int = 800) -> BatchLaw:
    """:class:`BatchLaw` of the batches ``seeds`` (those of :func:`m_law`); one sampled direction's
    weights fluctuate by ``O(1/√d)``, which more batches average."""
    d, n0 = _batch_size(problem, size)
    nodes, a_s, b_s, spans = [], [], [], []
    for seed in seeds:
        x0, e = _sample_batch(problem, f0, seed, d, n0)
        values, vectors = np.linalg.eigh(x0.T @ (e[:, None] * x0) / n0)
        g0 = x0.T @ e
        v = g0 / np.linalg.norm(g0)
        zeta = -v[0] * v
        zeta[0] += 1.0
        norm = np.linalg.norm(zeta)
        zeta = zeta / norm if norm > 0.0 else zeta
        # M2 = X0ᵀ diag(e²) X0/n0 on span(v, ζ): each sample's own term makes it exceed mean(e²) there
        xs = x0 @ np.stack([v, zeta], axis=1)
        spans.append((xs * (e * e)[:, None]).T @ xs / n0 - float(np.mean(e * e)) * np.eye(2))
        nodes.append(values)
        a_s.append(vectors.T @ v)
        b_s.append(vectors.T @ zeta)
    return BatchLaw(np.concatenate(nodes), d, np.array(a_s), np.array(b_s), np.array(spans))


class OneStepClassSpectrum(ClassSpectrum):
    """``K`` classes whose rows have covariance ``f_k(M)`` (module docstring)."""

    #: Batches whose ``M`` eigenbases and directions give the spike's forms (:meth:`spike_forms`); ``M``'s
    #: law for ``τ`` is the first one's (a trace: its batch-to-batch change is ``O(1/d)``).
    SPIKE_SEEDS = (0, 1, 2, 3)

    def __init__(self, problem: Problem, law: ReadoutLaw, c: Array, spike: bool = True) -> None:
        super().__init__(problem.width, np.asarray(law.weights), c)
        mu0, mu1, _ = problem.student.standard_moments()
        b1 = curvature(problem.student)
        varsigma2 = max(0.0, problem.student.derivative_second_moment - mu1 * mu1)
        e, w = _residuals(problem, law.mean * mu0)
        e2 = float(w @ (e * e))  # E[e²] exactly (the sampled M only gives the spectral law)
        eta, a0 = problem.learning_rate, problem.alpha0
        k0 = eta * eta * max(0.0, varsigma2 - b1 * b1) * e2 / a0
        self.problem, self.law = problem, law
        #: Whether the spike's projections ``F, H, C`` follow the batches (:meth:`spike_forms`) or stay
        #: isotropic (``F_k = c_k``, §12.2's terms).
        self.anisotropic_spike = spike
        if spike:
            self.directions = batch_law(problem, law.mean * mu0, self.SPIKE_SEEDS)
            size = self.directions.size  # the first batch is m_law's: its eigenvalues are M's law
            self.l_nodes, self.l_weights = self.directions.nodes[:size], np.full(size, 1.0 / size)
        else:
            self.l_nodes, self.l_weights = m_law(problem, law.mean * mu0)
        u = np.asarray(law.values)[:, None]

        def row_scales2(l: Array) -> Array:
            """``f_k(l)``, ``K × len(l)``."""
            return (1.0 + eta * b1 * u * l[None, :]) ** 2 + u * u * k0

        f = row_scales2(self.l_nodes)
        self.scales = np.sqrt(f)  # K × L
        # the mean row norm² per class: the corrected mapping's c_k (up to the grid)
        self.c = f @ self.l_weights
        if spike:
            self.direction_f = row_scales2(self.directions.nodes).T  # (S d) × K
        #: ``η̃² s⊥²/α0``: the weight of ``M2`` in the rows' covariance (§10.3's ``Σ``), per ``u_k²``.
        self.m2_weight = k0 / e2 if e2 > 0.0 else 0.0
        #: The last :meth:`_batch_solves`, by its ``(τ, V̂1)``.
        self._solves: tuple[tuple[bytes, bytes], list] | None = None

    def fresh(self) -> OneStepClassSpectrum:
        out = object.__new__(OneStepClassSpectrum)
        out.__dict__.update(self.__dict__)
        out._last = None
        out._solves = None
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

    def tau_derivative(self, st: SpectralState) -> Array:
        """``∂τ/∂(vec V̂1, V̂2)``, ``K × (K² + K)``: the implicit function theorem on the ``τ`` equation."""
        k, w = self.size, self.l_weights
        tau, ns, z = st.tau, st.N, st.z
        s = self.scales.T
        jac = self._tau_jac(tau, ns, z)
        # −∂g_k/∂V̂1_ab = −E_l[s_a s_b N_ka N_bk]/τ_k ; −∂g_k/∂V̂2_a = −τ_k δ_ka
        sab = s[:, :, None] * s[:, None, :]  # L × a × b
        rhs1 = -np.einsum("j,jab,jka,jbk->kab", w, sab, ns, ns) / tau[:, None, None]
        rhs = np.concatenate([rhs1.reshape(k, k * k), -np.diag(tau)], axis=1)
        return np.linalg.solve(jac, rhs)

    def jacobian(self, st: SpectralState) -> Array:
        k, w = self.size, self.l_weights
        tau, ns = st.tau, st.N  # N is L × K × K here
        s = self.scales.T  # L × K
        dtau = self.tau_derivative(st)  # K × P
        scaled = dtau / (tau**2)[:, None]
        # dN(l) = N (T⁻² dT − dQ(l)) N and dV1_kl = E_l[s_k s_l dN_kl]/ψ, written with Y = s N s so that
        # both terms are products over the nodes (L·K³ and L·K⁴) rather than an L·K³·P loop
        y = s[:, :, None] * ns * s[:, None, :]
        through_tau = np.einsum("jkm,jml->kml", y * (w[:, None] / s**2)[:, None, :], y)
        dv1 = np.einsum("kml,mp->klp", through_tau, scaled)
        flat = y.reshape(len(w), k * k)
        direct = ((flat * w[:, None]).T @ flat).reshape(k, k, k, k)  # Σ_j w_j Y_ka Y_bl as (k, a, b, l)
        dv1[:, :, : k * k] -= direct.transpose(0, 3, 1, 2).reshape(k, k, k * k)
        return np.concatenate([dv1.reshape(k * k, -1) / self.width, dtau / self.width], axis=0)

    def spike_forms(self, st: SpectralState, v1hat: Array) -> tuple[Array, Array, Array]:
        if not self.anisotropic_spike:
            return super().spike_forms(st, v1hat)
        return self._forms(st.tau, v1hat)

    def spike_q(
        self, st: SpectralState, v1hat: Array, t_hat: Array, psi_hat: Array, jacobian: Array
    ) -> Array:
        """The spike's part of ``q``; with anisotropic forms ``−d/d(vec V̂1, V̂2)`` of the spike's energy
        ``E = t̂ᵀ F t̂ + ψ̂ᵀ H ψ̂ + 2 t̂ᵀ C ψ̂`` (single index: ``ψ̂`` is ``K × 1``). The forms depend on the
        hats through ``τ`` (``∂τ/∂h`` exact: the last ``K`` rows of ``jacobian`` are ``∂τ/∂h / ψ_w``,
        :meth:`jacobian`) and on ``V̂1`` directly: ``dE/dh = ∂E/∂τ · ∂τ/∂h + ∂E/∂V̂1``, both partials
        exact (:meth:`_energy_partials`)."""
        if not self.anisotropic_spike:
            return super().spike_q(st, v1hat, t_hat, psi_hat, jacobian)
        k = self.size
        d_tau, d_v1 = self._energy_partials(st.tau, v1hat, t_hat, psi_hat[:, 0])
        total = d_tau @ (self.width * jacobian[k * k :])
        total[: k * k] += d_v1.ravel()
        return -total

    def _forms(self, tau: Array, v1hat: Array) -> tuple[Array, Array, Array]:
        """``(F, H, C)``, ``K × K``: ``F_kl = (Bv)_kᵀ R (Bv)_l``, ``H_kl = (Bζ)_kᵀ R (Bζ)_l``,
        ``C_kl = (Bv)_kᵀ R (Bζ)_l`` for the bulk's resolvent ``R`` (``Ω = BΠBᵀ``, ``Π = I − vvᵀ``), at the
        class traces ``τ`` of :meth:`solve` (docs/theory.md §12.4).

        Rows of class ``k`` have covariance ``Σ_k = f_k(M) + u_k² (η̃² s⊥²/α0) Q Δ Qᵀ`` (``Δ``: ``M2`` less
        ``mean(e²) I`` on ``Q = span(v, ζ)``, what fixes §10.3's ``F``). Leaving one column out, the forms
        of the full ``BBᵀ`` are ``Φ_ab = aᵀ 𝐙⁻¹ b``, ``𝐙 = blockdiag(Σ_k⁻¹/τ_k) + V̂1 ⊗ I`` (for commuting
        ``Σ_k`` this is ``E_j[a_j b_j s_k s_l N_kl(l_j)]`` in ``M``'s eigenbasis; the rank-two ``Δ`` enters by
        Woodbury, :meth:`_woodbury`); ``Π`` then removes the rank-``K`` part ``𝔅 V̂1 𝔅ᵀ``,
        ``𝔅 = [P_k B v]``: with ``X = (I − Φ_vv V̂1)⁻¹``, ``F = X Φ_vv``, ``C = X Φ_vζ``,
        ``H = Φ_ζζ + Φ_vζᵀ V̂1 X Φ_vζ``. Isotropic rows give ``F = diag(c_k τ_k)``, ``H = √(c_k c_l) N_kl =
        ψ_w V1``, ``C = 0``: §12.2's terms. Averaged over ``SPIKE_SEEDS`` batches."""
        pvv, pzz, pvz = np.mean([phi for phi, _ in self._batch_solves(tau, v1hat)], axis=0)
        x = np.linalg.inv(np.eye(self.size) - pvv @ v1hat)
        return x @ pvv, pzz + pvz.T @ v1hat @ x @ pvz, x @ pvz

    def _batch_solves(self, tau: Array, v1hat: Array) -> list[tuple[Array, tuple]]:
        """Per batch ``(Φ_vv, Φ_ζζ, Φ_vζ)`` and the pieces of its adjoint: ``𝐰_v = 𝐙⁻¹ A``, ``𝐰_ζ = 𝐙⁻¹ B``
        (``d × K × K``: node, class, column; ``A = a ⊗ I_K``, ``B = b ⊗ I_K``), ``F_k⁻¹ Q`` and the Woodbury
        ``G_k`` of :meth:`_woodbury` (``None`` without ``M2``'s span part)."""
        key = (tau.tobytes(), v1hat.tobytes())
        if self._solves is not None and self._solves[0] == key:
            return self._solves[1]  # spike_forms and spike_q ask at the same point
        law = self.directions
        d, k = law.size, self.size
        f_all = self.direction_f
        # Y(l) = (diag(1/(τ_k f_k(l))) + V̂1)⁻¹ = s N s, node by node: the commuting part 𝐗0⁻¹
        y_all = np.linalg.inv(
            v1hat[None, :, :] + np.eye(k)[None] / (tau[None, None, :] * f_all[:, None, :])
        )
        u2 = np.asarray(self.law.values, dtype=float) ** 2
        out = []
        for j in range(law.a.shape[0]):
            y, f = y_all[j * d : (j + 1) * d], f_all[j * d : (j + 1) * d]
            q = np.stack([law.a[j], law.b[j]], axis=1)  # d × 2
            w = [q[:, i, None, None] * y for i in (0, 1)]  # 𝐗0⁻¹ A, 𝐗0⁻¹ B
            span = self.m2_weight * law.m2_span[j]
            wood = None
            if np.any(span != 0.0):
                qf, g, middle, ends = self._woodbury(y, f, q, span, u2, tau)
                xu = y[:, :, :, None] * qf[:, None, :, :]  # 𝐗0⁻¹𝐔: d × K × K × 2
                xu = xu.reshape(d, k, 2 * k)
                w = [w[i] + np.einsum("jkc,cq->jkq", xu, middle @ ends[i].T) for i in (0, 1)]
                wood = (qf, g)
            phi = np.array([np.einsum("j,jkl->kl", q[:, a], w[b]) for a, b in ((0, 0), (1, 1), (0, 1))])
            out.append((phi, (w, wood)))
        self._solves = (key, out)
        return out

    def _energy_partials(self, tau: Array, v1hat: Array, t_hat: Array, ph: Array) -> tuple[Array, Array]:
        """``(∂E/∂τ, ∂E/∂V̂1)`` of the spike's energy (:meth:`spike_q`), exact. ``E`` is a function of the
        averaged ``Φ`` and of ``V̂1``; ``dΦ_xy = −𝐰_xᵀ d𝐙 𝐰_y`` with ``∂𝐙/∂V̂1_mn = E_mn ⊗ I`` and
        ``∂𝐙/∂τ_m = −E_mm ⊗ Σ_m⁻¹/τ_m²`` (``Σ_m⁻¹ = F_m⁻¹ − F_m⁻¹ Q G_m Qᵀ F_m⁻¹``), so with
        ``G_xy = ∂E/∂Φ_xy`` each batch adds ``−Σ_xy Σ_j 𝐰_x(j) G_xy 𝐰_y(j)ᵀ`` to ``∂E/∂V̂1`` and
        ``tr(Σ_m⁻¹ 𝐋_mmᵀ)/τ_m²`` to ``∂E/∂τ_m``, ``𝐋_mm = Σ_xy 𝐰_x[:, m] G_xy 𝐰_y[:, m]ᵀ``."""
        k = self.size
        batches = self._batch_solves(tau, v1hat)
        pvv, pzz, pvz = np.mean([phi for phi, _ in batches], axis=0)
        grads, d_v1 = _energy_gradient(pvv, pzz, pvz, v1hat, t_hat, ph)
        pairs = ((0, 0, grads[0]), (1, 1, grads[1]), (0, 1, grads[2]))
        d_tau = np.zeros(k)
        inv_f = 1.0 / self.direction_f  # (S d) × K
        d = self.directions.size
        for j, (_, (w, wood)) in enumerate(batches):
            scale = 1.0 / len(batches)
            for a, b, g in pairs:
                wg = np.einsum("jmq,qp->jmp", w[a], g)
                d_v1 -= scale * np.einsum("jmp,jnp->mn", wg, w[b])
                # diagonal of the class blocks 𝐋_mm, node by node, against F_m⁻¹
                d_tau += scale * np.einsum("jm,jmp,jmp->m", inv_f[j * d : (j + 1) * d], wg, w[b]) / tau**2
                if wood is not None:
                    qf, gk = wood
                    left = np.einsum("jmc,jmp->mcp", qf, wg)  # (F_m⁻¹Q)ᵀ 𝐰_x G
                    right = np.einsum("jmc,jmp->mcp", qf, w[b])
                    d_tau -= scale * np.einsum("mcp,mep,mce->m", left, right, gk) / tau**2
        return d_tau, d_v1

    @staticmethod
    def _woodbury(
        y: Array, f: Array, q: Array, span: Array, u2: Array, tau: Array
    ) -> tuple[Array, Array, Array, list[Array]]:
        """Class ``k``'s rows gain ``u_k² Q span Qᵀ`` (``Q = (v, ζ)``, here in ``M``'s eigenbasis):
        ``Σ_k⁻¹ = F_k⁻¹ − F_k⁻¹ Q G_k Qᵀ F_k⁻¹`` with ``G_k = u_k² span (I + Qᵀ F_k⁻¹ Q u_k² span)⁻¹``, so the
        matrix to invert is ``𝐗0 − 𝐔𝐂𝐔ᵀ``, ``𝐗0⁻¹`` the commuting part ``Y(l)`` node by node,
        ``𝐔 = blockdiag(F_k⁻¹ Q)``, ``𝐂 = blockdiag(G_k/τ_k)``, and
        ``𝐗⁻¹ = 𝐗0⁻¹ + 𝐗0⁻¹𝐔 middle 𝐔ᵀ𝐗0⁻¹``, ``middle = 𝐂(I − 𝐔ᵀ𝐗0⁻¹𝐔𝐂)⁻¹``. Returns ``F_k⁻¹ Q``
        (``d × K × 2``), ``G`` (``K × 2 × 2``), ``middle`` and ``𝐔ᵀ𝐗0⁻¹`` along ``a`` and ``b``
        (``K × 2K`` each, transposed)."""
        k = u2.size
        qf = q[:, None, :] / f[:, :, None]  # d × K × 2: rows of F_k⁻¹ Q
        gram = np.einsum("ja,jmb->mab", q, qf)  # Qᵀ F_m⁻¹ Q
        g = np.array([u2[m] * span @ np.linalg.inv(np.eye(2) + gram[m] @ (u2[m] * span)) for m in range(k)])
        c = np.zeros((2 * k, 2 * k))
        for m in range(k):
            c[2 * m : 2 * m + 2, 2 * m : 2 * m + 2] = g[m] / tau[m]
        uyu = np.einsum("jka,jkl,jlb->kalb", qf, y, qf).reshape(2 * k, 2 * k)
        ends = [np.einsum("j,jkl,jlb->klb", q[:, i], y, qf).reshape(k, 2 * k) for i in (0, 1)]
        middle = c @ np.linalg.inv(np.eye(2 * k) - uyu @ c)
        return qf, g, middle, ends


def _energy_gradient(
    pvv: Array, pzz: Array, pvz: Array, v1hat: Array, u: Array, w: Array
) -> tuple[tuple[Array, Array, Array], Array]:
    """``(∂E/∂Φ_vv, ∂E/∂Φ_ζζ, ∂E/∂Φ_vζ)`` and the explicit ``∂E/∂V̂1`` of
    ``E = uᵀ X Φ_vv u + wᵀ (Φ_ζζ + Φ_vζᵀ V̂1 X Φ_vζ) w + 2 uᵀ X Φ_vζ w``, ``X = (I − Φ_vv V̂1)⁻¹``
    (``dX = X (dΦ_vv V̂1 + Φ_vv dV̂1) X``; ``∂E/∂M`` such that ``dE = Σ_ij (∂E/∂M)_ij dM_ij``)."""
    p, v = pvv, v1hat
    x = np.linalg.inv(np.eye(p.shape[0]) - p @ v)
    a, b = x.T @ u, x @ p @ u
    c = pvz @ w
    e = x @ c
    g = x.T @ v.T @ c
    ve = v @ e
    g_vv = np.outer(a, v @ b + u) + np.outer(2.0 * a + g, ve)
    g_vz = np.outer(2.0 * a + ve + g, w)
    g_zz = np.outer(w, w)
    d_v1 = np.outer(p.T @ a, b) + np.outer(2.0 * (p.T @ a) + c + p.T @ g, e)
    return (g_vv, g_zz, g_vz), d_v1
