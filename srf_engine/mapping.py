"""Network → sRF mapping (docs/theory.md §3): the first giant step as a rank-one spike plus a bulk rescaling.

With ``z ~ N(0, 1)``: ``μ1 = E[σ'(z)]``, ``μ1* = E[z σ*(z)]``, ``‖y‖² = E σ*(z)² + Δ``,
``ς² = E[(σ'(z) − μ1)²]``, ``s = √(μ1*² + ‖y‖²/α0)`` and

    r = η̃ μ1 s,     c = 1 + η̃² ‖y‖² ς² / α0,     γ = μ1* / s.

No step (``η̃ = 0`` or ``α0 = 0``) is random features: ``c = 1, r = 0``; ``γ`` then does not enter the
errors, and is reported as ``μ1*/s`` (``0`` when ``α0 = 0``).
"""

from __future__ import annotations

import math

from .problem import Problem, SRFParams

#: Message attached to results whose mapping leaves its assumptions (docs/theory.md §3, centering caveat).
NON_CENTERED_WARNING = (
    "student activation {name!r} is not centred (E σ(z) = {mean:.4g}): the network → sRF mapping "
    "assumes E σ(z) = 0, so the theory can miss network simulations by 15–20 % (docs/theory.md §3); "
    "use a centred activation such as 'relu_centered', or give 'srf' directly"
)


def map_to_srf(problem: Problem) -> SRFParams:
    """``(c, r, γ)`` of the sRF model equivalent to one step of the network described by ``problem``."""
    if problem.srf is not None:
        return problem.srf
    _, mu1, _ = problem.student.standard_moments()
    _, mu1_star, teacher_second = problem.teacher.standard_moments()
    if problem.alpha0 == 0.0:
        return SRFParams(c=1.0, r=0.0, gamma=0.0)
    y_norm2 = teacher_second + problem.noise
    spike = math.sqrt(mu1_star**2 + y_norm2 / problem.alpha0)
    gamma = mu1_star / spike if spike > 0 else 0.0
    varsigma2 = max(0.0, problem.student.derivative_second_moment - mu1 * mu1)
    eta = problem.learning_rate
    return SRFParams(
        c=1.0 + eta * eta * y_norm2 * varsigma2 / problem.alpha0,
        r=eta * mu1 * spike,
        gamma=max(-1.0, min(1.0, gamma)),
    )


def mapping_warnings(problem: Problem) -> list[str]:
    """Warnings for a result whose mapping leaves the assumptions under which it was derived."""
    warnings: list[str] = []
    if problem.srf is None and problem.has_step and not problem.student.centered:
        warnings.append(NON_CENTERED_WARNING.format(name=problem.student.name, mean=problem.student.mean))
    return warnings
