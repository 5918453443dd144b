"""Network → sRF mapping: the first giant step as a rank-one spike plus a bulk (docs/theory.md §3, §10.2).

With ``z ~ N(0, 1)``: ``μ1 = E[σ'(z)]``, ``μ1* = E[z σ*(z)]``, ``ς² = Var σ'(z)``.

- ``"paper"`` (§3): ``‖y‖² = E σ*(z)² + Δ``, ``s = √(μ1*² + ‖y‖²/α0)``,
  ``r = η̃ μ1 s``, ``c = 1 + η̃² ‖y‖² ς²/α0``, ``γ = μ1*/s``. Exact for a centred student and ``E y = 0``.
- ``"corrected"`` (§10.2): the step's residual is ``e = y − f0 ≈ y − μ0`` (``μ0 = E σ(z)``), and Stein's
  lemma on ``E[e σ'(w·x) x]`` shrinks every row by ``1 + η̃ b1 E e`` (``b1 = E[z σ'(z)]``):
  ``‖g0‖² = μ1*² + E[e²]/α0``, ``r = η̃ μ1 ‖g0‖``, ``γ = μ1*/‖g0‖``,
  ``c = (1 + η̃ b1 E e)² + η̃² ς² E[e²]/α0``. It equals ``"paper"`` when ``E e = 0`` and ``μ0 = 0``.

No step (``η̃ = 0`` or ``α0 = 0``) is random features: ``c = 1, r = 0``; ``γ`` then does not enter the
errors, and is reported as ``μ1*/s`` (``0`` when ``α0 = 0``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..activations import Activation
from ..errors import InvalidParameterError
from ..problem import Problem, SRFParams

Mapping = Literal["paper", "corrected"]
MAPPINGS: tuple[str, ...] = ("paper", "corrected")
#: The mapping of the theory and of an sRF simulation unless asked otherwise (§10.2).
DEFAULT_MAPPING: Mapping = "corrected"

#: Message attached to results whose mapping leaves its assumptions (docs/theory.md §3, centering caveat).
NON_CENTERED_WARNING = (
    "student activation {name!r} is not centred (E σ(z) = {mean:.4g}): the paper's network → sRF mapping "
    "assumes E σ(z) = 0, so its theory misses network simulations by up to tens of percent "
    "(docs/fidelity.md, column paper+MP; docs/theory.md §3, §10); "
    "use mapping 'corrected' (docs/theory.md §10.2), a centred activation such as 'relu_centered', "
    "or give 'srf' directly"
)


def check_mapping(mapping: object) -> Mapping:
    if mapping not in MAPPINGS:
        raise InvalidParameterError("mapping", f"must be one of {', '.join(map(repr, MAPPINGS))}")
    return mapping  # type: ignore[return-value]


def curvature(student: Activation) -> float:
    """``b1 = E[z σ'(z)] = E σ''(z)`` of the student (:attr:`Activation.curvature`)."""
    return student.curvature


@dataclass(frozen=True)
class StepStatistics:
    """What one giant step is made of (docs/theory.md §10.2): residual moments and student slopes."""

    learning_rate: float
    alpha0: float
    mu0: float  # E σ(z): the network's output at initialisation
    mu1: float  # E σ'(z)
    b1: float  # E[z σ'(z)] = E σ''(z)
    varsigma2: float  # Var σ'(z)
    mu1_star: float  # E[z σ*(z)]
    e_mean: float  # E e, e = y − μ0
    e2: float  # E e²

    @property
    def row_shrink(self) -> float:
        """``1 + η̃ b1 E e``: every row of ``W0`` is multiplied by it (Stein's lemma)."""
        return 1.0 + self.learning_rate * self.b1 * self.e_mean

    @property
    def spike_norm(self) -> float:
        """``‖g0‖ = √(μ1*² + E[e²]/α0)``."""
        return math.sqrt(self.mu1_star**2 + self.e2 / self.alpha0)

    @property
    def orthogonal_slope2(self) -> float:
        """``s⊥² = ς² − b1²``: the part of ``σ'`` not linear in its argument."""
        return max(0.0, self.varsigma2 - self.b1 * self.b1)


def step_statistics(problem: Problem) -> StepStatistics:
    """Moments of the first step of ``problem`` (``α0 > 0``)."""
    mu0, mu1, _ = problem.student.standard_moments()
    t_mean, mu1_star, t_second = problem.teacher.standard_moments()
    return StepStatistics(
        learning_rate=problem.learning_rate,
        alpha0=problem.alpha0,
        mu0=mu0,
        mu1=mu1,
        b1=curvature(problem.student),
        varsigma2=max(0.0, problem.student.derivative_second_moment - mu1 * mu1),
        mu1_star=mu1_star,
        e_mean=t_mean - mu0,
        e2=t_second + problem.noise - 2.0 * mu0 * t_mean + mu0 * mu0,
    )


def map_to_srf(problem: Problem, mapping: Mapping = "paper") -> SRFParams:
    """``(c, r, γ)`` of the sRF model equivalent to one step of the network described by ``problem``."""
    if problem.srf is not None:
        return problem.srf
    if problem.alpha0 == 0.0:
        return SRFParams(c=1.0, r=0.0, gamma=0.0)
    st = step_statistics(problem)
    eta = problem.learning_rate
    if mapping == "corrected":
        spike, shrink, residual2 = st.spike_norm, st.row_shrink, st.e2
    else:
        _, _, t_second = problem.teacher.standard_moments()
        residual2 = t_second + problem.noise
        spike, shrink = math.sqrt(st.mu1_star**2 + residual2 / problem.alpha0), 1.0
    gamma = st.mu1_star / spike if spike > 0 else 0.0
    c = shrink * shrink + eta * eta * residual2 * st.varsigma2 / problem.alpha0
    r = eta * st.mu1 * spike
    if not (math.isfinite(c) and math.isfinite(r)):
        # name what the user sent: the first batch is too small (or the step too large) for finite (c, r)
        raise InvalidParameterError(
            "alpha0", f"gives no finite sRF parameters with learning_rate = {eta:g} (c = {c}, r = {r})"
        )
    return SRFParams(c=c, r=r, gamma=max(-1.0, min(1.0, gamma)))


def mapping_warnings(problem: Problem, mapping: Mapping = "paper") -> list[str]:
    """Warnings for a result whose mapping leaves the assumptions under which it was derived."""
    warnings: list[str] = []
    if mapping == "paper" and problem.srf is None and problem.has_step and not problem.student.centered:
        warnings.append(NON_CENTERED_WARNING.format(name=problem.student.name, mean=problem.student.mean))
    return warnings
