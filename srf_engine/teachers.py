"""Multi-index teachers (docs/theory.md §11): ``y = g(z_1, …, z_k) + √Δ ξ``, ``z_j = θ_j·x/√d``.

``g`` is data, never code: a ``sum`` of one activation per direction, ``Σ_j σ_j(z_j)``, plus
``hermite_terms``, products ``c · Π_j He_{n_j}(z_j)/√(n_j!)`` of orthonormal (probabilists') Hermite
polynomials. :func:`multi_index_teacher` checks a JSON-like description once
(``InvalidParameterError("teacher", rule)``); the :class:`MultiIndexTeacher` it returns is trusted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Any

import numpy as np

from .activations import Activation, get_activation
from .errors import InvalidParameterError, clip

Array = np.ndarray

#: Most directions ``k`` of a multi-index teacher.
MAX_DIRECTIONS = 8
#: Most Hermite products, and the highest total degree of one.
MAX_HERMITE_TERMS = 64
MAX_TOTAL_DEGREE = 8
#: Bound on a product's coefficient (as on Hermite coefficients of activations).
MAX_COEFFICIENT = 100.0

FIELD = "teacher"
#: What the theory endpoints answer to a multi-index teacher.
MULTI_INDEX_REFUSAL = "the theory covers single-index teachers; POST /simulate answers a multi-index teacher"


@dataclass(frozen=True)
class HermiteTerm:
    """``coefficient · Π_j He_{orders[j]}(z_j)/√(orders[j]!)``."""

    coefficient: float
    orders: tuple[int, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"coefficient": self.coefficient, "orders": list(self.orders)}


@dataclass(frozen=True)
class MultiIndexTeacher:
    """``g(z) = Σ_j sum[j](z_j) + Σ_t terms[t]``, on ``k`` directions (shorter lists are padded: a
    direction without an activation adds nothing, an ``orders`` entry left out is order 0)."""

    k: int
    sum: tuple[Activation, ...] = ()
    terms: tuple[HermiteTerm, ...] = ()
    #: The canonical JSON form (what cache keys hash).
    spec: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return f"multi_index(k={self.k})"

    def __call__(self, z: Array) -> Array:
        """``g`` on rows of ``z`` (``n × k``): one vectorised pass per direction and per term."""
        out = np.zeros(z.shape[0])
        for j, act in enumerate(self.sum):
            out += np.asarray(act(z[:, j]), dtype=float)
        if self.terms:
            top = [max(t.orders[j] for t in self.terms) for j in range(self.k)]
            tables = [_normalised_hermite(z[:, j], top[j]) for j in range(self.k)]
            for term in self.terms:
                product = np.full(z.shape[0], term.coefficient)
                for j, n in enumerate(term.orders):
                    if n:
                        product *= tables[j][n]
                out += product
        return out

    def linear_part(self) -> Array:
        """``E[z_j g]`` for each direction (Stein: the ``He_1`` coefficient along ``z_j``)."""
        coeffs = np.zeros(self.k)
        for j, act in enumerate(self.sum):
            coeffs[j] += act.standard_moments()[1]
        for term in self.terms:
            nonzero = [j for j, n in enumerate(term.orders) if n]
            if len(nonzero) == 1 and term.orders[nonzero[0]] == 1:
                coeffs[nonzero[0]] += term.coefficient
        return coeffs


def _normalised_hermite(x: Array, top: int) -> list[Array]:
    """``[He_n(x)/√(n!) for n = 0 … top]`` by the recurrence ``He_{n+1} = x He_n − n He_{n−1}``."""
    out = [np.ones_like(x)]
    if top >= 1:
        out.append(x.copy())
    for n in range(1, top):
        # h_{n+1} = (x h_n − √n h_{n−1})/√(n+1) for h_n = He_n/√(n!)
        out.append((x * out[n] - math.sqrt(n) * out[n - 1]) / math.sqrt(n + 1))
    return out


def is_multi_index(teacher: Any) -> bool:
    """Whether ``teacher`` is (or describes) a multi-index teacher."""
    return isinstance(teacher, MultiIndexTeacher) or (
        isinstance(teacher, Mapping) and set(teacher) == {"multi_index"}
    )


def _integer(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral | Real) or value != int(value):
        raise InvalidParameterError(FIELD, f"{where} must be an integer ≥ 0, got {clip(value)!r}")
    if value < 0:
        raise InvalidParameterError(FIELD, f"{where} must be ≥ 0, got {value}")
    return int(value)


def _term(raw: Any, i: int) -> HermiteTerm:
    where = f"multi_index.hermite_terms[{i}]"
    if not isinstance(raw, Mapping) or set(raw) != {"coefficient", "orders"}:
        raise InvalidParameterError(FIELD, f'{where} must be {{"coefficient": number, "orders": [n_1, …]}}')
    c = raw["coefficient"]
    if isinstance(c, bool) or not isinstance(c, Real) or not math.isfinite(c) or abs(c) > MAX_COEFFICIENT:
        raise InvalidParameterError(FIELD, f"{where}.coefficient must be a number in [-100, 100]")
    orders = raw["orders"]
    if not isinstance(orders, Sequence) or isinstance(orders, str) or not orders:
        raise InvalidParameterError(FIELD, f"{where}.orders must be a non-empty list of integers ≥ 0")
    if len(orders) > MAX_DIRECTIONS:
        raise InvalidParameterError(FIELD, f"{where}.orders has more than {MAX_DIRECTIONS} directions")
    values = tuple(_integer(n, f"{where}.orders") for n in orders)
    if sum(values) > MAX_TOTAL_DEGREE:
        raise InvalidParameterError(FIELD, f"{where} has total degree {sum(values)} > {MAX_TOTAL_DEGREE}")
    return HermiteTerm(coefficient=0.0 if c == 0 else float(c), orders=values)


def multi_index_teacher(spec: Any) -> MultiIndexTeacher:
    """Check ``{"multi_index": {"sum": [...], "hermite_terms": [...]}}`` and build the teacher.

    ``sum``: activation names or ``{"hermite": [...]}``, one per direction; ``hermite_terms``: at most
    64 products, each of total degree ≤ 8; ``k`` (the longer of the two) is 1 … 8. Terms with a zero
    coefficient are dropped and the rest kept in the given order (their sum is the target).
    """
    if isinstance(spec, MultiIndexTeacher):
        return spec
    if not is_multi_index(spec) or not isinstance(spec["multi_index"], Mapping):
        raise InvalidParameterError(FIELD, 'must be {"multi_index": {"sum": [...], "hermite_terms": [...]}}')
    body = spec["multi_index"]
    unknown = set(body) - {"sum", "hermite_terms"}
    if unknown:
        raise InvalidParameterError(FIELD, f"multi_index takes sum and hermite_terms, not {sorted(unknown)}")
    sums = body.get("sum") or []
    terms_raw = body.get("hermite_terms") or []
    for name, value in (("sum", sums), ("hermite_terms", terms_raw)):
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise InvalidParameterError(FIELD, f"multi_index.{name} must be a list")
    if not sums and not terms_raw:
        raise InvalidParameterError(FIELD, "multi_index needs a non-empty sum or hermite_terms")
    if len(sums) > MAX_DIRECTIONS:
        raise InvalidParameterError(FIELD, f"multi_index.sum has more than {MAX_DIRECTIONS} directions")
    if len(terms_raw) > MAX_HERMITE_TERMS:
        raise InvalidParameterError(FIELD, f"multi_index.hermite_terms holds more than {MAX_HERMITE_TERMS}")
    activations = []
    for j, act in enumerate(sums):
        try:
            activations.append(get_activation(act, FIELD))
        except InvalidParameterError as err:
            raise InvalidParameterError(FIELD, f"multi_index.sum[{j}]: {err.rule}") from None
    terms = [_term(t, i) for i, t in enumerate(terms_raw)]
    k = max([len(activations), *(len(t.orders) for t in terms)])
    terms = [
        HermiteTerm(t.coefficient, t.orders + (0,) * (k - len(t.orders))) for t in terms if t.coefficient
    ]
    canonical: dict[str, Any] = {}
    if activations:
        canonical["sum"] = [a.spec for a in activations]
    if terms:
        canonical["hermite_terms"] = [t.as_dict() for t in terms]
    return MultiIndexTeacher(
        k=k, sum=tuple(activations), terms=tuple(terms), spec={"multi_index": canonical}
    )


def teacher_directions(rng: np.random.Generator, k: int, d: int) -> Array:
    """``Θ`` (``k × d``): ``θ_i·θ_j = d δ_ij``, Gaussian draws made orthonormal (Gram–Schmidt by QR)."""
    if k > d:
        raise InvalidParameterError("dimension", f"a teacher of {k} directions needs dimension ≥ {k}")
    g = rng.standard_normal((k, d))
    q, r = np.linalg.qr(g.T)
    q *= np.sign(np.diag(r))  # Gram–Schmidt's signs: each θ_j keeps the side of its own draw
    return math.sqrt(d) * q.T
