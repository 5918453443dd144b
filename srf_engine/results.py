"""Result types of the engine: plain frozen dataclasses, JSON-ready through ``as_dict``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from .problem import SRFParams

#: The six coordinates every point of a grid carries, in the order of its axes' names in a response.
COORDINATES = ("alpha", "learning_rate", "alpha0", "ridge", "noise", "width")
#: Fields of a simulation point left out when ``None``: the step count (a coordinate only when asked)
#: and the per-step measurement of the first layer (only after a step).
OPTIONAL = ("steps", "first_layer")

T = TypeVar("T")


def frozen_instance(cls: type[T], values: dict[str, Any]) -> T:
    """The frozen dataclass ``cls`` with every field from ``values``, built without its ``__init__``.

    That ``__init__`` sets each field through ``object.__setattr__``, about 4× the cost of filling the
    instance's dictionary at once, and a grid builds up to 3 × 10⁵ points (measured: 5.2 µs against
    1.1 µs a point). ``values`` must name every field, defaults included."""
    if values.keys() != cls.__dataclass_fields__.keys():  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__} needs exactly the fields {sorted(cls.__dataclass_fields__)}")  # type: ignore[attr-defined]
    out = object.__new__(cls)
    out.__dict__.update(values)
    return out


def _point_dict(point: Any, with_srf: bool) -> dict[str, Any]:
    """A point's fields, its six coordinates first; ``srf`` only where the mapping varies."""
    values = asdict(point)
    srf = values.pop("srf", None)
    out = {name: values.pop(name) for name in COORDINATES}
    # protocols (docs/theory.md §11): a point carries its step count only when steps were asked for,
    # and what its first layer learned only after a step
    for name in OPTIONAL:
        if name in values and values[name] is None:
            del values[name]
    if "steps" in values:
        out["steps"] = values.pop("steps")
    if with_srf and srf is not None:
        out["srf"] = srf
    out.update(values)
    return out


@dataclass(frozen=True)
class TheoryPoint:
    """The fixed point of docs/theory.md §5 at one point ``(ψ_w, Δ, α0, η̃, λ, α)`` of a grid."""

    alpha: float
    test_error: float | None
    train_error: float | None
    ridge: float
    converged: bool
    iterations: int
    residual: float
    overlaps: dict[str, float]
    learning_rate: float = 0.0
    alpha0: float = 0.0
    noise: float = 0.0
    width: float = 1.0
    srf: SRFParams | None = None


@dataclass(frozen=True)
class BaselinePoint:
    """Random features at initialisation (no step) for the grid point with the same coordinates."""

    alpha: float
    test_error: float | None
    train_error: float | None
    ridge: float
    converged: bool = True
    learning_rate: float = 0.0
    alpha0: float = 0.0
    noise: float = 0.0
    width: float = 1.0


@dataclass(frozen=True)
class TheoryCurve:
    """Theory and baseline at every point of a grid (a curve: only ``α`` varies).

    ``srf`` is the mapping shared by every point, or ``None`` when it varies between points (each
    point then carries its own); ``grid`` is ``{"axes": [{"name", "values"}], "shape": [...]}``.
    """

    srf: SRFParams | None
    points: list[TheoryPoint]
    baseline: list[BaselinePoint]
    warnings: list[str] = field(default_factory=list)
    grid: dict[str, Any] = field(default_factory=lambda: {"axes": [], "shape": []})
    mapping: str = "paper"  # docs/theory.md §3 ("paper") or §10.2 ("corrected")
    bulk: str = "marchenko_pastur"  # docs/theory.md §5 ("marchenko_pastur") or §10.3 ("one_step", …)
    #: ``{"dimension", "seed"}`` of the first batch of bulk ``"one_step_sampled"`` (else ``None``).
    bulk_sample: dict[str, int] | None = None
    row_norm: bool = False  # whether docs/theory.md §10.4's row-norm channel entered some point
    #: Why ``bulk``/``row_norm`` differ from the ones asked for (None: as asked).
    theory_reason: str | None = None
    #: The measured accuracy of the theory used (docs/fidelity.md): regime, ranges in %, validated.
    fidelity: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        varies = self.srf is None
        out: dict[str, Any] = {"mapping": self.mapping, "bulk": self.bulk, "row_norm": self.row_norm}
        out["theory_reason"] = self.theory_reason
        out["fidelity"] = None if self.fidelity is None else dict(self.fidelity)
        if self.bulk_sample is not None:
            out["bulk_sample"] = dict(self.bulk_sample)
        return out | {
            "srf": None if self.srf is None else self.srf.as_dict(),
            "grid": self.grid,
            "points": [_point_dict(p, varies) for p in self.points],
            "baseline": [_point_dict(p, False) for p in self.baseline],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class ErrorStats:
    """Statistics over seeds: mean, sample std (ddof=1, 0 for one seed), sem = std/√seeds, values."""

    mean: float
    std: float
    sem: float
    values: tuple[float, ...]


@dataclass(frozen=True)
class SimulationPoint:
    """Statistics over seeds at one point ``(ψ_w, Δ, α0, η̃, λ, α)`` of a grid."""

    alpha: float
    ridge: float
    test_error: ErrorStats
    train_error: ErrorStats
    learning_rate: float = 0.0
    alpha0: float = 0.0
    noise: float = 0.0
    width: float = 1.0
    srf: SRFParams | None = None
    #: The number of giant steps (docs/theory.md §11.1), only when the request asks for steps.
    steps: int | None = None
    #: Network after a step: per step ``t = 1 … steps`` the mean and sem over seeds of the top singular
    #: values of ``(W_t − W_0)/√p`` and of the ``|cos|`` of their right singular vectors with each θ_j.
    first_layer: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class SimulationResult:
    """``srf`` is shared by every point, or ``None`` when it varies (each point then carries its own)."""

    model: str
    dimension: int
    srf: SRFParams | None
    seeds: tuple[int, ...]
    points: list[SimulationPoint]
    warnings: list[str] = field(default_factory=list)
    grid: dict[str, Any] = field(default_factory=lambda: {"axes": [], "shape": []})
    #: Model ``network``: per seed, the measured sRF of its first layer (docs/theory.md §10):
    #: ``c_eff, r, gamma, row_shrink, V_c, spectrum_edges, spectrum_quantiles`` (after the last step) and,
    #: after a step, ``steps``: per step ``{"step", "singular_values", "overlaps"}`` (§11.1).
    first_layer: tuple[dict[str, Any], ...] | None = None
    #: The network → sRF mapping of ``srf`` (None: given, or random features).
    mapping: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dimension": self.dimension,
            "srf": None if self.srf is None else self.srf.as_dict(),
            "mapping": self.mapping,
            "seeds": list(self.seeds),
            "grid": self.grid,
            "points": [_point_dict(p, self.srf is None) for p in self.points],
            "warnings": list(self.warnings),
            **({} if self.first_layer is None else {"first_layer": [dict(f) for f in self.first_layer]}),
        }


@dataclass(frozen=True)
class CostEstimate:
    """Predicted peak memory (bytes), floating-point work and wall time (seconds) of a simulation."""

    memory_bytes: int
    flops: float
    seconds: float
