"""Fixed point of the self-consistent equations (docs/theory.md §5; §10.1 for any bulk) at one ``(α, λ)``.

The seven equations have structure that a generic damped iteration ignores, and that makes the
solve both exact and robust:

1. ``(V1, V2)`` form a closed subsystem, ``V = F(V)`` with
   ``V̂_a = α_p E_κ[μ_a²/(1+V)]`` and ``(V1, V2) = E_D[(D, 1)/S]``, ``S = λ + V̂1 D + V̂2``.
   ``F`` is the composition of two decreasing maps, hence increasing: plain iteration from 0 rises
   monotonically to the smallest fixed point. Newton steps on ``F(V) − V`` with the exact Jacobian
   ``J_F = K M`` (``K_ab = E_D[g_a g_b/S²]``, ``g = (D, 1)``; ``M_ab = α_p E_κ[μ_a² μ_b²/(1+V)²]``),
   safeguarded by backtracking and by the monotone step, converge quadratically.
2. Given ``V``, ``(t, m)`` solve a 2×2 linear system and ``ψ`` is explicit (``ψ_w ψ̂ V1`` in §5).
3. Given those, ``(q1, q2)`` solve ``(I − K M) q = K b + e``, linear again.

The residual of the full seven-dimensional map, evaluated at the answer, is what decides
``converged``: the reductions are checked, not trusted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..cancel import checkpoint
from .bulk import Bulk, MarchenkoPasturBulk
from .conditional import ConditionalMoments
from .quadrature import spectral_nodes_needed

Array = np.ndarray

#: ``np.dot`` rather than ``@``: on 1-D operands ``matmul`` may hand the reduction to a threaded BLAS
#: kernel that stalls for milliseconds when the cores are busy (a simulation beside a theory request).
dot = np.dot

#: Stand-in for ``λ = 0``: the ridgeless limit, exact to O(1e-12) in every finite error.
RIDGELESS = 1e-12
TOLERANCE = 1e-13
MAX_NEWTON_STEPS = 100
MAX_MONOTONE_STEPS = 20000
#: The same for a ridgeless solve (λ ≤ 4·RIDGELESS): there Newton fails only at the interpolation peak,
#: where the limit does not exist (the check at 4λ never passes; measured on relu, relu_centered and
#: tanh, widths 0.5–2: every ridgeless point that needed more than 200 steps was not converged). Capped
#: so that a peak costs ~500 steps, not 20000 (seconds per point on the one-step bulk law); the largest
#: count a converged ridgeless point needed there was 25.
RIDGELESS_MONOTONE_STEPS = 500
#: A fixed point whose full residual exceeds this is reported as not converged.
ACCEPTED_RESIDUAL = 1e-8

#: |μ0| below this (relative to μ1, μ2) counts as exactly 0.
MEAN_FREE_THRESHOLD = 1e-12

OVERLAP_NAMES = ("q1", "q2", "V1", "V2", "t", "psi", "m")


@dataclass(frozen=True)
class FixedPoint:
    """Order parameters, errors and how the solve went."""

    q1: float
    q2: float
    V1: float
    V2: float
    t: float
    psi: float
    m: float
    test_error: float
    train_error: float
    converged: bool
    iterations: int
    residual: float
    #: The readout's overlap with the row-norm channel (docs/theory.md §10.4; 0 without it).
    s: float = 0.0
    #: Effective fraction of the training samples that carry the fit of the mean direction ``m``:
    #: ``E[g]²/E[g²]`` with ``g = μ0²/(1+V)`` (docs/theory.md §10.6); 1 without a mean direction.
    fit_fraction: float = 1.0

    def overlaps(self) -> dict[str, float]:
        """The seven overlaps of §5, and ``s`` where the row-norm channel made it non-zero."""
        # literal, not a loop over OVERLAP_NAMES: a grid asks it of every one of its points
        out = {"q1": self.q1, "q2": self.q2, "V1": self.V1, "V2": self.V2, "t": self.t, "psi": self.psi}
        out["m"] = self.m
        if self.s != 0.0:
            out["s"] = self.s
        return out

    @property
    def V(self) -> tuple[float, float]:
        return (self.V1, self.V2)


class _Kappa:
    """``E_κ`` weights premultiplied by the powers of ``μ1, μ2`` the equations use."""

    def __init__(self, cm: ConditionalMoments) -> None:
        w = cm.weights
        self.cm = cm
        self.mu1sq = cm.mu1 * cm.mu1
        self.mu2sq = cm.mu2 * cm.mu2
        self.w_mu1sq = w * self.mu1sq
        self.w_mu2sq = w * self.mu2sq
        self.w_mu1_4 = self.w_mu1sq * self.mu1sq
        self.w_mu12 = self.w_mu1sq * self.mu2sq
        self.w_mu2_4 = self.w_mu2sq * self.mu2sq
        # μ0 ≡ 0 up to rounding (a centred student with r = 0): m is then undetermined and set to 0.
        scale = max(1.0, float(np.max(np.abs(cm.mu1))), float(np.max(np.abs(cm.mu2))))
        self.mean_free = float(np.max(np.abs(cm.mu0))) <= MEAN_FREE_THRESHOLD * scale


def _v_map(x: Array, k: _Kappa, sp: Bulk, alpha_p: float, lam: float) -> tuple[Array, Array, Array, Array]:
    """``F(V)``, the Jacobian ``K M``, ``K`` and ``(V̂1, V̂2)`` at ``V = x``."""
    omega = 1.0 / (1.0 + k.mu1sq * x[0] + k.mu2sq * x[1])
    omega2 = omega * omega
    vhat = alpha_p * np.array([dot(k.w_mu1sq, omega), dot(k.w_mu2sq, omega)])
    f, k_mat = sp.v_sums(lam + vhat[1], vhat[0])
    m12 = dot(k.w_mu12, omega2)
    m_mat = alpha_p * np.array([[dot(k.w_mu1_4, omega2), m12], [m12, dot(k.w_mu2_4, omega2)]])
    return f, dot(k_mat, m_mat), k_mat, vhat


def _solve_v(k: _Kappa, sp: Bulk, alpha_p: float, lam: float, start: Array | None) -> tuple[Array, int, bool]:
    """Smallest fixed point of ``V = F(V)``: safeguarded Newton, monotone iteration as fallback."""
    x = np.zeros(2) if start is None else np.maximum(np.asarray(start, dtype=float), 0.0)
    f, jac, _, _ = _v_map(x, k, sp, alpha_p, lam)
    g = f - x
    for step in range(1, MAX_NEWTON_STEPS + 1):
        checkpoint()
        if not np.all(np.isfinite(g)):
            # Non-finite moments (e.g. overflowing activations): no iteration can recover from NaN.
            return x, step - 1, False
        scale = 1.0 + np.max(np.abs(x))
        if np.max(np.abs(g)) <= TOLERANCE * scale:
            return x, step - 1, True
        try:
            dx = np.linalg.solve(jac - np.eye(2), -g)
        except np.linalg.LinAlgError:
            dx = g
        accepted = False
        trial = x + dx
        if np.all(np.isfinite(trial)) and np.all(trial >= 0.0):
            f_t, jac_t, _, _ = _v_map(trial, k, sp, alpha_p, lam)
            g_t = f_t - trial
            if np.max(np.abs(g_t)) < np.max(np.abs(g)):
                x, f, jac, g, accepted = trial, f_t, jac_t, g_t, True
        if not accepted:
            x, f, jac, g = _ray_step(x, g, k, sp, alpha_p, lam)
    return _monotone_fallback(k, sp, alpha_p, lam)


def _ray_step(
    x: Array, g: Array, k: _Kappa, sp: Bulk, alpha_p: float, lam: float
) -> tuple[Array, Array, Array, Array]:
    """Far from the fixed point, where Newton points the wrong way (``J_F`` has an eigenvalue > 1
    while ``V`` grows like ``1/λ``), step along ``g = F(V) − V`` as far as ``F(V) ≥ V`` still holds.

    ``F`` is increasing, so such a step never passes the fixed point; doubling the step length
    covers the linear growth near the interpolation peak in logarithmically many maps.
    """
    if np.all(g >= 0.0):
        best = None
        length = 1.0
        for _ in range(64):
            trial = x + 2.0 * length * g
            f_t, jac_t, _, _ = _v_map(trial, k, sp, alpha_p, lam)
            g_t = f_t - trial
            if not (np.all(np.isfinite(g_t)) and np.all(g_t >= 0.0)):
                break
            best, length = (trial, f_t, jac_t, g_t), 2.0 * length
        if best is not None:
            return best
    x = x + g  # the plain step F(V)
    f, jac, _, _ = _v_map(x, k, sp, alpha_p, lam)
    return x, f, jac, f - x


def _monotone_fallback(k: _Kappa, sp: Bulk, alpha_p: float, lam: float) -> tuple[Array, int, bool]:
    x = np.zeros(2)
    most = RIDGELESS_MONOTONE_STEPS if lam <= 4.0 * RIDGELESS else MAX_MONOTONE_STEPS
    for step in range(1, most + 1):
        if step % 64 == 0:
            checkpoint()
        f, _, _, _ = _v_map(x, k, sp, alpha_p, lam)
        if not np.all(np.isfinite(f)):
            return x, MAX_NEWTON_STEPS + step, False
        if np.max(np.abs(f - x)) <= TOLERANCE * (1.0 + np.max(np.abs(x))):
            return f, MAX_NEWTON_STEPS + step, True
        x = f
    return x, MAX_NEWTON_STEPS + most, False


@dataclass(frozen=True)
class _Linear:
    """Everything downstream of ``V``: the explicit and linear parts of §5."""

    q: Array
    t: float
    psi: float
    m: float
    test_error: float
    train_error: float
    s: float = 0.0


@dataclass(frozen=True)
class RowNormChannel:
    """The row-norm channel of docs/theory.md §10.4: ``μ0c(κ) = ∂μ0/∂c`` on the ``κ`` nodes of the
    conditional moments, and its weight ``V_c = Σ_i dc_i²`` (``ψ_w F_c`` with ``F_c = V_c/ψ_w``)."""

    mu0c: Array
    weight: float


def _downstream(
    x: Array, k: _Kappa, sp: Bulk, alpha_p: float, lam: float, width: float, ch: RowNormChannel | None = None
) -> _Linear:
    """§10.1 given ``V``: ``(t, m)`` from a 2×2 linear system, ``ψ`` explicit, ``q`` linear.

    ``t = ψ_w E[(t̂ F + ψ̂ C)/S]``, ``ψ = ψ_w E[(ψ̂ H + t̂ C)/S]`` and
    ``A = q̂1 D + q̂2 + ψ_w (t̂² F + ψ̂² H + 2 t̂ ψ̂ C)``; §5 is ``F ≡ c``, ``H ≡ D``, ``C ≡ 0``.
    With the row-norm channel ``ch`` (docs/theory.md §10.4): ``ŷ = μ0 m + μ1 κ t + μ0c s``,
    ``ŝ = α_p E_κ[μ0c (h − ŷ)/(1 + V)]``, ``s = V_c ŝ E[1/S]`` and ``A += V_c ŝ²`` (an isotropic channel of
    weight ``F_c = V_c/ψ_w``); ``(t, m, s)`` then solve a 3×3 system. ``ch = None`` is the same arithmetic
    as without the channel.
    """
    cm = k.cm
    w = cm.weights
    f, jac, k_mat, vhat = _v_map(x, k, sp, alpha_p, lam)
    spk = sp.spike_sums(lam + vhat[1], vhat[0], f, k_mat)
    omega = 1.0 / (1.0 + k.mu1sq * x[0] + k.mu2sq * x[1])
    w_om = w * omega
    kmu1 = cm.kappa * cm.mu1
    a_h = dot(w_om, kmu1 * cm.h)
    a_0 = dot(w_om, kmu1 * cm.mu0)
    a_1 = dot(w_om, kmu1 * kmu1)
    b_h = dot(w_om, cm.mu0 * cm.h)
    b_0 = dot(w_om, cm.mu0 * cm.mu0)
    psi_hat = alpha_p * dot(w_om, cm.mu1 * cm.h1)
    # t = ψ_w (t̂ E[F/S] + ψ̂ E[C/S]) with t̂ = α_p (a_h − a_0 m − a_1 t): linear in (t, m).
    beta = width * alpha_p * spk.b_f
    rhs = beta * a_h + width * spk.b_c * psi_hat
    if ch is None:
        s = s_hat = 0.0
        if k.mean_free or b_0 <= 0.0:
            t = rhs / (1.0 + beta * a_1)
            m = 0.0
        else:
            system = np.array([[1.0 + beta * a_1, beta * a_0], [a_0, b_0]])
            t, m = np.linalg.solve(system, np.array([rhs, b_h]))
        t_hat = alpha_p * (a_h - a_0 * m - a_1 * t)
        y_hat = cm.mu0 * m + kmu1 * t
    else:
        t, m, s, t_hat, s_hat = _channel_overlaps(k, ch, w_om, f, alpha_p, beta, rhs, a_h, a_0, a_1, b_h, b_0)
        y_hat = cm.mu0 * m + kmu1 * t + ch.mu0c * s
    psi = width * (psi_hat * spk.b_h + t_hat * spk.b_c)
    e0 = cm.hh - 2.0 * y_hat * cm.h - 2.0 * cm.mu1 * psi * cm.h1 + y_hat * y_hat
    w_om2 = w_om * omega
    b = alpha_p * np.array([dot(w_om2 * k.mu1sq, e0), dot(w_om2 * k.mu2sq, e0)])
    e = width * (t_hat * t_hat * spk.g_f + psi_hat * psi_hat * spk.g_h + 2.0 * t_hat * psi_hat * spk.g_c)
    if ch is not None:
        e = e + ch.weight * s_hat * s_hat * k_mat[:, 1]
    q = np.linalg.solve(np.eye(2) - jac, dot(k_mat, b) + e)
    energy = e0 + k.mu1sq * q[0] + k.mu2sq * q[1]
    return _Linear(
        q, float(t), float(psi), float(m), float(dot(w, energy)), float(dot(w_om2, energy)), float(s)
    )


def fit_fraction(cm: ConditionalMoments, V: tuple[float, float] | Array) -> float:
    """Kish effective fraction ``E[g]²/E[g²]``, ``g = μ0²/(1+V(κ))``, of the training samples that carry
    the fit of the mean direction ``m`` (docs/theory.md §10.6).

    Below the width at small ridge, ``1/(1+V)`` is ``O(λ)`` where the readout interpolates and ``O(1)``
    in the tail of ``κ`` where the student saturates (``μ1, μ2 → 0``): ``m`` is then fitted on that
    tail, a fraction of the samples that vanishes as ``λ → 0``, and a simulation with ``n`` training
    samples approaches the limit only once ``n·fit_fraction`` is large. 1 when ``μ0 ≡ 0``.
    """
    k = _Kappa(cm)
    if k.mean_free:
        return 1.0
    g = cm.mu0 * cm.mu0 / (1.0 + k.mu1sq * V[0] + k.mu2sq * V[1])
    second = dot(cm.weights, g * g)
    if not (math.isfinite(second) and second > 0.0):
        return 1.0
    return float(min(1.0, dot(cm.weights, g) ** 2 / second))


def _channel_overlaps(
    k: _Kappa,
    ch: RowNormChannel,
    w_om: Array,
    f: Array,
    alpha_p: float,
    beta: float,
    rhs: float,
    a_h: float,
    a_0: float,
    a_1: float,
    b_h: float,
    b_0: float,
) -> tuple[float, float, float, float, float]:
    """``(t, m, s, t̂, ŝ)`` with the row-norm channel (docs/theory.md §10.4): the 3×3 system
    ``t = β t̂/α_p + …``, ``m`` as in §5 with ``ŷ`` including ``μ0c s``, ``s = V_c E[1/S] ŝ``."""
    cm, mc = k.cm, ch.mu0c
    kmu1 = cm.kappa * cm.mu1
    a_c = dot(w_om, kmu1 * mc)
    c_h, c_0, c_c = (dot(w_om, mc * g) for g in (cm.h, cm.mu0, mc))
    gam = ch.weight * f[1] * alpha_p  # s = V_c E[1/S] ŝ, ŝ = α_p (c_h − c_0 m − a_c t − c_c s)
    if k.mean_free or b_0 <= 0.0:
        system = np.array([[1.0 + beta * a_1, beta * a_c], [gam * a_c, 1.0 + gam * c_c]])
        t, s = np.linalg.solve(system, np.array([rhs, gam * c_h]))
        m = 0.0
    else:
        system = np.array(
            [
                [1.0 + beta * a_1, beta * a_0, beta * a_c],
                [a_0, b_0, c_0],
                [gam * a_c, gam * c_0, 1.0 + gam * c_c],
            ]
        )
        t, m, s = np.linalg.solve(system, np.array([rhs, b_h, gam * c_h]))
    t_hat = alpha_p * (a_h - a_0 * m - a_1 * t - a_c * s)
    s_hat = alpha_p * (c_h - c_0 * m - a_c * t - c_c * s)
    return float(t), float(m), float(s), float(t_hat), float(s_hat)


def full_residual(
    cm: ConditionalMoments,
    bulk: Bulk,
    width: float,
    alpha_p: float,
    lam: float,
    values: dict[str, float],
    channel: RowNormChannel | None = None,
) -> float:
    """``max |F(x) − x| / (1 + |x|)`` of the seven-variable map of §10.1 (§5 for the isotropic bulk);
    with the row-norm ``channel`` (§10.4) the eighth variable ``s`` (``values["s"]``) too.

    On a bulk with nodes the map is written literally, node by node; otherwise through the bulk's sums.
    """
    q1, q2, V1, V2, t, psi, m = (values[n] for n in OVERLAP_NAMES)
    s = values.get("s", 0.0) if channel is not None else 0.0
    w = cm.weights
    V = cm.mu1**2 * V1 + cm.mu2**2 * V2
    y_hat = cm.mu0 * m + cm.mu1 * cm.kappa * t
    if channel is not None:
        y_hat = y_hat + channel.mu0c * s
    energy = cm.hh - 2 * y_hat * cm.h - 2 * cm.mu1 * psi * cm.h1 + y_hat**2 + cm.mu1**2 * q1 + cm.mu2**2 * q2
    one_v = 1.0 + V
    q1h = alpha_p * dot(w, cm.mu1**2 * energy / one_v**2)
    q2h = alpha_p * dot(w, cm.mu2**2 * energy / one_v**2)
    V1h = alpha_p * dot(w, cm.mu1**2 / one_v)
    V2h = alpha_p * dot(w, cm.mu2**2 / one_v)
    th = alpha_p * dot(w, cm.kappa * cm.mu1 * (cm.h - y_hat) / one_v)
    psih = alpha_p * dot(w, cm.mu1 * cm.h1 / one_v)
    sh = alpha_p * dot(w, channel.mu0c * (cm.h - y_hat) / one_v) if channel is not None else 0.0
    vc = channel.weight if channel is not None else 0.0
    nodes = getattr(bulk, "nodes", None)
    if nodes is not None:
        D, u, F, H, C = nodes()
        S = lam + V1h * D + V2h
        A = q1h * D + q2h + width * (th**2 * F + psih**2 * H + 2 * th * psih * C)
        if channel is not None:
            A = A + vc * sh * sh
            s_new = vc * sh * dot(u, 1 / S)
        new = {
            "q1": dot(u, D * A / S**2),
            "q2": dot(u, A / S**2),
            "V1": dot(u, D / S),
            "V2": dot(u, 1 / S),
            "t": width * dot(u, (th * F + psih * C) / S),
            "psi": width * dot(u, (psih * H + th * C) / S),
        }
    else:
        f, k_mat = bulk.v_sums(lam + V2h, V1h)
        spk = bulk.spike_sums(lam + V2h, V1h, f, k_mat)
        a_vec = q1h * k_mat[:, 0] + q2h * k_mat[:, 1]
        a_vec = a_vec + width * (th**2 * spk.g_f + psih**2 * spk.g_h + 2 * th * psih * spk.g_c)
        if channel is not None:
            a_vec = a_vec + vc * sh * sh * k_mat[:, 1]
            s_new = vc * sh * f[1]
        new = {
            "q1": a_vec[0],
            "q2": a_vec[1],
            "V1": f[0],
            "V2": f[1],
            "t": width * (th * spk.b_f + psih * spk.b_c),
            "psi": width * (psih * spk.b_h + th * spk.b_c),
        }
    if _Kappa(cm).mean_free:
        new["m"] = 0.0
    else:
        rest = cm.h - cm.mu1 * cm.kappa * t - (channel.mu0c * s if channel is not None else 0.0)
        new["m"] = dot(w, cm.mu0 * rest / one_v) / dot(w, cm.mu0**2 / one_v)
    names = OVERLAP_NAMES
    if channel is not None:
        new["s"] = s_new
        names = (*OVERLAP_NAMES, "s")
    return max(abs(new[n] - values[n]) / (1.0 + abs(values[n])) for n in names)


def solve_fixed_point(
    cm: ConditionalMoments,
    *,
    alpha: float,
    ridge: float,
    width: float,
    c: float,
    start: tuple[float, float] | None = None,
    refine: int = 1,
    bulk: Bulk | None = None,
    channel: RowNormChannel | None = None,
) -> FixedPoint:
    """Solve §5 at sample ratio ``α``, ridge ``λ``, width ``ψ_w = p/d`` and bulk scale ``c``.

    ``bulk`` replaces the isotropic Marchenko–Pastur bulk ``c·MP(ψ_w)`` by any law of §10.1 (``c`` is
    then unused). ``start`` is a warm start for ``(V1, V2)``, e.g. the previous point of a sweep;
    ``refine`` multiplies the spectral nodes of the isotropic bulk (convergence checks). ``channel``
    adds the row-norm channel of §10.4 (``None``: the equations without it, unchanged).
    """
    solve = _ridgeless if ridge == 0.0 else _solve
    return solve(
        cm, alpha=alpha, ridge=ridge, width=width, c=c, start=start, refine=refine, bulk=bulk, channel=channel
    )


def _ridgeless(
    cm: ConditionalMoments,
    *,
    alpha: float,
    ridge: float,
    width: float,
    c: float,
    start: tuple[float, float] | None,
    refine: int,
    bulk: Bulk | None,
    channel: RowNormChannel | None = None,
) -> FixedPoint:
    """``λ → 0⁺``: solved at ``λ = RIDGELESS`` and checked at ``4 λ``; a limit that still moves
    (the interpolation peak, where ``ε_g → ∞``) is reported as not converged."""
    del ridge
    kw = {"alpha": alpha, "width": width, "c": c, "refine": refine, "bulk": bulk, "channel": channel}
    fp = _solve(cm, ridge=RIDGELESS, start=start, **kw)  # type: ignore[arg-type]
    check = _solve(cm, ridge=4.0 * RIDGELESS, start=fp.V, **kw)  # type: ignore[arg-type]
    if abs(check.test_error - fp.test_error) > 1e-8 * abs(fp.test_error):
        return replace(fp, converged=False)
    return fp


def _solve(
    cm: ConditionalMoments,
    *,
    alpha: float,
    ridge: float,
    width: float,
    c: float,
    start: tuple[float, float] | None,
    refine: int,
    bulk: Bulk | None,
    channel: RowNormChannel | None = None,
) -> FixedPoint:
    alpha_p = alpha / width
    lam = ridge
    k = _Kappa(cm)
    x0 = None if start is None else np.asarray(start, dtype=float)
    iterations = 0
    if bulk is not None:
        sp: Bulk = bulk
        try:
            x, iterations, ok = _solve_v(k, sp, alpha_p, lam, x0)
            lin = _downstream(x, k, sp, alpha_p, lam, width, channel)
        except (ArithmeticError, ValueError, np.linalg.LinAlgError):
            # A bulk law that cannot be evaluated there (extreme steps): no fixed point is claimed.
            nan = math.nan
            return FixedPoint(nan, nan, nan, nan, nan, nan, nan, nan, nan, False, iterations, math.inf)
    else:
        size = refine * spectral_nodes_needed(width)
        while True:
            checkpoint()
            sp = MarchenkoPasturBulk(width, c, size)
            x, its, ok = _solve_v(k, sp, alpha_p, lam, x0)
            iterations += its
            _, _, _, vhat = _v_map(x, k, sp, alpha_p, lam)
            # 1/S has a pole at D = −(λ + V̂2)/V̂1; refine the spectral rule if it sits close to the bulk.
            pole = (lam + vhat[1]) / (c * vhat[0]) if vhat[0] > 0 else math.inf
            needed = refine * spectral_nodes_needed(width, pole if math.isfinite(pole) else None)
            if needed <= size:
                break
            size, x0 = needed, x
        lin = _downstream(x, k, sp, alpha_p, lam, width, channel)
    values = {
        "q1": float(lin.q[0]),
        "q2": float(lin.q[1]),
        "V1": float(x[0]),
        "V2": float(x[1]),
        "t": lin.t,
        "psi": lin.psi,
        "m": lin.m,
    }
    if channel is not None:
        values["s"] = lin.s
    finite = all(math.isfinite(v) for v in (*values.values(), lin.test_error, lin.train_error))
    residual = full_residual(cm, sp, width, alpha_p, lam, values, channel) if finite else math.inf
    converged = ok and finite and math.isfinite(residual) and residual <= ACCEPTED_RESIDUAL
    # Errors are means of squares: a negative one is cancellation, never a solution.
    converged = converged and lin.test_error >= 0.0 and lin.train_error >= 0.0
    return FixedPoint(
        **values,  # "s" only with the channel (the field defaults to 0)
        test_error=lin.test_error,
        train_error=lin.train_error,
        converged=bool(converged),
        iterations=iterations,
        residual=float(residual),
        fit_fraction=fit_fraction(cm, x) if finite else 1.0,
    )
