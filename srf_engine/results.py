"""Result types of the engine: plain frozen dataclasses, JSON-ready through ``as_dict``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .problem import SRFParams


@dataclass(frozen=True)
class TheoryPoint:
    """The fixed point of docs/theory.md §5 at one ``(α, λ)``."""

    alpha: float
    test_error: float
    train_error: float
    ridge: float
    converged: bool
    iterations: int
    residual: float
    overlaps: dict[str, float]


@dataclass(frozen=True)
class BaselinePoint:
    """Random features at initialisation (no step) at the same ``(α, λ)``."""

    alpha: float
    test_error: float
    train_error: float
    ridge: float
    converged: bool = True


@dataclass(frozen=True)
class TheoryCurve:
    srf: SRFParams
    points: list[TheoryPoint]
    baseline: list[BaselinePoint]
    warnings: list[str] = field(default_factory=list)
    mapping: str = "paper"  # docs/theory.md §3 ("paper") or §10.2 ("corrected")
    bulk: str = "marchenko_pastur"  # docs/theory.md §5 ("marchenko_pastur") or §10.3 ("one_step")

    def as_dict(self) -> dict[str, Any]:
        return {
            "mapping": self.mapping,
            "bulk": self.bulk,
            "srf": self.srf.as_dict(),
            "points": [asdict(p) for p in self.points],
            "baseline": [asdict(p) for p in self.baseline],
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
    alpha: float
    ridge: float
    test_error: ErrorStats
    train_error: ErrorStats


@dataclass(frozen=True)
class SimulationResult:
    model: str
    dimension: int
    srf: SRFParams
    seeds: tuple[int, ...]
    points: list[SimulationPoint]
    warnings: list[str] = field(default_factory=list)
    #: Model ``network``: per seed, the measured sRF of its first layer (docs/theory.md §10):
    #: ``c_eff, r, gamma, row_shrink, V_c, spectrum_edges, spectrum_quantiles``.
    first_layer: tuple[dict[str, Any], ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        out = {
            "model": self.model,
            "dimension": self.dimension,
            "srf": self.srf.as_dict(),
            "seeds": list(self.seeds),
            "points": [asdict(p) for p in self.points],
            "warnings": list(self.warnings),
        }
        if self.first_layer is not None:
            out["first_layer"] = [dict(f) for f in self.first_layer]
        return out


@dataclass(frozen=True)
class CostEstimate:
    """Predicted peak memory (bytes), floating-point work and wall time (seconds) of a simulation."""

    memory_bytes: int
    flops: float
    seconds: float
