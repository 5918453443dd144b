"""Activation functions and their Gaussian moments.

An :class:`Activation` knows ``σ``, ``σ'``, whether it is centred (``E[σ(z)] = 0``) and the three
moments the theory needs at every point of a ``κ`` grid,

    E_z[σ(m + s z)],   E_z[z σ(m + s z)],   E_z[σ(m + s z)²],     z ~ N(0, 1),

vectorised over arrays ``m``, ``s``; ``refine`` multiplies the quadrature nodes (closed forms
ignore it), for convergence checks. Smooth activations use probabilists' Gauss–Hermite quadrature;
activations with a kink (relu) or with an oscillation that Gauss–Hermite resolves poorly at large ``s``
(sin) use closed forms, so every moment is accurate to about 1e-12.

Names are those of ``GET /activations``; ``{"hermite": [c0, c1, …]}`` means ``Σ c_k He_k(z)/√(k!)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
from numpy.polynomial import hermite_e
from scipy import special

from .errors import InvalidParameterError, UnknownActivationError, clip

Array = np.ndarray
MomentFn = Callable[..., tuple[Array, Array, Array]]

#: Gauss–Hermite nodes used for the moments of smooth activations (error < 1e-14 for tanh at s ≈ 1).
DEFAULT_Z_NODES = 200
#: Largest number of Hermite coefficients accepted, so that quadrature stays exact for polynomials.
MAX_HERMITE_COEFFICIENTS = 32

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@lru_cache(maxsize=32)
def gauss_hermite(n: int) -> tuple[Array, Array]:
    """Probabilists' Gauss–Hermite rule: nodes ``z_j`` and weights with ``Σ w_j f(z_j) ≈ E f(z)``."""
    nodes, weights = special.roots_hermitenorm(n)
    weights = weights / math.sqrt(2.0 * math.pi)
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


#: Beyond this input scale ``s`` Gauss–Hermite is replaced by Gauss–Legendre panels split where
#: ``σ(m + s z)`` changes (``|m + s z| ≤ _ACTIVE_HALF_WIDTH``): ``σ(s z)`` then looks like a step.
_WIDE_SCALE = 2.0
_ACTIVE_HALF_WIDTH = 20.0
_GAUSS_TAIL = 13.0
_PANEL_NODES = 256
#: Values of σ evaluated at once by Gauss–Hermite moments (a block of about 0.5 MB).
_BLOCK_VALUES = 1 << 16


def _gauss_hermite_moments(
    fn: Callable[[Array], Array], mean: Array, std: Array, n: int, scaled: bool = False
):
    """Gauss–Hermite; ``scaled`` grows the rule like ``s²`` (singularities of ``σ`` a distance ``δ``
    off the real axis sit ``δ/s`` off it in ``z``, and the error falls like ``exp(−c δ √n / s)``)."""
    if scaled:
        scale = float(np.max(std, initial=1.0))
        factor = 1
        while factor < scale * scale:
            factor *= 2  # powers of two, so that rules are cached
        n *= factor
    z, w = gauss_hermite(n)
    wz = w * z
    means, stds = mean.reshape(-1), std.reshape(-1)
    out = np.empty((3, means.size))
    # In blocks of rows that stay in the caches: a whole κ rule × Gauss–Hermite rule (10⁵–10⁶ values)
    # goes to memory and back three times, and takes 2–3× longer.
    rows = max(1, _BLOCK_VALUES // n)
    for i in range(0, means.size, rows):
        block = slice(i, i + rows)
        values = fn(means[block, None] + stds[block, None] * z)
        out[0, block] = values @ w
        out[1, block] = values @ wz
        out[2, block] = (values * values) @ w
    return out[0].reshape(mean.shape), out[1].reshape(mean.shape), out[2].reshape(mean.shape)


def _split_legendre_moments(fn: Callable[[Array], Array], mean: Array, std: Array, n: int):
    """``E_z`` as three Gauss–Legendre panels in ``z`` split at ``m + s z = ±T``.

    Saturating activations (tanh, erf) have their singularities on the imaginary axis of
    ``u = m + s z``: inside ``|u| ≤ T`` the panel resolves the transition on its natural scale, and
    outside the integrand is analytic far beyond the panel, so each panel converges geometrically
    whatever ``s``.
    """
    x, w = np.polynomial.legendre.leggauss(n)
    lo = np.clip((-_ACTIVE_HALF_WIDTH - mean) / std, -_GAUSS_TAIL, _GAUSS_TAIL)
    hi = np.clip((_ACTIVE_HALF_WIDTH - mean) / std, -_GAUSS_TAIL, _GAUSS_TAIL)
    edges = np.stack([np.full_like(lo, -_GAUSS_TAIL), lo, hi, np.full_like(hi, _GAUSS_TAIL)], axis=-1)
    half = 0.5 * np.diff(edges, axis=-1)  # (..., 3)
    mid = 0.5 * (edges[..., 1:] + edges[..., :-1])
    z = mid[..., None] + half[..., None] * x  # (..., 3, n)
    weights = half[..., None] * w * np.exp(-0.5 * z * z) * _INV_SQRT_2PI
    values = fn(mean[..., None, None] + std[..., None, None] * z)
    total = (values * weights).sum(axis=(-2, -1))
    with_z = (values * weights * z).sum(axis=(-2, -1))
    square = (values * values * weights).sum(axis=(-2, -1))
    return total, with_z, square


def _quadrature_moments(fn: Callable[[Array], Array], n_nodes: int, polynomial: bool = False) -> MomentFn:
    """Moments by quadrature: Gauss–Hermite (exact for polynomials of degree < 2n, and converging
    geometrically for smooth ``σ`` at moderate ``s``); split Gauss–Legendre panels for wide ``s``."""

    def moments(mean: Array, std: Array, refine: int = 1) -> tuple[Array, Array, Array]:
        mean, std = np.broadcast_arrays(np.asarray(mean, dtype=float), np.asarray(std, dtype=float))
        if polynomial:
            return _gauss_hermite_moments(fn, mean, std, n_nodes * refine)
        wide = std > _WIDE_SCALE
        if not np.any(wide):
            return _gauss_hermite_moments(fn, mean, std, n_nodes * refine, scaled=True)
        out = [np.empty(mean.shape) for _ in range(3)]
        narrow = ~wide
        narrow_parts = _gauss_hermite_moments(fn, mean[narrow], std[narrow], n_nodes * refine, scaled=True)
        for target, part in zip(out, narrow_parts, strict=True):
            target[narrow] = part
        wide_parts = _split_legendre_moments(fn, mean[wide], std[wide], _PANEL_NODES * refine)
        for target, part in zip(out, wide_parts, strict=True):
            target[wide] = part
        return out[0], out[1], out[2]

    return moments


def _relu_moments(shift: float) -> MomentFn:
    """Closed forms for ``max(0, x) − shift`` with ``x = m + s z``; exact at ``s = 0`` too."""

    def moments(mean: Array, std: Array, refine: int = 1) -> tuple[Array, Array, Array]:
        m, s = np.broadcast_arrays(np.asarray(mean, dtype=float), np.asarray(std, dtype=float))
        positive = s > 0
        safe_s = np.where(positive, s, 1.0)
        u = np.where(positive, m / safe_s, np.copysign(np.inf, m))
        cdf = special.ndtr(u)
        pdf = np.where(positive, np.exp(-0.5 * np.where(positive, u, 0.0) ** 2) * _INV_SQRT_2PI, 0.0)
        first = m * cdf + s * pdf  # E relu
        with_z = s * cdf  # E[z relu] = s P(x > 0) by Stein's lemma
        second = (m * m + s * s) * cdf + m * s * pdf  # E relu²
        first_c = first - shift
        second_c = second - 2.0 * shift * first + shift * shift
        return first_c, with_z, second_c

    return moments


def _sin_moments(mean: Array, std: Array, refine: int = 1) -> tuple[Array, Array, Array]:
    m, s = np.asarray(mean, dtype=float), np.asarray(std, dtype=float)
    damp = np.exp(-0.5 * s * s)
    return np.sin(m) * damp, s * np.cos(m) * damp, 0.5 * (1.0 - np.cos(2.0 * m) * damp**4)


def _linear_moments(mean: Array, std: Array, refine: int = 1) -> tuple[Array, Array, Array]:
    m, s = np.broadcast_arrays(np.asarray(mean, dtype=float), np.asarray(std, dtype=float))
    return m.copy(), s.copy(), m * m + s * s


@dataclass(frozen=True)
class Activation:
    """An activation function with what the theory and the simulations need of it.

    ``spec`` is the canonical JSON form (a registry name or ``{"hermite": [...]}``); it is what
    cache keys hash. ``derivative_second_moment`` is ``E[σ'(z)²]`` (the mapping's ``ς² + μ1²``).
    """

    spec: str | dict[str, list[float]]
    fn: Callable[[Array], Array] = field(repr=False, compare=False)
    derivative: Callable[[Array], Array] = field(repr=False, compare=False)
    gaussian_moments: MomentFn = field(repr=False, compare=False)
    derivative_second_moment: float = field(compare=False)
    kinks: tuple[float, ...] = field(default=(), compare=False)
    description: str = field(default="", compare=False)

    def __call__(self, x: Array) -> Array:
        return self.fn(x)

    @property
    def name(self) -> str:
        if isinstance(self.spec, str):
            return self.spec
        return "hermite" + str(self.spec["hermite"])

    @property
    def smooth(self) -> bool:
        return not self.kinks

    def standard_moments(self) -> tuple[float, float, float]:
        """``(E σ(z), E[z σ(z)], E σ(z)²)`` for ``z ~ N(0, 1)``."""
        return self._standard_moments

    # Cached: every line of a grid asks for them several times (mapping, warnings, fidelity), and an
    # Activation is immutable.
    @cached_property
    def _standard_moments(self) -> tuple[float, float, float]:
        a, b, c = self.gaussian_moments(np.zeros(1), np.ones(1))
        return float(a[0]), float(b[0]), float(c[0])

    @cached_property
    def curvature(self) -> float:
        """``b1 = E[z σ'(z)] = d/dm E[σ'(m + z)]`` at ``m = 0``: a fourth-order difference of the exact
        moment ``E[z σ(m + z)] = E σ'(m + z)`` (accurate to ~1e-11 for closed forms and quadrature
        alike)."""
        h = 1e-3
        m = np.array([-2 * h, -h, h, 2 * h])
        _, first, _ = self.gaussian_moments(m, np.ones(4))
        return float((8.0 * (first[2] - first[1]) - (first[3] - first[0])) / (12.0 * h))

    @property
    def mean(self) -> float:
        return self.standard_moments()[0]

    @property
    def centered(self) -> bool:
        """Whether ``E σ(z) = 0`` (to 1e-12): the network → sRF mapping assumes it of the student."""
        return abs(self.mean) < 1e-12

    def odd_reflection(self) -> Activation:
        """``x ↦ −σ(x)``, used by invariance tests (``σ* → −σ*`` leaves errors unchanged)."""
        fn, der, mom = self.fn, self.derivative, self.gaussian_moments

        def neg_moments(m: Array, s: Array, refine: int = 1) -> tuple[Array, Array, Array]:
            a, b, c = mom(m, s, refine)
            return -a, -b, c

        return Activation(
            spec={"negated": self.spec},  # type: ignore[dict-item]
            fn=lambda x: -fn(x),
            derivative=lambda x: -der(x),
            gaussian_moments=neg_moments,
            derivative_second_moment=self.derivative_second_moment,
            kinks=self.kinks,
            description=f"−({self.description})",
        )


def _smooth(
    spec: str, fn: Callable[[Array], Array], der: Callable[[Array], Array], description: str
) -> Activation:
    z, w = gauss_hermite(DEFAULT_Z_NODES)
    return Activation(
        spec=spec,
        fn=fn,
        derivative=der,
        gaussian_moments=_quadrature_moments(fn, DEFAULT_Z_NODES),
        derivative_second_moment=float(der(z) ** 2 @ w),
        description=description,
    )


def _build_registry() -> dict[str, Activation]:
    shift = _INV_SQRT_2PI  # E relu(z)

    def step(x: Array) -> Array:
        return (np.asarray(x) > 0).astype(float)

    registry = {
        "linear": Activation(
            spec="linear",
            fn=lambda x: np.asarray(x, dtype=float) * 1.0,
            derivative=lambda x: np.ones_like(np.asarray(x, dtype=float)),
            gaussian_moments=_linear_moments,
            derivative_second_moment=1.0,
            description="σ(z) = z",
        ),
        "tanh": _smooth("tanh", np.tanh, lambda x: 1.0 / np.cosh(x) ** 2, "σ(z) = tanh(z)"),
        "erf": _smooth(
            "erf",
            special.erf,
            lambda x: 2.0 / math.sqrt(math.pi) * np.exp(-(np.asarray(x) ** 2)),
            "σ(z) = erf(z)",
        ),
        "sin": Activation(
            spec="sin",
            fn=np.sin,
            derivative=np.cos,
            gaussian_moments=_sin_moments,
            derivative_second_moment=0.5 * (1.0 + math.exp(-2.0)),
            description="σ(z) = sin(z)",
        ),
        "relu": Activation(
            spec="relu",
            fn=lambda x: np.maximum(np.asarray(x, dtype=float), 0.0),
            derivative=step,
            gaussian_moments=_relu_moments(0.0),
            derivative_second_moment=0.5,
            kinks=(0.0,),
            description="σ(z) = max(z, 0) (not centred: E σ = 1/√(2π))",
        ),
        "relu_centered": Activation(
            spec="relu_centered",
            fn=lambda x: np.maximum(np.asarray(x, dtype=float), 0.0) - shift,
            derivative=step,
            gaussian_moments=_relu_moments(shift),
            derivative_second_moment=0.5,
            kinks=(0.0,),
            description="σ(z) = max(z, 0) − 1/√(2π)",
        ),
    }
    registry["he2"] = hermite_activation([0.0, 0.0, 1.0], spec="he2")
    registry["he3"] = hermite_activation([0.0, 0.0, 0.0, 1.0], spec="he3")
    return registry


def hermite_activation(coefficients: Sequence[float], spec: str | None = None) -> Activation:
    """``σ(z) = Σ_k c_k He_k(z)/√(k!)``: orthonormal Hermite coefficients, so ``E σ² = Σ c_k²``."""
    coeffs = [float(c) for c in coefficients]
    if not coeffs:
        raise InvalidParameterError("hermite", "needs at least one coefficient")
    if len(coeffs) > MAX_HERMITE_COEFFICIENTS:
        raise InvalidParameterError("hermite", f"at most {MAX_HERMITE_COEFFICIENTS} coefficients")
    if not all(math.isfinite(c) for c in coeffs):
        raise InvalidParameterError("hermite", "coefficients must be finite numbers")
    scaled = np.array([c / math.sqrt(math.factorial(k)) for k, c in enumerate(coeffs)])
    dscaled = hermite_e.hermeder(scaled) if len(scaled) > 1 else np.zeros(1)

    def fn(x: Array) -> Array:
        return hermite_e.hermeval(np.asarray(x, dtype=float), scaled)

    def der(x: Array) -> Array:
        return hermite_e.hermeval(np.asarray(x, dtype=float), dscaled)

    degree = len(coeffs) - 1
    # Exact for polynomials: σ² has degree 2K and z σ degree K + 1.
    nodes = max(degree + 2, 8)
    return Activation(
        spec=spec if spec is not None else {"hermite": coeffs},
        fn=fn,
        derivative=der,
        gaussian_moments=_quadrature_moments(fn, nodes, polynomial=True),
        derivative_second_moment=float(sum(k * c * c for k, c in enumerate(coeffs))),
        description=f"He_{degree}(z)/√({degree}!)" if spec else "Σ c_k He_k(z)/√(k!)",
    )


ACTIVATIONS: Mapping[str, Activation] = _build_registry()
ACTIVATION_NAMES: tuple[str, ...] = tuple(ACTIVATIONS)


def get_activation(spec: Any, field_name: str = "activation") -> Activation:
    """Resolve a registry name or ``{"hermite": [...]}`` to an :class:`Activation`.

    Nothing is ever evaluated: names are looked up, coefficients are numbers.
    """
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, str):
        try:
            return ACTIVATIONS[spec]
        except KeyError:
            known = ", ".join(ACTIVATION_NAMES)
            raise UnknownActivationError(
                field_name, f"unknown activation {clip(spec)!r}; known: {known}"
            ) from None
    if isinstance(spec, Mapping) and set(spec) == {"hermite"}:
        coeffs = spec["hermite"]
        if not isinstance(coeffs, Sequence) or isinstance(coeffs, str):
            raise InvalidParameterError(field_name, "hermite must be a list of numbers")
        try:
            return hermite_activation(coeffs)
        except InvalidParameterError as err:
            raise InvalidParameterError(field_name, err.rule) from None
        except (TypeError, ValueError):
            raise InvalidParameterError(field_name, "hermite must be a list of numbers") from None
    raise InvalidParameterError(field_name, 'must be an activation name or {"hermite": [c0, c1, ...]}')
