"""Training protocols beyond one step (docs/theory.md §11): readout law, steps, batches, growing step.

Engine types, checked once at the entry (``InvalidParameterError(field, rule)``) and trusted below:

- :class:`ReadoutLaw`: the readout at initialisation ``a_i = u_i/√p`` with ``u_i`` i.i.d. from a law
  (``uniform``: ``u ≡ 1``, the paper's; ``rademacher``; ``gaussian``; a finite law of atoms);
- :class:`Protocol`: the readout law, the step counts ``steps`` (a grid axis), ``batches``
  (``fresh``/``reused``) and ``learning_rate_exponent`` β (``η̃_eff = η̃·d^β``).

The default protocol is the paper's (one step, uniform readout, β = 0) and gives today's numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, Literal

from .errors import InvalidParameterError, clip

READOUT_NAMES: tuple[str, ...] = ("uniform", "rademacher", "gaussian")
BATCHES: tuple[str, ...] = ("fresh", "reused")
MAX_STEPS = 64
MAX_ATOMS = 16
MAX_ATOM_VALUE = 100.0
MAX_EXPONENT = 1.0


@dataclass(frozen=True)
class ReadoutLaw:
    """Law of ``u_i = √p a_i`` at initialisation: a name, or (``kind = "finite"``) atoms and weights."""

    kind: Literal["uniform", "rademacher", "gaussian", "finite"] = "uniform"
    values: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()

    @property
    def uniform(self) -> bool:
        """``u ≡ 1`` (also a finite law with the single atom 1): the paper's readout."""
        return self.kind == "uniform" or (self.kind == "finite" and self.values == (1.0,))

    @property
    def spec(self) -> str | dict[str, list[float]]:
        """The canonical JSON form."""
        if self.kind == "finite":
            return {"values": list(self.values), "weights": list(self.weights)}
        return self.kind

    def moments(self) -> tuple[float, float]:
        """``(E u, E u²)``."""
        if self.kind == "uniform":
            return 1.0, 1.0
        if self.kind == "rademacher":
            return 0.0, 1.0
        if self.kind == "gaussian":
            return 0.0, 1.0
        m1 = sum(w * v for v, w in zip(self.values, self.weights, strict=True))
        m2 = sum(w * v * v for v, w in zip(self.values, self.weights, strict=True))
        return m1, m2


UNIFORM = ReadoutLaw()


def _number(field: str, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise InvalidParameterError(field, f"{what} must be finite numbers, got {clip(value)!r}")
    return 0.0 if value == 0 else float(value)


def readout_law(spec: Any) -> ReadoutLaw:
    """``"uniform" | "rademacher" | "gaussian"`` or ``{"values": [...], "weights": [...]}`` (1–16 atoms,
    values in [-100, 100], weights > 0 summing to 1 within 1e-9; they are renormalised exactly)."""
    if isinstance(spec, ReadoutLaw):
        return spec
    if spec is None:
        return UNIFORM
    if isinstance(spec, str):
        if spec not in READOUT_NAMES:
            raise InvalidParameterError(
                "readout", f'must be one of {", ".join(READOUT_NAMES)} or {{"values", "weights"}}; got '
                f"{clip(spec)!r}"
            )
        return ReadoutLaw(kind=spec)  # type: ignore[arg-type]
    if not isinstance(spec, Mapping) or set(spec) != {"values", "weights"}:
        raise InvalidParameterError(
            "readout", 'must be a law name or {"values": [u1, …], "weights": [π1, …]}'
        )
    values, weights = spec["values"], spec["weights"]
    for name, items in (("values", values), ("weights", weights)):
        if not isinstance(items, Sequence) or isinstance(items, str) or not 1 <= len(items) <= MAX_ATOMS:
            raise InvalidParameterError("readout", f"{name} must be a list of 1 to {MAX_ATOMS} numbers")
    if len(values) != len(weights):
        raise InvalidParameterError("readout", "values and weights must have the same length")
    vs = tuple(_number("readout", v, "values") for v in values)
    ws = tuple(_number("readout", w, "weights") for w in weights)
    if any(abs(v) > MAX_ATOM_VALUE for v in vs):
        bound = f"{MAX_ATOM_VALUE:g}"
        raise InvalidParameterError("readout", f"values must lie in [-{bound}, {bound}]")
    if any(w <= 0 for w in ws):
        raise InvalidParameterError("readout", "weights must be > 0")
    total = math.fsum(ws)
    if abs(total - 1.0) > 1e-9:
        raise InvalidParameterError("readout", f"weights must sum to 1, got {total}")
    return ReadoutLaw(kind="finite", values=vs, weights=tuple(w / total for w in ws))


def check_steps(steps: Any) -> tuple[int, ...]:
    """One step count 1 … 64 or a non-empty list of them (distinct), in the given order."""
    items = (steps,) if not isinstance(steps, Sequence) or isinstance(steps, str) else tuple(steps)
    if not items:
        raise InvalidParameterError("steps", "must hold at least one value")
    out = []
    for t in items:
        if isinstance(t, bool) or not isinstance(t, Integral | Real) or t != int(t):
            raise InvalidParameterError("steps", f"must be integers from 1 to {MAX_STEPS}, got {clip(t)!r}")
        if not 1 <= int(t) <= MAX_STEPS:
            raise InvalidParameterError("steps", f"must be from 1 to {MAX_STEPS}, got {int(t)}")
        out.append(int(t))
    if len(set(out)) != len(out):
        raise InvalidParameterError("steps", "must be distinct")
    return tuple(out)


@dataclass(frozen=True)
class Protocol:
    """How the first layer is trained before the ridge readout (docs/theory.md §11.1)."""

    readout: ReadoutLaw = UNIFORM
    steps: tuple[int, ...] = (1,)
    batches: Literal["fresh", "reused"] = "fresh"
    learning_rate_exponent: float = 0.0

    @classmethod
    def build(
        cls,
        *,
        readout: Any = "uniform",
        steps: Any = 1,
        batches: Any = "fresh",
        learning_rate_exponent: Any = 0.0,
    ) -> Protocol:
        """Check every field once (``InvalidParameterError`` naming it)."""
        if batches not in BATCHES:
            raise InvalidParameterError("batches", f'must be "fresh" or "reused", got {clip(batches)!r}')
        beta = learning_rate_exponent
        if isinstance(beta, bool) or not isinstance(beta, Real) or not math.isfinite(beta):
            raise InvalidParameterError("learning_rate_exponent", "must be a number in [0, 1]")
        if not 0.0 <= beta <= MAX_EXPONENT:
            raise InvalidParameterError("learning_rate_exponent", f"must lie in [0, 1], got {beta}")
        return cls(
            readout=readout_law(readout),
            steps=check_steps(steps),
            batches=batches,
            learning_rate_exponent=0.0 if beta == 0 else float(beta),
        )

    @property
    def max_steps(self) -> int:
        return max(self.steps)

    @property
    def one_step(self) -> bool:
        """The paper's protocol: one step, uniform readout, β = 0 (the one-step theory's domain)."""
        return self.steps == (1,) and self.readout.uniform and self.learning_rate_exponent == 0.0

    def step_scale(self, dimension: int) -> float:
        """``d^β``: the growing step's factor on η̃ (exactly 1 for β = 0)."""
        return 1.0 if self.learning_rate_exponent == 0.0 else float(dimension) ** self.learning_rate_exponent

    def refusal(self) -> tuple[str, str] | None:
        """``(field, rule)`` of the first field the one-step theory does not cover, or ``None``."""
        where = "; POST /simulate answers this protocol"
        if self.steps != (1,):
            return "steps", "the theory covers steps = 1 only" + where
        if not self.readout.uniform:
            return "readout", 'the theory covers readout = "uniform" only' + where
        if self.learning_rate_exponent != 0.0:
            return "learning_rate_exponent", "the theory covers learning_rate_exponent = 0 only" + where
        return None


DEFAULT_PROTOCOL = Protocol()
