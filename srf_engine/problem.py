"""The problem every computation is about: activations, first step, width, noise (docs/theory.md §1–3)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .activations import Activation, get_activation
from .errors import InvalidParameterError
from .teachers import MultiIndexTeacher, is_multi_index, multi_index_teacher


def _finite(field: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(field, "must be a number") from None
    if not math.isfinite(value):
        raise InvalidParameterError(field, "must be a finite number")
    return value


def check_nonnegative(field: str, value: float) -> float:
    value = _finite(field, value)
    if value < 0:
        raise InvalidParameterError(field, f"must be ≥ 0, got {value}")
    return value


def check_positive(field: str, value: float) -> float:
    value = _finite(field, value)
    if value <= 0:
        raise InvalidParameterError(field, f"must be > 0, got {value}")
    return value


def check_list(field: str, values: Any, check: Callable[[str, float], float], rule: str) -> tuple[float, ...]:
    """A non-empty list, each element checked by ``check`` (named ``field[i]``); ``rule`` if not a list."""
    try:
        items = tuple(values)
    except TypeError:
        raise InvalidParameterError(field, rule) from None
    if not items:
        raise InvalidParameterError(field, "must hold at least one value")
    return tuple(check(f"{field}[{i}]", v) for i, v in enumerate(items))


def check_alphas(alphas: Any, field: str = "alphas") -> tuple[float, ...]:
    """Sample ratios ``α = n/d``: a non-empty list of finite numbers > 0."""
    return check_list(field, alphas, check_positive, "must be a list of numbers > 0")


@dataclass(frozen=True)
class SRFParams:
    """Spiked random features ``W = √c W0 + r u vᵀ/√d`` with target overlap ``γ = θ·v/d`` (§3)."""

    c: float
    r: float
    gamma: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "c", check_positive("srf.c", self.c))
        object.__setattr__(self, "r", _finite("srf.r", self.r))
        gamma = _finite("srf.gamma", self.gamma)
        if not -1.0 <= gamma <= 1.0:
            raise InvalidParameterError("srf.gamma", f"must lie in [-1, 1], got {gamma}")
        object.__setattr__(self, "gamma", gamma)

    @property
    def rho(self) -> float:
        """``ρ = √(1 − γ²)``: the target's weight on the direction orthogonal to the spike."""
        return math.sqrt(max(0.0, 1.0 - self.gamma * self.gamma))

    def as_dict(self) -> dict[str, float]:
        return {"c": self.c, "r": self.r, "gamma": self.gamma}


@dataclass(frozen=True)
class Problem:
    """Student ``σ``, teacher ``σ*``, first step ``(η̃, α0)``, width ``ψ_w = p/d``, noise ``Δ``.

    The model of docs/theory.md §1–§3: labels ``y = σ*(θ·x/√d) + √Δ ξ``; a two-layer network of width
    ``p`` takes one gradient step of normalised size ``learning_rate = η̃ ≥ 0`` on ``n0 = alpha0·d``
    samples, then its readout is fitted by ridge. ``student``/``teacher``: an activation name
    (``ACTIVATION_NAMES``), ``{"hermite": [c0, c1, …]}`` or an :class:`Activation`; the teacher may also
    be ``{"multi_index": …}`` (a :class:`~srf_engine.teachers.MultiIndexTeacher`, docs/theory.md §11:
    simulations only, the theory refuses it). ``srf`` (an
    :class:`SRFParams` or ``{"c", "r", "gamma"}``) given directly skips the network → sRF mapping.
    Every field is checked here (``InvalidParameterError`` naming it), once.
    """

    student: Activation
    teacher: Activation | MultiIndexTeacher
    learning_rate: float = 0.0
    alpha0: float = 0.0
    width: float = 1.0
    noise: float = 0.0
    srf: SRFParams | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "student", get_activation(self.student, "student"))
        teacher = self.teacher
        # a multi-index teacher (docs/theory.md §11) is simulated only; the theory refuses it
        if is_multi_index(teacher):
            teacher = multi_index_teacher(teacher)
        else:
            teacher = get_activation(teacher, "teacher")
        object.__setattr__(self, "teacher", teacher)
        object.__setattr__(self, "learning_rate", check_nonnegative("learning_rate", self.learning_rate))
        object.__setattr__(self, "alpha0", check_nonnegative("alpha0", self.alpha0))
        object.__setattr__(self, "width", check_positive("width", self.width))
        object.__setattr__(self, "noise", check_nonnegative("noise", self.noise))
        if self.srf is not None and not isinstance(self.srf, SRFParams):
            srf = self.srf
            if not isinstance(srf, dict) or set(srf) != {"c", "r", "gamma"}:
                raise InvalidParameterError("srf", 'must be {"c": >0, "r": number, "gamma": [-1, 1]}')
            object.__setattr__(self, "srf", SRFParams(**srf))

    @property
    def has_step(self) -> bool:
        """Whether a first step happens (``η̃ > 0`` and ``α0 > 0``) or ``srf`` is given."""
        return self.srf is not None or (self.learning_rate > 0 and self.alpha0 > 0)

    def at_initialisation(self) -> Problem:
        """The same problem without the first step: the random-features baseline."""
        return Problem(self.student, self.teacher, 0.0, 0.0, self.width, self.noise, None)
