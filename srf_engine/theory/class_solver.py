"""Fixed point of the self-consistent equations with ``K`` readout classes (docs/theory.md §12.2).

Conditional on ``κ`` neuron ``i`` of class ``k`` is ``μ0,k + μ1,k (B Π x + κ B v/√d)_i + μ2,k ξ_i``
(§4 class by class, ``B = diag(√c_k) W0``). The derivation of §5 goes through with per-class order
parameters: ``V1, q1`` become ``K × K`` matrices (the classes share one bulk, so ``P_k Ω P_l ≠ 0``),
``V2, q2, t, ψ, m`` vectors. Per ``κ``

    V(κ) = Σ_kl μ1k μ1l V1_kl + Σ_k μ2k² V2_k,     ŷ(κ) = Σ_k μ0k m_k + κ Σ_k μ1k t_k,
    ℰ(κ) = hh − 2 ŷ h − 2 h1 Σ_k μ1k ψ_k + ŷ² + Σ_kl μ1k μ1l q1_kl + Σ_k μ2k² q2_k,

conjugates ``V̂1_kl = α_p E[μ1k μ1l/(1+V)]``, ``V̂2_k = α_p E[μ2k²/(1+V)]``, ``q̂`` likewise with
``ℰ/(1+V)²``, ``t̂_k = α_p E[κ μ1k (h − ŷ)/(1+V)]``, ``ψ̂_k = α_p E[μ1k h1/(1+V)]``; spectral side
(:mod:`~srf_engine.theory.class_spectrum`): ``(V1, V2)`` from the ``K``-atom law,

    t_k = ψ_w c_k V2_k t̂_k,    ψ_k = ψ_w Σ_l V1_kl ψ̂_l,    q = −∂(V1, V2)/∂(V̂1, V̂2) · Â,
    Â1 = q̂1 + ψ_w ψ̂ ψ̂ᵀ,    Â2_k = q̂2_k + ψ_w c_k t̂_k²,

(the spectrum's ``spike_forms``/``spike_q`` generalise the ``t``, ``ψ`` and ``Â`` terms to anisotropic
rows, §12.4), and ``m`` from ``E[μ0k (h − ŷ)/(1+V)] = 0`` for every ``k`` (the mean directions are
unpenalised, as in §5; when the ``μ0,k`` are linearly dependent only their span is determined, and
``ŷ`` is unique).
Errors ``ε_g = E ℰ``, ``ε_t = E[ℰ/(1+V)²]``. ``K = 1`` is §5 term by term.

Solve: ``x = (vec V1, V2)`` is a closed subsystem ``x = F(x)``, solved by Newton with the exact Jacobian
``J_F = J_spec J_chan`` and backtracking; ``(t, m)`` then solve one linear system and ``q`` another. The
literal map's residual at the answer decides ``converged``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..cancel import checkpoint
from .class_spectrum import ClassSpectrum, SpectralState
from .readout import ClassMoments
from .solver import ACCEPTED_RESIDUAL, MEAN_FREE_THRESHOLD, RIDGELESS

Array = np.ndarray

_TOL = 1e-13
_MAX_NEWTON = 100
_MAX_PLAIN = 5000
#: Directions of ``span(μ0,k)`` whose weight is below this fraction of the largest are dropped.
_SPAN_CUTOFF = 1e-10


@dataclass(frozen=True)
class ClassFixedPoint:
    """Per-class order parameters (``V1, q1``: ``K × K``; the rest of length ``K``), errors, the solve."""

    V1: Array
    V2: Array
    q1: Array
    q2: Array
    t: Array
    psi: Array  # K × J: class k's overlap with the target's orthogonal direction j (J = 1: one index)
    m: Array
    test_error: float
    train_error: float
    converged: bool
    iterations: int
    residual: float

    def overlaps(self) -> dict[str, list]:
        return {
            name: np.asarray(getattr(self, name)).tolist()
            for name in ("q1", "q2", "V1", "V2", "t", "psi", "m")
        }


class _Channel:
    """``E_κ`` with the per-class features stacked: ``Φ = (μ1k μ1l for all kl, μ2k²)``, ``(K²+K) × n``."""

    def __init__(self, cm: ClassMoments) -> None:
        self.cm = cm
        k = cm.mu1.shape[0]
        self.k = k
        self.phi = np.concatenate(
            [(cm.mu1[:, None, :] * cm.mu1[None, :, :]).reshape(k * k, -1), cm.mu2 * cm.mu2], axis=0
        )
        scale = max(1.0, float(np.max(np.abs(cm.mu1))), float(np.max(np.abs(cm.mu2))))
        self.mean_free = float(np.max(np.abs(cm.mu0))) <= MEAN_FREE_THRESHOLD * scale

    def omega(self, x: Array) -> Array:
        return 1.0 / (1.0 + x @ self.phi)

    def hats(self, x: Array, alpha_p: float) -> tuple[Array, Array, Array]:
        """``ω = 1/(1+V)``, ``(V̂1, V̂2)`` and ``J_chan = ∂(V̂1, V̂2)/∂x``."""
        om = self.omega(x)
        w = self.cm.weights
        vhat = alpha_p * (self.phi @ (w * om))
        jac = -alpha_p * (self.phi * (w * om * om)[None, :]) @ self.phi.T
        return om, vhat, jac


def _split(vhat: Array, k: int) -> tuple[Array, Array]:
    return vhat[: k * k].reshape(k, k), vhat[k * k :]


def _v_map(x: Array, ch: _Channel, sp: ClassSpectrum, alpha_p: float, lam: float):
    _, vhat, jac_c = ch.hats(x, alpha_p)
    v1h, v2h = _split(vhat, ch.k)
    st = sp.solve(v1h, lam + v2h)
    f = np.concatenate([st.V1.ravel(), st.V2])
    return f, st, jac_c


def _solve_v(ch: _Channel, sp: ClassSpectrum, alpha_p: float, lam: float, start: Array | None):
    size = ch.phi.shape[0]
    x = np.zeros(size) if start is None or start.shape != (size,) else np.array(start, dtype=float)
    f, st, jac_c = _v_map(x, ch, sp, alpha_p, lam)
    g = f - x
    for step in range(1, _MAX_NEWTON + 1):
        checkpoint()
        if not np.all(np.isfinite(g)):
            return x, st, step, False
        if np.max(np.abs(g)) <= _TOL * (1.0 + np.max(np.abs(x))):
            return x, st, step, True
        jac = sp.jacobian(st) @ jac_c
        try:
            dx = np.linalg.solve(jac - np.eye(size), -g)
        except np.linalg.LinAlgError:
            dx = g
        length, accepted = 1.0, False
        for _ in range(30):
            trial = x + length * dx
            if np.all(np.isfinite(trial)) and np.all(1.0 + trial @ ch.phi > 0.0):
                f_t, st_t, jac_t = _v_map(trial, ch, sp, alpha_p, lam)
                g_t = f_t - trial
                if np.all(np.isfinite(g_t)) and np.max(np.abs(g_t)) < np.max(np.abs(g)):
                    x, f, st, jac_c, g, accepted = trial, f_t, st_t, jac_t, g_t, True
                    break
            length *= 0.5
        if not accepted:
            break
    # Plain iteration from where Newton stopped (the map rises monotonically from 0 in the uniform case).
    for step in range(1, _MAX_PLAIN + 1):
        if step % 64 == 0:
            checkpoint()
        f, st, _ = _v_map(x, ch, sp, alpha_p, lam)
        if not np.all(np.isfinite(f)):
            return x, st, _MAX_NEWTON + step, False
        if np.max(np.abs(f - x)) <= _TOL * (1.0 + np.max(np.abs(x))):
            return f, st, _MAX_NEWTON + step, True
        x = f
    return x, st, _MAX_NEWTON + _MAX_PLAIN, False


def _mean_basis(ch: _Channel, om: Array) -> Array:
    """Orthonormal ``U`` (``K × K'``) spanning the ``μ0,k`` that carry weight; ``K' = 0`` when mean-free."""
    cm = ch.cm
    if ch.mean_free:
        return np.zeros((ch.k, 0))
    gram = (cm.mu0 * (cm.weights * om)[None, :]) @ cm.mu0.T
    vals, vecs = np.linalg.eigh(gram)
    if vals[-1] <= 0.0:
        return np.zeros((ch.k, 0))
    keep = vals > _SPAN_CUTOFF * vals[-1]
    return vecs[:, keep]


@dataclass(frozen=True)
class _Down:
    q: Array
    t: Array
    psi: Array
    m: Array
    test_error: float
    train_error: float


def _downstream(
    x: Array, st: SpectralState, ch: _Channel, sp: ClassSpectrum, alpha_p: float, width: float
) -> _Down:
    cm, k = ch.cm, ch.k
    w = cm.weights
    om = ch.omega(x)
    w_om = w * om
    v1h = _split(alpha_p * (ch.phi @ w_om), k)[0]
    kmu1 = cm.kappa[None, :] * cm.mu1  # K × n
    basis = _mean_basis(ch, om)
    mu0r = basis.T @ cm.mu0  # K' × n
    a11 = (kmu1 * w_om) @ kmu1.T
    a10 = (kmu1 * w_om) @ mu0r.T
    b00 = (mu0r * w_om) @ mu0r.T
    a_h = kmu1 @ (w_om * cm.h)
    b_h = mu0r @ (w_om * cm.h)
    psi_hat = alpha_p * (cm.mu1 * w_om[None, :]) @ cm.h1.T  # K × J
    # t = F t̂ + C ψ̂, ψ = H ψ̂ + Cᵀ t̂ (isotropic rows: F = ψ_w diag(c V2), H = ψ_w V1, C = 0)
    f_form, h_form, c_form = sp.spike_forms(st, v1h)
    c_psi = c_form @ psi_hat[:, 0]
    kp = mu0r.shape[0]
    system = np.zeros((k + kp, k + kp))
    system[:k, :k] = np.eye(k) + alpha_p * f_form @ a11
    system[:k, k:] = alpha_p * f_form @ a10
    system[k:, :k] = a10.T
    system[k:, k:] = b00
    sol = np.linalg.solve(system, np.concatenate([alpha_p * f_form @ a_h + c_psi, b_h]))
    t, m_red = sol[:k], sol[k:]
    t_hat = alpha_p * (a_h - a11 @ t - a10 @ m_red)
    y_hat = m_red @ mu0r + t @ kmu1
    psi = h_form @ psi_hat + (c_form.T @ t_hat)[:, None]
    e0 = cm.hh - 2.0 * y_hat * cm.h - 2.0 * np.einsum("jn,kj,kn->n", cm.h1, psi, cm.mu1) + y_hat * y_hat
    w_om2 = w_om * om
    b = alpha_p * (ch.phi @ (w_om2 * e0))
    mmat = alpha_p * (ch.phi * w_om2[None, :]) @ ch.phi.T
    jac = sp.jacobian(st)
    spike = sp.spike_q(st, v1h, t_hat, psi_hat, jac)
    q = np.linalg.solve(np.eye(mmat.shape[0]) + jac @ mmat, spike - jac @ b)
    energy = e0 + q @ ch.phi
    return _Down(q, t, psi, basis @ m_red, float(w @ energy), float(w_om2 @ energy))


def class_residual(
    cm: ClassMoments, sp: ClassSpectrum, width: float, alpha_p: float, lam: float, fp: dict[str, Array]
) -> float:
    """``max |F(x) − x|/(1 + |x|)`` of the literal map (module docstring) at ``fp``; for ``m`` the
    stationarity ``E[μ0k (h − ŷ)/(1+V)]`` relative to ``E[|μ0k h|]``."""
    ch = _Channel(cm)
    k = ch.k
    x = np.concatenate([np.ravel(fp["V1"]), fp["V2"]])
    q = np.concatenate([np.ravel(fp["q1"]), fp["q2"]])
    om, vhat, _ = ch.hats(x, alpha_p)
    v1h, v2h = _split(vhat, k)
    st = sp.fresh().solve(v1h, lam + v2h)
    w = cm.weights
    kmu1 = cm.kappa[None, :] * cm.mu1
    y_hat = fp["m"] @ cm.mu0 + fp["t"] @ kmu1
    t_hat = alpha_p * (kmu1 @ (w * om * (cm.h - y_hat)))
    psi_hat = alpha_p * (cm.mu1 * (w * om)[None, :]) @ cm.h1.T
    h1_term = np.einsum("jn,kj,kn->n", cm.h1, fp["psi"], cm.mu1)
    energy = cm.hh - 2.0 * y_hat * cm.h - 2.0 * h1_term + y_hat * y_hat + q @ ch.phi
    qhat = alpha_p * (ch.phi @ (w * om * om * energy))
    f_form, h_form, c_form = sp.spike_forms(st, v1h)
    c_psi = c_form @ psi_hat[:, 0]
    jac = sp.jacobian(st)
    new = {
        "V1": st.V1.ravel(),
        "V2": st.V2,
        "t": f_form @ t_hat + c_psi,
        "psi": np.ravel(h_form @ psi_hat + (c_form.T @ t_hat)[:, None]),
        "q": -jac @ qhat + sp.spike_q(st, v1h, t_hat, psi_hat, jac),
    }
    old = {"V1": np.ravel(fp["V1"]), "V2": fp["V2"], "t": fp["t"], "psi": np.ravel(fp["psi"]), "q": q}
    res = max(float(np.max(np.abs(new[n] - old[n]) / (1.0 + np.abs(old[n])))) for n in new)
    if not ch.mean_free:
        stat = cm.mu0 @ (w * om * (cm.h - y_hat))
        scale = 1.0 + np.abs(cm.mu0) @ (w * np.abs(cm.h))
        res = max(res, float(np.max(np.abs(stat) / scale)))
    return res


def solve_classes(
    cm: ClassMoments,
    spectrum: ClassSpectrum,
    *,
    alpha: float,
    ridge: float,
    width: float,
    start: Array | None = None,
) -> tuple[ClassFixedPoint, Array]:
    """Solve the ``K``-class equations at ``(α, λ)``; returns the point and ``x = (vec V1, V2)`` (a warm
    start for the next point of a sweep). ``λ = 0`` is solved at ``RIDGELESS``, as §5's solver does."""
    lam = RIDGELESS if ridge == 0.0 else ridge
    alpha_p = alpha / width
    ch = _Channel(cm)
    nan = math.nan
    k = ch.k
    try:
        x, st, its, ok = _solve_v(ch, spectrum, alpha_p, lam, start)
        down = _downstream(x, st, ch, spectrum, alpha_p, width)
    except (ArithmeticError, ValueError, np.linalg.LinAlgError):
        empty = np.full(k, nan)
        psi_nan = np.full((k, cm.h1.shape[0]), nan)
        fp = ClassFixedPoint(
            np.full((k, k), nan),
            empty,
            np.full((k, k), nan),
            empty,
            empty,
            psi_nan,
            empty,
            nan,
            nan,
            False,
            0,
            math.inf,
        )
        return fp, np.zeros(k * k + k)
    values = {
        "V1": x[: k * k].reshape(k, k),
        "V2": x[k * k :],
        "q1": down.q[: k * k].reshape(k, k),
        "q2": down.q[k * k :],
        "t": down.t,
        "psi": down.psi,
        "m": down.m,
    }
    finite = all(np.all(np.isfinite(v)) for v in values.values()) and math.isfinite(down.test_error)
    residual = class_residual(cm, spectrum, width, alpha_p, lam, values) if finite else math.inf
    converged = bool(
        ok and finite and residual <= ACCEPTED_RESIDUAL and down.test_error >= 0.0 and down.train_error >= 0.0
    )
    fp = ClassFixedPoint(
        **values,
        test_error=down.test_error,
        train_error=down.train_error,
        converged=converged,
        iterations=its,
        residual=float(residual),
    )
    return fp, x
