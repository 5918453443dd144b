"""The fixed point of §5 for many points at once: the solver of ``solver.py``, vectorised over points.

Points (each a model ``(σ, σ*, c, r, γ, Δ, ψ_w)`` with its conditional moments, a sample ratio α and a
ridge λ) are stacked along a leading axis and iterated together. Every step of the per-point solver is
kept, point by point, through masks: safeguarded Newton on ``V = F(V)`` with the exact Jacobian
``J_F = K M``, the ray step along ``F(V) − V`` where Newton is rejected, the monotone iteration as the
last fallback, the spectral rule refined where ``1/S``'s pole nears the bulk, the downstream linear
solves of ``(t, m)`` and ``q``, and the literal residual of the seven-variable map that decides
``converged``. A converged or failed point stops moving (it is dropped from the arrays once half of
them have stopped); the others go on.

Only the isotropic Marchenko–Pastur bulk ``c·MP(ψ_w)`` without the row-norm channel is batched (its
sums are node sums); the one-step laws of §10.3 evaluate resolvents by root finding point by point and
stay with :func:`~srf_engine.theory.solver.solve_fixed_point`.

Rules of different sizes (``κ`` nodes grow with ``(r/√c)²``, spectral nodes near a pole) are padded to
the largest of a chunk by repeating their last node with weight 0, which changes no sum and keeps every
padded term finite wherever the real ones are. Each point's numbers equal those of the same point solved
alone to the solver's tolerance (the summation order differs: rounding only).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ..blas import single_threaded_blas
from ..cancel import checkpoint
from ..results import frozen_instance
from .bulk import MarchenkoPasturBulk
from .conditional import ConditionalMoments
from .quadrature import marchenko_pastur_rule, spectral_nodes_needed, spectral_nodes_needed_many
from .solver import (
    ACCEPTED_RESIDUAL,
    MAX_NEWTON_STEPS,
    RIDGELESS,
    TOLERANCE,
    FixedPoint,
    _Kappa,
    _monotone_fallback,
)

Array = np.ndarray

#: Array elements (points × nodes) iterated together: the few arrays of one map over a chunk stay in the
#: L2/L3 caches (a pass over a chunk then costs ~1 ns an element, against ~3 from memory), Python's
#: overhead per numpy call is still small against the pass, and one Newton step of a chunk takes well
#: under a millisecond, far inside the 0.1 s between cancellation checks.
CHUNK_ELEMENTS = 1 << 14
MAX_CHUNK_POINTS = 2048
#: A model with this many points is solved in chunks of its own, which share its κ arrays: every κ sum
#: of a chunk is then one matrix product (BLAS) against the model's arrays, none gathered.
SHARED_MIN_POINTS = 16
SHARED_CHUNK_ELEMENTS = 1 << 18
#: Lines of a grid (many models, the same number of points each) are solved several lines a chunk: one
#: numpy call then does the work of many lines, and the chunk's arrays stay in the L2/L3 caches.
LINES_ELEMENTS = 1 << 18


@dataclass(frozen=True)
class BatchModel:
    """One model of the batch: conditional moments, width ``ψ_w``, bulk scale ``c`` and the refinement."""

    cm: ConditionalMoments
    width: float
    c: float
    refine: int = 1


class _Models:
    """The κ-side arrays of every model, arranged for batched matrix products: one pass over a point's
    nodes gives several of its sums at once."""

    def __init__(self, models: Sequence[BatchModel]) -> None:
        self.single: list[dict[str, Array]] = []
        mean_free = []
        for m in models:
            cm, k = m.cm, _Kappa(m.cm)
            mean_free.append(k.mean_free)
            kmu1 = cm.kappa * cm.mu1
            w = cm.weights
            self.single.append(
                {
                    # ω = 1/(1 + MU·V)
                    "MU": np.stack([k.mu1sq, k.mu2sq], axis=1),
                    # (V̂1, V̂2)/α_p = WV ω, (M11, M12, M22)/α_p = WM ω²
                    "WV": np.stack([k.w_mu1sq, k.w_mu2sq]),
                    "WM": np.stack([k.w_mu1_4, k.w_mu12, k.w_mu2_4]),
                    # (a_h, a_0, a_1, b_h, b_0, ψ̂/α_p) = WD ω (solver._downstream)
                    "WD": np.stack(
                        [
                            w * kmu1 * cm.h,
                            w * kmu1 * cm.mu0,
                            w * kmu1 * kmu1,
                            w * cm.mu0 * cm.h,
                            w * cm.mu0 * cm.mu0,
                            w * cm.mu1 * cm.h1,
                        ]
                    ),
                    # E_κ[·], E_κ[μ1² ·], E_κ[μ2² ·]
                    "WT": np.stack([w, k.w_mu1sq, k.w_mu2sq]),
                    # E_κ[μ0⁴ ·]: the fit fraction's E[g²], g = μ0² ω (solver.fit_fraction)
                    "W04": (w * cm.mu0**4)[None, :],
                    "mu0": cm.mu0,
                    "kmu1": kmu1,
                    "h": cm.h,
                    "mu1h1": cm.mu1 * cm.h1,
                    "hh": cm.hh,
                }
            )
        self.mean_free = np.array(mean_free)
        self.sizes = np.array([m.cm.kappa.size for m in models])

    def gathered(self, which: Array) -> dict[str, Array]:
        """The arrays of the models ``which`` (one row per point), padded to the largest rule: its last
        node repeated (every term stays finite where the real ones are) with weight 0."""
        uniq, inverse = np.unique(which, return_inverse=True)
        size = int(self.sizes[uniq].max())
        out = {}
        for name in self.single[0]:
            axis = 0 if name == "MU" else -1
            rows = []
            for j in uniq:
                values = self.single[j][name]
                n = values.shape[axis]
                if n < size:
                    widths = [(0, 0)] * values.ndim
                    widths[axis] = (0, size - n)
                    values = np.pad(values, widths, mode="edge")
                    if name.startswith("W"):
                        values[..., n:] = 0.0
                rows.append(values)
            out[name] = np.stack(rows)[inverse]
        return out


def _mv(a: Array, v: Array) -> Array:
    """``a_i v_i`` for each point ``i`` (a batched matrix-vector product: one BLAS pass over the nodes)."""
    return (a @ v[..., None])[..., 0]


class _Chunk:
    """The arrays of a set of points: their models' κ arrays and their spectral rules.

    ``layout`` says how the κ arrays are held:

    - ``"shared"``: one model's, broadcast over the points; every κ sum is one matrix product;
    - ``"lines"``: one per line of ``per_line`` consecutive points of one model, padded to one length;
      every κ sum is one matrix product per line;
    - ``"rows"``: one per point, padded to one length; every κ sum is a batched matrix-vector product.
    """

    V_FIELDS = ("MU", "WV", "WM")

    def __init__(
        self,
        kappa: dict[str, Array],
        layout: str,
        D: Array,
        u: Array,
        alpha_p: Array,
        lam: Array,
        rule: tuple[Array, Array, Array] | None = None,
    ) -> None:
        """``D, u``: each row's spectral nodes and weights; ``rule``: ``(nodes, weights, scale)`` when
        every row's nodes are ``scale[i] · nodes`` with the same weights (its sums are then matrix
        products)."""
        self.kappa, self.layout = kappa, layout
        self.per_line = alpha_p.size // kappa["WV"].shape[0] if layout == "lines" else 0
        self.D, self.u = D, u
        self.alpha_p, self.lam = alpha_p, lam
        if rule is None:
            self.nodes_x, self.UD = None, np.stack([u * D, u, u * D * D], axis=1)
        else:
            x, w, scale = rule
            self.nodes_x, self.U = x, np.stack([w * x, w, w * x * x])
            self.scales = np.stack([scale, np.ones_like(scale), scale * scale], axis=1)

    def take(self, idx: Array | slice, fields: Sequence[str] | None = None) -> _Chunk:
        """The rows ``idx``, with the κ arrays ``fields`` only (default: all). Rows of a ``"lines"``
        chunk other than all of them come out as a ``"rows"`` chunk (their lines' arrays gathered)."""
        out = _Chunk.__new__(_Chunk)
        names = self.kappa if fields is None else fields
        out.layout, out.per_line = self.layout, self.per_line
        every = isinstance(idx, slice) and idx == slice(None)
        if self.layout == "shared" or (self.layout == "lines" and every):
            out.kappa = {k: self.kappa[k] for k in names}
        elif self.layout == "lines":
            line = np.arange(self.alpha_p.size)[idx] // self.per_line
            out.kappa = {k: self.kappa[k][line] for k in names}
            out.layout, out.per_line = "rows", 0
        else:
            out.kappa = {k: self.kappa[k][idx] for k in names}
        out.D, out.u, out.nodes_x = self.D[idx], self.u[idx], self.nodes_x
        if self.nodes_x is None:
            out.UD = self.UD[idx]
        else:
            out.U, out.scales = self.U, self.scales[idx]
        out.alpha_p, out.lam = self.alpha_p[idx], self.lam[idx]
        return out

    def spectral(self, v: Array, rows: slice = slice(None)) -> Array:
        """``(E[D v], E[v], E[D² v])[rows]`` over each row's spectral nodes."""
        if self.nodes_x is None:
            return _mv(self.UD[:, rows], v)
        out = v @ self.U[rows].T
        out *= self.scales[:, rows]
        return out

    def inverse_s(self, vhat: Array) -> Array:
        """``1/S = 1/(λ + V̂2 + V̂1 D)`` on each row's spectral nodes."""
        if self.nodes_x is None:
            s = (self.lam + vhat[:, 1])[:, None] + vhat[:, :1] * self.D
        else:
            s = (self.lam + vhat[:, 1])[:, None] + (vhat[:, 0] * self.scales[:, 0])[:, None] * self.nodes_x
        return np.reciprocal(s, out=s)

    def sums(self, name: str, v: Array) -> Array:
        """``Σ_j A[r, j] v[i, j]`` for the κ array ``A = kappa[name]`` (rows ``r``) and each point ``i``."""
        a = self.kappa[name]
        if self.layout == "shared":
            return v @ a.T
        if self.layout == "rows":
            return _mv(a, v)
        lines = a.shape[0]
        return (v.reshape(lines, -1, v.shape[-1]) @ a.transpose(0, 2, 1)).reshape(-1, a.shape[1])

    def omega(self, x: Array) -> Array:
        """``ω = 1/(1 + μ1² V1 + μ2² V2)`` on every node of every row."""
        mu = self.kappa["MU"]
        if self.layout == "shared":
            om = x @ mu.T
        elif self.layout == "rows":
            om = _mv(mu, x)
        else:
            om = (x.reshape(mu.shape[0], -1, 2) @ mu.transpose(0, 2, 1)).reshape(x.shape[0], -1)
        om += 1.0
        return np.reciprocal(om, out=om)

    def nodes(self, name: str) -> Array:
        """The per-node array ``kappa[name]``, shaped to combine with :meth:`column` values."""
        a = self.kappa[name]
        return a[:, None, :] if self.layout == "lines" else a

    def column(self, v: Array) -> Array:
        """The per-row values ``v``, shaped to combine with :meth:`nodes` arrays."""
        return v.reshape(self.kappa["WV"].shape[0], -1, 1) if self.layout == "lines" else v[:, None]

    def per_row(self, a: Array) -> Array:
        """A per-model value ``a`` (one row per model row of the κ arrays) repeated for each point."""
        return np.repeat(a, self.per_line, axis=0) if self.layout == "lines" else a

    def v_map(self, x: Array, om: Array | None = None) -> tuple[Array, Array, Array, Array, Array]:
        """``F(V)``, ``J_F = K M``, ``K``, ``(V̂1, V̂2)`` and ``M`` at ``V = x`` (rows: points), as
        ``solver._v_map``."""
        ap = self.alpha_p
        om = self.omega(x) if om is None else om
        vhat = ap[:, None] * self.sums("WV", om)
        inv_s = self.inverse_s(vhat)
        f = self.spectral(inv_s, slice(0, 2))
        k = self.spectral(inv_s * inv_s)  # (K12, K22, K11)
        m = self.sums("WM", om * om)  # (M11, M12, M22)/α_p
        m *= ap[:, None]
        k_mat = _symmetric(k[:, 2], k[:, 0], k[:, 1])
        m_mat = _symmetric(m[:, 0], m[:, 1], m[:, 2])
        return f, k_mat @ m_mat, k_mat, vhat, m_mat


def _symmetric(a11: Array, a12: Array, a22: Array) -> Array:
    """The 2×2 symmetric matrices ``[[a11, a12], [a12, a22]]`` of each row."""
    out = np.empty((a11.size, 2, 2))
    out[:, 0, 0], out[:, 0, 1], out[:, 1, 0], out[:, 1, 1] = a11, a12, a12, a22
    return out


def _solve2(a: Array, b: Array) -> tuple[Array, Array]:
    """Solve the 2×2 systems ``a x = b`` row by row; ``ok`` is false where ``a`` is singular."""
    det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]
    ok = np.isfinite(det) & (det != 0.0)
    safe = np.where(ok, det, 1.0)
    x0 = (a[:, 1, 1] * b[:, 0] - a[:, 0, 1] * b[:, 1]) / safe
    x1 = (a[:, 0, 0] * b[:, 1] - a[:, 1, 0] * b[:, 0]) / safe
    return np.stack([x0, x1], axis=1), ok


def _lapack2(a: Array, b: Array) -> Array:
    """``np.linalg.solve`` row by row (LAPACK, as the per-point solver: the same rounding on
    ill-conditioned systems); a singular or non-finite row gives NaN instead of stopping the batch."""
    try:
        return np.linalg.solve(a, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        out = np.full(b.shape, math.nan)
        for i in range(a.shape[0]):
            with contextlib.suppress(np.linalg.LinAlgError):
                out[i] = np.linalg.solve(a[i], b[i])
        return out


def _gmax(g: Array) -> Array:
    return np.max(np.abs(g), axis=1)


def _ray_steps(ch: _Chunk, x: Array, g: Array) -> tuple[Array, Array, Array, Array]:
    """``solver._ray_step`` for every row: the longest doubling step along ``g ≥ 0`` that keeps
    ``F(V) ≥ V``, else the plain step ``F(V)``."""
    n = x.shape[0]
    out_x, out_f, out_j, out_g = x.copy(), np.empty_like(x), np.empty((n, 2, 2)), np.empty_like(x)
    found = np.zeros(n, dtype=bool)
    alive = np.flatnonzero(np.all(g >= 0.0, axis=1))
    length = np.ones(n)
    sub = ch.take(alive) if alive.size < n else ch
    for _ in range(64):
        if alive.size == 0:
            break
        trial = x[alive] + 2.0 * length[alive, None] * g[alive]
        f_t, j_t, *_ = sub.v_map(trial)
        g_t = f_t - trial
        good = np.all(np.isfinite(g_t), axis=1) & np.all(g_t >= 0.0, axis=1)
        keep = alive[good]
        out_x[keep], out_f[keep], out_j[keep], out_g[keep] = trial[good], f_t[good], j_t[good], g_t[good]
        found[keep] = True
        length[keep] *= 2.0
        if not good.all():
            alive = keep
            sub = sub.take(np.flatnonzero(good))
    plain = np.flatnonzero(~found)
    if plain.size:
        xp = x[plain] + g[plain]
        f_p, j_p, *_ = (ch.take(plain) if plain.size < n else ch).v_map(xp)
        out_x[plain], out_f[plain], out_j[plain], out_g[plain] = xp, f_p, j_p, f_p - xp
    return out_x, out_f, out_j, out_g


def _solve_v(ch: _Chunk, start: Array) -> tuple[Array, Array, Array, Array]:
    """``solver._solve_v`` for every row: ``(x, steps, ok, exhausted)``; rows ``exhausted`` ran out of
    Newton steps and go to the monotone fallback.

    A row that is done stays in the arrays, frozen, until at most half of them are still iterating:
    then the others are dropped. Each drop copies arrays, which costs more than the work it saves
    while most rows are still live."""
    n = start.shape[0]
    x_out, steps, ok = start.copy(), np.zeros(n, dtype=int), np.zeros(n, dtype=bool)
    exhausted = np.zeros(n, dtype=bool)
    live = np.arange(n)  # the rows of ``cur``, by index in ``ch``
    active = np.ones(n, dtype=bool)  # of ``cur``'s rows, those still iterating
    cur = ch
    x = start.copy()
    f, jac, *_ = cur.v_map(x)
    g = f - x
    eye = np.eye(2)
    for step in range(1, MAX_NEWTON_STEPS + 1):
        checkpoint()
        finite = np.all(np.isfinite(g), axis=1)
        done_conv = finite & (_gmax(g) <= TOLERANCE * (1.0 + np.max(np.abs(x), axis=1)))
        done = active & (~finite | done_conv)
        if done.any():
            ids = live[done]
            x_out[ids], steps[ids], ok[ids] = x[done], step - 1, done_conv[done]
            active &= ~done
            keep = np.flatnonzero(active)
            if keep.size == 0:
                return x_out, steps, ok, exhausted
            if 2 * keep.size <= active.size:
                live, cur = live[keep], cur.take(keep, _Chunk.V_FIELDS)
                x, f, jac, g = x[keep], f[keep], jac[keep], g[keep]
                active = np.ones(keep.size, dtype=bool)
        dx, solvable = _solve2(jac - eye, -g)
        dx[~solvable] = g[~solvable]
        trial = x + dx
        valid = active & np.all(np.isfinite(trial), axis=1) & np.all(trial >= 0.0, axis=1)
        accepted = np.zeros(live.size, dtype=bool)
        if valid.any():
            # every row is evaluated (one pass, no copies): rows without a valid trial at their x
            if not valid.all():
                trial = np.where(valid[:, None], trial, x)
            f_t, j_t, *_ = cur.v_map(trial)
            g_t = f_t - trial
            accepted = valid & (_gmax(g_t) < _gmax(g))
            x[accepted], f[accepted], jac[accepted], g[accepted] = (
                trial[accepted],
                f_t[accepted],
                j_t[accepted],
                g_t[accepted],
            )
        rejected = np.flatnonzero(active & ~accepted)
        if rejected.size:
            sub = cur.take(rejected, _Chunk.V_FIELDS) if rejected.size < live.size else cur
            xr, fr, jr, gr = _ray_steps(sub, x[rejected], g[rejected])
            x[rejected], f[rejected], jac[rejected], g[rejected] = xr, fr, jr, gr
    exhausted[live[active]] = True
    steps[live[active]] = MAX_NEWTON_STEPS
    return x_out, steps, ok, exhausted


def _downstream(
    ch: _Chunk, x: Array, width: Array, c: Array, mean_free: Array, om: Array | None = None
) -> tuple[dict[str, Array], Array]:
    """``solver._downstream`` on the isotropic bulk (``F ≡ c``, ``H ≡ D``, ``C ≡ 0``), row by row, and
    the residual of the seven-variable map at the answer (``solver.full_residual``).

    The residual's ``κ`` averages are those of the solve, regrouped: at ``x``, ``V̂ = α_p E[μ²ω]``,
    ``t̂ = α_p E[ω κμ1 (h − ŷ)] = α_p (a_h − a_0 m − a_1 t)``, ``ψ̂``, and
    ``q̂ = α_p E[μ² ω² (e0 + μ1² q1 + μ2² q2)] = b + M q``; the spectral side, where the reductions of
    ``solver.py`` act, is written node by node as in ``full_residual``, and ``m`` is checked against
    its own equation ``m = (b_h − a_0 t)/b_0``.
    """
    ap = ch.alpha_p
    om = ch.omega(x) if om is None else om  # ω at x (overwritten below)
    f, jac, k_mat, vhat, m_mat = ch.v_map(x, om)
    a_h, a_0, a_1, b_h, b_0, psi_hat = ch.sums("WD", om).T
    psi_hat = ap * psi_hat
    beta = width * ap * (c * f[:, 1])  # b_f = c E[1/S]
    rhs = beta * a_h  # + ψ_w b_c ψ̂ with b_c = 0
    simple = mean_free | (b_0 <= 0.0)
    t = rhs / (1.0 + beta * a_1)
    m = np.zeros_like(t)
    full = np.flatnonzero(~simple)
    if full.size:
        system = np.empty((full.size, 2, 2))
        system[:, 0, 0] = 1.0 + beta[full] * a_1[full]
        system[:, 0, 1] = beta[full] * a_0[full]
        system[:, 1, 0] = a_0[full]
        system[:, 1, 1] = b_0[full]
        tm = _lapack2(system, np.stack([rhs[full], b_h[full]], axis=1))
        t[full], m[full] = tm[:, 0], tm[:, 1]
    t_hat = ap * (a_h - a_0 * m - a_1 * t)
    y_hat = ch.nodes("mu0") * ch.column(m) + ch.nodes("kmu1") * ch.column(t)
    psi = width * psi_hat * f[:, 0]  # b_h = E[D/S]
    e0 = y_hat - 2.0 * ch.nodes("h")
    e0 *= y_hat
    e0 += ch.nodes("hh")
    e0 -= ch.column(2.0 * psi) * ch.nodes("mu1h1")
    e0 = e0.reshape(om.shape)
    om *= om  # ω²
    cq = ch.sums("WV", om)  # (E[μ1² ω²], E[μ2² ω²])
    # fit fraction E[g]²/E[g²], g = μ0² ω (docs/theory.md §10.6): E[g] = b_0; 1 without a mean direction
    g2 = ch.sums("W04", om)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.minimum(1.0, b_0 * b_0 / g2)
    fraction = np.where(mean_free | ~(np.isfinite(g2) & (g2 > 0.0)), 1.0, fraction)
    om *= e0  # ω² e0
    train0, b1, b2 = ch.sums("WT", om).T
    b = ap[:, None] * np.stack([b1, b2], axis=1)
    # e = ψ_w (t̂² G_F + ψ̂² G_H) with G_F = c K[:, 1], G_H = K[:, 0].
    e = width[:, None] * (
        (t_hat * t_hat * c)[:, None] * k_mat[:, :, 1] + (psi_hat * psi_hat)[:, None] * k_mat[:, :, 0]
    )
    q = _lapack2(np.eye(2) - jac, _mv(k_mat, b) + e)
    # energy = e0 + μ1² q1 + μ2² q2: ε_g = E[energy], ε_t = E[ω² energy], summed term by term.
    test0 = ch.sums("WT", e0)[:, 0]
    mean_mu = ch.per_row(ch.kappa["WT"][..., 1:, :].sum(axis=-1))  # (E μ1², E μ2²)
    out = {
        "q1": q[:, 0],
        "q2": q[:, 1],
        "V1": x[:, 0].copy(),
        "V2": x[:, 1].copy(),
        "t": t,
        "psi": psi,
        "m": m,
        "test_error": test0 + np.sum(mean_mu * q, axis=1),
        "train_error": train0 + np.sum(cq * q, axis=1),
        "fit_fraction": fraction,
    }
    mq = _mv(m_mat, q)  # α_p E[μ_a² ω² (μ1² q1 + μ2² q2)]
    q_hat = b + mq
    # The spectral side of the map, node by node (F ≡ c, H ≡ D, C ≡ 0).
    D = ch.D
    inv_s = ch.inverse_s(vhat)
    A = (
        q_hat[:, :1] * D
        + q_hat[:, 1:]
        + width[:, None] * ((t_hat * t_hat * c)[:, None] + (psi_hat * psi_hat)[:, None] * D)
    )
    A *= inv_s * inv_s
    new = {"q1": ch.spectral(A, slice(0, 1))[:, 0], "q2": ch.spectral(A, slice(1, 2))[:, 0]}
    new["V1"], new["V2"] = ch.spectral(inv_s, slice(0, 2)).T
    new["t"] = width * t_hat * c * new["V2"]
    new["psi"] = width * psi_hat * new["V1"]
    with np.errstate(divide="ignore", invalid="ignore"):
        new["m"] = np.where(mean_free, 0.0, (b_h - a_0 * t) / np.where(mean_free, 1.0, b_0))
    residual = np.max(
        np.stack([np.abs(new[n] - out[n]) / (1.0 + np.abs(out[n])) for n in new], axis=1), axis=1
    )
    return out, residual


def solve_batch(
    models: Sequence[BatchModel],
    which: Sequence[int] | Array,
    alphas: Sequence[float] | Array,
    ridges: Sequence[float] | Array,
    starts: Array | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[FixedPoint]:
    """The fixed point of §5 at each point ``i``: model ``models[which[i]]``, ``α = alphas[i]``,
    ``λ = ridges[i]`` (0: the ridgeless limit, solved at ``RIDGELESS`` and checked at ``4·RIDGELESS``),
    warm-started from ``starts[i]`` (a row of NaN: cold). Equal to ``solve_fixed_point`` point by point.
    ``progress(k)`` is called as ``k`` more points are done."""
    which = np.asarray(which, dtype=int)
    alphas = np.asarray(alphas, dtype=float)
    ridges = np.asarray(ridges, dtype=float)
    n = which.size
    if n == 0:
        return []
    if starts is None:
        starts = np.full((n, 2), math.nan)
    # BLAS on one thread: these products are small (a chunk's points × a few rows), so with threads
    # the rounding, not only the speed, would depend on the thread count. Measured on a 100 × 100 grid
    # (2 cores): 0.7–0.8 of the CPU time of two BLAS threads; a wall clock 1.6× shorter while the
    # other core is busy, 15–20 % longer while it idles.
    with single_threaded_blas():
        return _solve_many(
            models, _Models(models), which, alphas, ridges, np.asarray(starts, dtype=float), progress
        )


def _solve_many(
    models: Sequence[BatchModel],
    stacked: _Models,
    which: Array,
    alphas: Array,
    ridges: Array,
    starts: Array,
    progress: Callable[[int], None] | None = None,
) -> list[FixedPoint]:
    """The points at their ridges; λ = 0 is solved at ``RIDGELESS`` and checked at ``4·RIDGELESS``
    (``solver._ridgeless``): a limit that still moves is not converged."""
    zero = ridges == 0.0
    lam = np.where(zero, RIDGELESS, ridges)
    out = _solve(models, stacked, which, alphas, lam, starts, progress)
    if zero.any():
        idx = np.flatnonzero(zero)
        check_starts = np.array([out[i].V for i in idx])
        check = _solve(models, stacked, which[idx], alphas[idx], 4.0 * lam[idx], check_starts)
        for i, fp in zip(idx, check, strict=True):
            base = out[i]
            if abs(fp.test_error - base.test_error) > 1e-8 * abs(base.test_error):
                out[i] = replace(base, converged=False)
    return out


def _solve(
    models: Sequence[BatchModel],
    stacked: _Models,
    which: Array,
    alphas: Array,
    lam: Array,
    starts: Array,
    progress: Callable[[int], None] | None = None,
) -> list[FixedPoint]:
    n = which.size
    width = np.array([m.width for m in models])[which]
    c = np.array([m.c for m in models])[which]
    refine = np.array([m.refine for m in models])[which]
    alpha_p = alphas / width
    size = np.array([m.refine * spectral_nodes_needed(m.width) for m in models])[which]
    x0 = np.where(np.isnan(starts), 0.0, np.maximum(starts, 0.0))
    iterations = np.zeros(n, dtype=int)
    results: list[FixedPoint | None] = [None] * n
    pending = np.arange(n)
    with np.errstate(all="ignore"):
        while pending.size:
            # Similar rules together: little padding in each chunk.
            order = pending[np.lexsort((size[pending], stacked.sizes[which[pending]]))]
            counts = np.bincount(which[order], minlength=len(models))
            own = counts[which[order]] >= SHARED_MIN_POINTS
            again: list[int] = []
            pieces: list[tuple[Array, int | Array | None]] = []
            big = np.flatnonzero(counts >= SHARED_MIN_POINTS)
            per_line = int(np.gcd.reduce(counts[big])) if big.size else 0
            nodes = stacked.sizes + int(size.max())
            if (
                big.size > 1
                and per_line >= SHARED_MIN_POINTS
                and per_line * nodes[big].max() <= LINES_ELEMENTS
            ):
                # Many models with many points each (the lines of a grid): lines of ``per_line`` points
                # of one model, several lines a chunk, each line's κ sums one matrix product.
                pieces += _lines(
                    order, which, big[np.argsort(stacked.sizes[big], kind="stable")], per_line, nodes
                )
            else:
                # A model with many points: its chunks share its κ arrays (matrix products, no copies).
                grouped, offsets = _by_model(order, which)
                for j in big:
                    mine = grouped[offsets[j] : offsets[j + 1]]
                    chunks = _chunks(mine, stacked.sizes[which[mine]] + size[mine], SHARED_CHUNK_ELEMENTS)
                    pieces += [(ids, int(j)) for ids in chunks]
            # The others, a few points per model: their κ arrays gathered, padded to one length.
            rest = order[~own]
            pieces += [(ids, None) for ids in _chunks(rest, stacked.sizes[which[rest]] + size[rest])]
            for ids, source in pieces:
                redo = _solve_chunk(
                    models,
                    stacked,
                    ids,
                    which,
                    alpha_p,
                    lam,
                    width,
                    c,
                    refine,
                    size,
                    x0,
                    iterations,
                    results,
                    source,
                )
                again += redo
                if progress is not None:
                    progress(ids.size - len(redo))
            pending = np.array(again, dtype=int)
    return results  # type: ignore[return-value]


def _by_model(order: Array, which: Array) -> tuple[Array, Array]:
    """``order`` grouped by model (stable: each model's points keep their order) and the offsets of
    the groups: model ``j``'s points are ``grouped[offsets[j] : offsets[j + 1]]``."""
    grouped = order[np.argsort(which[order], kind="stable")]
    counts = np.bincount(which[order], minlength=int(which.max()) + 1)
    return grouped, np.concatenate([[0], np.cumsum(counts)])


def _lines(
    order: Array, which: Array, models: Array, per_line: int, nodes: Array
) -> list[tuple[Array, int | Array | None]]:
    """The points of ``models`` (in ``order``) cut into lines of ``per_line`` points of one model, and
    consecutive lines grouped into chunks of about ``LINES_ELEMENTS`` elements (``nodes[j]`` a point
    of model ``j``): ``(point ids, the model of each line)`` per chunk."""
    grouped, offsets = _by_model(order, which)
    lines = []
    for j in models.tolist():
        mine = grouped[offsets[j] : offsets[j + 1]]
        lines += [(j, mine[lo : lo + per_line]) for lo in range(0, mine.size, per_line)]
    out: list[tuple[Array, int | Array | None]] = []
    lo = 0
    while lo < len(lines):
        hi, widest = lo + 1, int(nodes[lines[lo][0]])
        while hi < len(lines):
            wider = max(widest, int(nodes[lines[hi][0]]))
            if (hi - lo + 1) * per_line * wider > LINES_ELEMENTS:
                break
            hi, widest = hi + 1, wider
        chunk = lines[lo:hi]
        out.append((np.concatenate([ids for _, ids in chunk]), np.array([j for j, _ in chunk])))
        lo = hi
    return out


def _chunks(order: Array, nodes: Array, budget: int = CHUNK_ELEMENTS) -> list[Array]:
    """Consecutive pieces of ``order`` of about ``budget`` elements (``nodes`` per point)."""
    out, lo = [], 0
    while lo < order.size:
        per = max(16, min(MAX_CHUNK_POINTS, budget // int(nodes[lo])))
        out.append(order[lo : lo + per])
        lo += per
    return out


def _spectral(width: Array, c: Array, size: Array) -> tuple[Array, Array, tuple[Array, Array, Array] | None]:
    """``(D, u)`` of ``c·MP(ψ_w)`` with ``size`` nodes per row, padded like the κ rules, and the rule
    ``(nodes, weights, c)`` of ``MP(ψ_w)`` when every row has the same ``(ψ_w, size)``."""
    pairs = np.unique(np.stack([width, size.astype(float)], axis=1), axis=0)
    rules = {(float(w), int(z)): marchenko_pastur_rule(float(w), int(z)) for w, z in pairs}
    top = max(r.nodes.size for r in rules.values())
    D = np.empty((width.size, top))
    u = np.zeros((width.size, top))
    for (w, z), r in rules.items():
        at = (width == w) & (size == z)
        k = r.nodes.size
        D[at, :k] = c[at, None] * r.nodes
        D[at, k:] = D[at, k - 1 : k]
        u[at, :k] = r.weights
    if len(rules) > 1:
        return D, u, None
    (only,) = rules.values()
    return D, u, (only.nodes, only.weights, c)


def _solve_chunk(
    models: Sequence[BatchModel],
    stacked: _Models,
    ids: Array,
    which: Array,
    alpha_p: Array,
    lam: Array,
    width: Array,
    c: Array,
    refine: Array,
    size: Array,
    x0: Array,
    iterations: Array,
    results: list[FixedPoint | None],
    source: int | Array | None,
) -> list[int]:
    """Solve the points ``ids`` at their current spectral rule: all of model ``source`` (an int), lines of
    equal length of the models ``source`` (an array: one model a line), or of any models (``None``).
    Returns the points whose pole asks a finer rule (``size`` and ``x0`` updated), filling ``results``
    for the others."""
    mi = which[ids]
    if source is None:
        ch_kappa, layout = stacked.gathered(mi), "rows"
    elif isinstance(source, int):
        ch_kappa, layout = stacked.single[source], "shared"
    else:
        ch_kappa, layout = stacked.gathered(source), "lines"
    D, u, rule = _spectral(width[ids], c[ids], size[ids])
    ch = _Chunk(ch_kappa, layout, D, u, alpha_p[ids], lam[ids], rule)
    x, steps, ok, exhausted = _solve_v(ch.take(slice(None), _Chunk.V_FIELDS), x0[ids])
    for j in np.flatnonzero(exhausted):  # rare: the per-point monotone iteration
        i = ids[j]
        model = models[which[i]]
        bulk = MarchenkoPasturBulk(model.width, model.c, int(size[i]))
        x[j], steps[j], ok[j] = _monotone_fallback(_Kappa(model.cm), bulk, float(alpha_p[i]), float(lam[i]))
    iterations[ids] += steps
    om = ch.omega(x)
    vhat = ch.alpha_p[:, None] * ch.sums("WV", om)  # (V̂1, V̂2) at the answer
    # 1/S has a pole at D = −(λ + V̂2)/V̂1: refine the spectral rule where it sits close to the bulk.
    with np.errstate(divide="ignore", invalid="ignore"):
        pole = np.where(vhat[:, 0] > 0, (lam[ids] + vhat[:, 1]) / (c[ids] * vhat[:, 0]), np.nan)
    pole = np.where(np.isfinite(pole), pole, np.nan)
    needed = np.empty(ids.size, dtype=int)
    for w in np.unique(width[ids]):
        at = width[ids] == w
        needed[at] = spectral_nodes_needed_many(float(w), pole[at])
    needed *= refine[ids]
    finer = needed > size[ids]
    again = ids[finer]
    size[again], x0[again] = needed[finer], x[finer]
    done = ~finer
    if not done.any():
        return again.tolist()
    sel = np.flatnonzero(done)
    sub, om = (ch.take(sel), om[sel]) if sel.size < ids.size else (ch, om)
    xs = x[sel]
    mean_free = stacked.mean_free[mi[sel]]
    v, residual = _downstream(sub, xs, width[ids[sel]], c[ids[sel]], mean_free, om)
    names = ("q1", "q2", "V1", "V2", "t", "psi", "m")
    finite = np.all(np.isfinite(np.stack([v[k] for k in (*names, "test_error", "train_error")])), axis=0)
    residual = np.where(finite & np.isfinite(residual), residual, math.inf)
    converged = ok[sel] & finite & np.isfinite(residual) & (residual <= ACCEPTED_RESIDUAL)
    converged &= (v["test_error"] >= 0.0) & (v["train_error"] >= 0.0)
    rows = zip(
        ids[sel].tolist(),
        *(v[k].tolist() for k in (*names, "test_error", "train_error")),
        converged.tolist(),
        iterations[ids[sel]].tolist(),
        residual.tolist(),
        np.where(finite, v["fit_fraction"], 1.0).tolist(),
        strict=True,
    )
    for i, q1, q2, V1, V2, t, psi, m, test, train, conv, its, res, fraction in rows:
        values = {"q1": q1, "q2": q2, "V1": V1, "V2": V2, "t": t, "psi": psi, "m": m}
        values.update(test_error=test, train_error=train, converged=conv, iterations=its, residual=res)
        values.update(s=0.0, fit_fraction=fraction)
        results[i] = frozen_instance(FixedPoint, values)
    return again.tolist()
