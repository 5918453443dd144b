"""Row-norm spread of the first layer after one giant step (docs/theory.md §10.4): ``V_c`` derived.

After the step, row ``i`` of the bulk (``W1`` minus its mean row, projected off the spike) has squared
norm ``c + dc_i``, and ``V_c = Σ_i dc_i² = p Var_i(dc_i)`` is of order one. With ``τ = σ' − μ1`` and
``u_μ = w_i·x_μ``, row ``i`` of the step without its spike part is
``w_i + η̃ Δ_i``, ``Δ_i = (1/n0) Σ_μ e_μ τ(u_μ) x_μ``; splitting ``x_μ = u_μ w_i + x̃_μ``,

    ‖w_i + η̃ Δ_i‖² = (1 + η̃ A_i)² + η̃² R_i,   A_i = (1/n0) Σ_μ e_μ τ(u_μ) u_μ,
    R_i = (1/n0²) ‖Σ_μ e_μ τ(u_μ) x̃_μ‖² = D_i + O_i   (diagonal μ = ν and off-diagonal μ ≠ ν parts).

The mean row and ``Π`` change ``dc_i`` by ``O(1/d)`` only. The variance across rows at a fixed first
batch is ``Var(N_i) − Cov(N_i, N_j)`` (rows are independent given ``X0``); with ``w_i`` fixed the
``u_μ`` are i.i.d. ``N(0, 1)`` and independent of ``x̃_μ``, which gives, per ``1/d`` (``s0 = 1 + η̃ b1 E e``
the row shrink, ``a_i = θ̂·w_i ~ N(0, 1/d)`` the row's overlap with the teacher):

- ``A``: ``4 η̃² s0² E[e²] Var(uτ)/α0``;
- ``D``: ``η̃⁴ E[e⁴] Var(τ²)/α0³``;
- ``O``: ``2 η̃⁴ E[e²]² (E τ²)²/α0²`` (its mean over one sample vanishes: ``E τ = 0``);
- ``A × D``: ``4 η̃³ s0 E[e³] Cov(uτ, τ²)/α0²`` (``A × O`` and ``D × O`` vanish);
- teacher overlap: ``(2 η̃ s0 μ1* E[u²τ] + η̃² E[κ e²] E[u τ²]/α0)²`` (the row means move with ``a_i``).

``V_c = ψ_w × (sum)``. A Gaussian surrogate of the rows (``N(0, Σ/d)``, docs/theory.md §10.3) would
give ``2 ψ_w E[Σ²]`` instead: the rows' exact norm and the fourth moments of ``σ'`` remove most of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..activations import Activation
from ..problem import Problem, SRFParams
from .mapping import step_statistics
from .quadrature import kappa_rule

Array = np.ndarray

_NODES = 400


@dataclass(frozen=True)
class SlopeMoments:
    """Gaussian moments of ``τ(u) = σ'(u) − μ1``, ``u ~ N(0, 1)``, that ``V_c`` needs."""

    b1: float  # E[u τ]
    var_u_tau: float  # Var(u τ)
    tau2: float  # E τ² = Var σ'
    var_tau2: float  # Var(τ²)
    cov_u_tau_tau2: float  # Cov(u τ, τ²)
    u2_tau: float  # E[u² τ] = E σ'''
    u_tau2: float  # E[u τ²]


def slope_moments(student: Activation) -> SlopeMoments:
    """:class:`SlopeMoments` of ``student`` (Gauss–Legendre panels split at its kinks)."""
    rule = kappa_rule(_NODES, tuple(student.kinks) or (0.0,))
    u, w = rule.nodes, rule.weights
    ds = np.asarray(student.derivative(u), dtype=float)
    tau = ds - float(w @ ds)
    t2 = tau * tau
    b1 = float(w @ (u * tau))
    e_t2 = float(w @ t2)
    return SlopeMoments(
        b1=b1,
        var_u_tau=float(w @ (u * u * t2)) - b1 * b1,
        tau2=e_t2,
        var_tau2=max(0.0, float(w @ (t2 * t2)) - e_t2 * e_t2),
        cov_u_tau_tau2=float(w @ (u * tau * t2)) - b1 * e_t2,
        u2_tau=float(w @ (u * u * tau)),
        u_tau2=float(w @ (u * t2)),
    )


@dataclass(frozen=True)
class ResidualMoments:
    """Moments of the step's residual ``e = σ*(κ) + √Δ ξ − μ0`` (docs/theory.md §10.2)."""

    mean: float
    m2: float
    m3: float
    m4: float
    kappa_e2: float  # E[κ e²]
    mu1_star: float  # E[κ e] = E[κ σ*(κ)]


def residual_moments(problem: Problem, mu0: float) -> ResidualMoments:
    rule = kappa_rule(_NODES, tuple(problem.teacher.kinks))
    k, w = rule.nodes, rule.weights
    a = np.asarray(problem.teacher(k), dtype=float) - mu0
    s2 = problem.noise  # e = a + √Δ ξ: Gaussian moments of ξ in closed form
    a2 = a * a
    return ResidualMoments(
        mean=float(w @ a),
        m2=float(w @ a2) + s2,
        m3=float(w @ (a2 * a)) + 3.0 * s2 * float(w @ a),
        m4=float(w @ (a2 * a2)) + 6.0 * s2 * float(w @ a2) + 3.0 * s2 * s2,
        kappa_e2=float(w @ (k * a2)),
        mu1_star=float(w @ (k * a)),
    )


@dataclass(frozen=True)
class RowNormSpread:
    """``V_c`` and its terms (module docstring), each already multiplied by ``ψ_w``."""

    a_term: float
    d_term: float
    o_term: float
    ad_term: float
    overlap_term: float

    @property
    def V_c(self) -> float:
        return self.a_term + self.d_term + self.o_term + self.ad_term + self.overlap_term

    def as_dict(self) -> dict[str, float]:
        return {
            "A": self.a_term,
            "D": self.d_term,
            "O": self.o_term,
            "AxD": self.ad_term,
            "overlap": self.overlap_term,
            "V_c": self.V_c,
        }


def row_norm_spread(problem: Problem) -> RowNormSpread:
    """``V_c`` of the first layer of ``problem`` after its step (module docstring; docs/theory.md §10.4).

    No step (or a given ``srf``) has rows of equal norm: ``V_c = 0``.
    """
    if not problem.has_step or problem.srf is not None:
        return RowNormSpread(0.0, 0.0, 0.0, 0.0, 0.0)
    st = step_statistics(problem)
    sm = slope_moments(problem.student)
    rm = residual_moments(problem, st.mu0)
    eta, psi = problem.learning_rate, problem.width
    # numpy scalars: an extreme α0 or η̃ gives inf (then no channel, see row_norm_weight), not an
    # exception from Python's float arithmetic
    inv = np.float64(1.0) / np.float64(problem.alpha0)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        s0 = 1.0 + eta * sm.b1 * rm.mean
        overlap = 2.0 * eta * s0 * rm.mu1_star * sm.u2_tau + eta**2 * rm.kappa_e2 * sm.u_tau2 * inv
        return RowNormSpread(
            a_term=float(psi * 4.0 * eta**2 * s0 * s0 * rm.m2 * sm.var_u_tau * inv),
            d_term=float(psi * eta**4 * rm.m4 * sm.var_tau2 * inv**3),
            o_term=float(psi * 2.0 * eta**4 * rm.m2**2 * sm.tau2**2 * inv**2),
            ad_term=float(psi * 4.0 * eta**3 * s0 * rm.m3 * sm.cov_u_tau_tau2 * inv**2),
            overlap_term=float(psi * overlap * overlap),
        )


def row_norm_weight(problem: Problem) -> float:
    """The weight of the isotropic row-norm channel (docs/theory.md §10.4): ``V_c`` without its
    teacher-overlap term, which is not isotropic (that part of ``dc_i`` is proportional to ``θ̂·w_i``, a
    direction the spike's projections already carry); 0 without a step or where it is not finite."""
    spread = row_norm_spread(problem)
    value = spread.V_c - spread.overlap_term
    return value if math.isfinite(value) else 0.0


def mu0_c(student: Activation, srf: SRFParams, kappa: Array, refine: int = 1) -> Array:
    """``μ0c(κ) = ∂μ0/∂c = E_z[σ''(rκ + √c z)]/2`` (docs/theory.md §10.4), as a fourth-order difference
    in ``c`` of the exact moment ``μ0 = E_z σ(rκ + √c z)`` (accurate to ~1e-10 for closed forms and
    quadrature alike; kinked students need no second derivative)."""
    h = 1e-3 * srf.c
    mean = srf.r * np.asarray(kappa, dtype=float)
    vals = [
        student.gaussian_moments(mean, np.full_like(mean, math.sqrt(srf.c + j * h)), refine)[0]
        for j in (-2, -1, 1, 2)
    ]
    return (8.0 * (vals[2] - vals[1]) - (vals[3] - vals[0])) / (12.0 * h)
