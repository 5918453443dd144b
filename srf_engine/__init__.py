"""srf_engine: the spiked random-features theory of one giant gradient step, and its simulations.

Cui, Pesce, Dandi, Krzakala, Lu, Zdeborová, Loureiro, *Asymptotics of feature learning in two-layer
networks after one gradient-step*, ICML 2024 (arXiv:2402.04980). Notation follows docs/theory.md.
"""

from .activations import ACTIVATION_NAMES, ACTIVATIONS, Activation, get_activation, hermite_activation
from .errors import Cancelled, InvalidParameterError, SRFEngineError, UnknownActivationError
from .mapping import map_to_srf, mapping_warnings
from .problem import Problem, SRFParams
from .results import (
    BaselinePoint,
    CostEstimate,
    ErrorStats,
    SimulationPoint,
    SimulationResult,
    TheoryCurve,
    TheoryPoint,
)
from .version import ENGINE_VERSION

__version__ = ENGINE_VERSION

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_NAMES",
    "ENGINE_VERSION",
    "Activation",
    "BaselinePoint",
    "Cancelled",
    "CostEstimate",
    "ErrorStats",
    "InvalidParameterError",
    "Problem",
    "SRFEngineError",
    "SRFParams",
    "SimulationPoint",
    "SimulationResult",
    "TheoryCurve",
    "TheoryPoint",
    "UnknownActivationError",
    "get_activation",
    "hermite_activation",
    "map_to_srf",
    "mapping_warnings",
]

from .simulation import estimate_cost, simulate

__all__ += ["estimate_cost", "simulate"]
