"""The limit d → ∞ (docs/theory.md §3–§7, §10): from a problem to its test and training errors.

One module a step of the calculation, each importing only the ones above it in this list:

- ``quadrature``: Gauss–Hermite and spectral rules (§6.2–§6.3);
- ``mapping``: the network → sRF map ``(c, r, γ)``, paper and corrected (§3, §10.2);
- ``conditional``: the conditional Gaussian equivalence ``μ0, μ1, μ2``, the target's ``h, h1, hh`` (§4);
- ``bulk``, ``onestep``, ``sampled_bulk``: the spectral side, Marchenko–Pastur, one-step laws (§5, §10.3);
- ``rownorm``: the row-norm channel's weight (§10.4);
- ``solver``: the fixed point of §5/§10.1 and its errors;
- ``curve``: sweeps along α and grids, warm starts, optimal λ and η̃ (:func:`theory_curve`);
- ``function``: the learned function along κ;
- ``fidelity``: measured accuracy ranges against the network, by regime (§10.5);
- ``cost``: the time model of a curve, for the service's synchronous-time check.

Theory for random readouts and multi-index targets (§12), a parallel path: ``readout`` (laws, per-class
mapping and moments), ``multiindex`` (targets), ``class_spectrum`` and ``class_onestep`` (the K-atom bulk
laws), ``class_solver`` (the K-class fixed point), ``class_curve`` (:func:`readout_curve`,
:func:`readout_function`).
"""

from .class_curve import readout_curve, readout_function
from .curve import theory_curve
from .readout import ReadoutLaw

__all__ = ["ReadoutLaw", "readout_curve", "readout_function", "theory_curve"]
