"""srf_engine: the spiked random-features theory of one giant gradient step, and its simulations.

Cui, Pesce, Dandi, Krzakala, Lu, Zdeborová, Loureiro, *Asymptotics of feature learning in two-layer
networks after one gradient-step*, ICML 2024 (arXiv:2402.04980). Notation follows docs/theory.md.

The Python API is three names; the HTTP service computes exactly the same numbers:

>>> from srf_engine import Problem, simulate, theory_curve
>>> problem = Problem("tanh", "sin", learning_rate=3, alpha0=20)    # σ, σ*, η̃, α0 (§1–§3)
>>> curve = theory_curve(problem, [0.2, 0.9, 1.6], ridge=0.1)        # the limit d → ∞ (§5)
>>> round(curve.points[0].test_error, 6)
0.048483
>>> sim = simulate(problem, [0.5], ridge=0.1, dimension=200, seeds=2)  # the network at d = 200 (§2)
>>> sim.points[0].test_error.mean > 0
True

- :class:`Problem`: student ``σ`` and teacher ``σ*`` (names from :data:`ACTIVATION_NAMES` or
  ``{"hermite": [c0, c1, …]}``), first step ``(learning_rate η̃, alpha0 α0)``, ``width p/d``, label
  ``noise Δ``, optional ``srf=(c, r, γ)`` skipping the network → sRF mapping.
- :func:`theory_curve`: test and training errors of the limit along ``α = n/d``, with the no-step
  baseline (:class:`TheoryCurve`).
- :func:`simulate`: finite-size simulations over seeds (:class:`SimulationResult`), and
  :func:`estimate_cost` for their memory and time.
"""

from .activations import ACTIVATION_NAMES, ACTIVATIONS, Activation, get_activation, hermite_activation
from .errors import Cancelled, InvalidParameterError, SRFEngineError, UnknownActivationError
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
from .theory.mapping import map_to_srf, mapping_warnings
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
from .theory.curve import theory_curve

__all__ += ["estimate_cost", "simulate", "theory_curve"]
