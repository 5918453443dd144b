"""What a simulation is asked to do, checked once: model, d, α's, λ's, seeds, test samples.

:meth:`SimulationSpec.build` is the only place the simulation's own arguments are validated; the cost
model, the plan and the seed runs below it (docs/theory.md §8) take a :class:`SimulationSpec` and
trust it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

import numpy as np

from ..errors import InvalidParameterError
from ..problem import check_alphas
from ..theory.mapping import DEFAULT_MAPPING, check_mapping

Model = Literal["network", "srf", "random_features"]
MODELS: tuple[str, ...] = ("network", "srf", "random_features")
Precision = Literal["float64", "float32"]
#: Arithmetic of the simulation's large products (first step, features, Gram and test products); the ridge
#: solve and every sum of errors stay float64 (docs/scaling.md).
PRECISIONS: tuple[str, ...] = ("float64", "float32")
#: Smallest λ float32 accepts: the readout amplifies the features' rounding by the Gram matrix's condition
#: number, ~1/λ near α = ψ_w. Measured at d = 400 (tanh, α0 = 20, η̃ = 3) against float64 on the same seeds:
#: λ ≥ 0.01 moves errors by ≤ 2e-5 relative, λ = 1e-3 by up to 9e-4, λ = 1e-4 the training error by 8 %.
MIN_FLOAT32_RIDGE = 0.01


def default_test_samples(dimension: int) -> int:
    """Default number of test samples: ``max(2000, 2d)``.

    The test error of a fixed ``ŵ`` is then estimated to about ``√(2/n_test) ≈ 3 %`` relative, no more
    than the seed-to-seed fluctuation of the trained readout at ``d ≤ 2000`` (docs/theory.md §7), at a cost
    (``2 n_test p d``) below that of the features of an α = 2 sweep.
    """
    return max(2000, 2 * dimension)


def check_int(field: str, value: Any, minimum: int) -> int:
    """An integer ≥ ``minimum`` (an integral float such as ``3.0`` is accepted)."""
    if isinstance(value, bool) or not isinstance(value, Integral | Real):
        raise InvalidParameterError(field, "must be an integer")
    if (
        isinstance(value, Real)
        and not isinstance(value, Integral)
        and (not math.isfinite(value) or value != int(value))
    ):
        raise InvalidParameterError(field, f"must be an integer, got {value}")
    value = int(value)
    if value < minimum:
        raise InvalidParameterError(field, f"must be ≥ {minimum}, got {value}")
    return value


def check_precision(precision: Any) -> str:
    if precision not in PRECISIONS:
        raise InvalidParameterError("precision", f"must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    return str(precision)


def check_model(model: Any) -> str:
    if model not in MODELS:
        raise InvalidParameterError("model", f"must be one of {', '.join(MODELS)}; got {model!r}")
    return str(model)


def _as_tuple(field: str, values: Any) -> tuple[Any, ...]:
    """A list, tuple or array as a tuple (strings are not lists of numbers)."""
    if isinstance(values, str | bytes):
        raise InvalidParameterError(field, "must be a number or a list of numbers")
    try:
        return tuple(values)
    except TypeError:
        raise InvalidParameterError(field, "must be a number or a list of numbers") from None


def check_seeds(seeds: Any) -> tuple[int, ...]:
    """A count ``k`` (seeds ``0…k−1``) or a list of distinct integers ≥ 0."""
    if isinstance(seeds, Integral | Real) and not isinstance(seeds, bool):
        return tuple(range(check_int("seeds", seeds, 1)))
    values = tuple(check_int("seeds", s, 0) for s in _as_tuple("seeds", seeds))
    if not values:
        raise InvalidParameterError("seeds", "must hold at least one seed")
    if len(set(values)) != len(values):
        raise InvalidParameterError("seeds", "must be distinct")
    return values


def check_ridges(ridge: Any) -> tuple[float, ...]:
    """One λ ≥ 0 or a non-empty list of them."""
    values = (ridge,) if isinstance(ridge, Real | bool) else _as_tuple("ridge", ridge)
    if not values:
        raise InvalidParameterError("ridge", "must hold at least one value")
    out = []
    for lam in values:
        if isinstance(lam, bool) or not isinstance(lam, Real) or not math.isfinite(lam):
            raise InvalidParameterError("ridge", f"must be finite numbers ≥ 0, got {lam!r}")
        if lam < 0:
            raise InvalidParameterError("ridge", f"must be ≥ 0, got {lam}")
        out.append(float(lam))
    return tuple(out)


@dataclass(frozen=True)
class SimulationSpec:
    """A checked simulation request (build it with :meth:`build`; the fields are then trusted)."""

    model: str
    dimension: int
    alphas: tuple[float, ...]
    ridges: tuple[float, ...]
    seeds: tuple[int, ...]
    test_samples: int
    precision: str = "float64"
    #: Network → sRF mapping of the (c, r, γ) a "srf" model simulates and a "network" one reports
    #: (docs/theory.md §3, §10.2); not used with a given srf or by "random_features".
    mapping: str = DEFAULT_MAPPING

    @classmethod
    def build(
        cls,
        *,
        model: Any = "network",
        dimension: Any = 1000,
        alphas: Any,
        ridge: Any = 0.1,
        seeds: Any = 3,
        test_samples: Any = None,
        precision: Any = "float64",
        mapping: Any = DEFAULT_MAPPING,
    ) -> SimulationSpec:
        """Check every argument (``InvalidParameterError`` naming the field) and fill in the defaults."""
        model = check_model(model)
        d = check_int("dimension", dimension, 2)
        alpha_values = check_alphas(alphas, "alphas")
        for a in alpha_values:
            if round(a * d) < 1:
                raise InvalidParameterError(
                    "alphas", f"α·dimension must round to ≥ 1 sample; α = {a}, d = {d}"
                )
        precision = check_precision(precision)
        ridges = check_ridges(ridge)
        if precision == "float32" and min(ridges) < MIN_FLOAT32_RIDGE:
            raise InvalidParameterError(
                "precision",
                f"float32 needs every ridge ≥ {MIN_FLOAT32_RIDGE} (a smaller λ amplifies float32 rounding by "
                "the Gram matrix's condition number, ~1/λ); use float64",
            )
        if test_samples is None:
            n_test = default_test_samples(d)
        else:
            n_test = check_int("test_samples", test_samples, 1)
        return cls(
            model=model,
            dimension=d,
            alphas=alpha_values,
            ridges=ridges,
            seeds=check_seeds(seeds),
            test_samples=n_test,
            precision=precision,
            mapping=check_mapping(mapping),
        )

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the large products (``precision``)."""
        return np.dtype(self.precision)

    @property
    def zero_ridge(self) -> bool:
        """Whether λ = 0 is among the ridges (the pseudo-inverse readout)."""
        return any(lam == 0 for lam in self.ridges)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Distinct training-set sizes ``n = round(α d)``, ascending."""
        return tuple(sorted({round(a * self.dimension) for a in self.alphas}))
