"""Readout laws at initialisation and the per-class sRF mapping (docs/theory.md §12.2).

The readout is ``a_i = u_i/√p`` with ``u_i`` i.i.d. from a law of ``K`` atoms ``u_k`` (weights ``π_k``):
``uniform`` (``u ≡ 1``, §1), ``rademacher`` (±1), a finite law, or ``gaussian`` as the limit of many
atoms (Gauss–Hermite in ``u``). Neuron ``i`` of class ``k`` moves by ``u_k`` times the uniform gradient,
so after one step it sees ``r_k κ + √c_k z_i`` with (``f0 ≈ E[u] μ0``, ``e = y − f0``):

- ``"paper"`` (§3 class by class): ``r_k = η̃ u_k μ1 s``, ``c_k = 1 + η̃² u_k² ‖y‖² ς²/α0``;
- ``"corrected"`` (§10.2 class by class): ``r_k = η̃ u_k μ1 ‖g0‖``,
  ``c_k = (1 + η̃ u_k b1 E e)² + η̃² u_k² ς² E[e²]/α0``, ``‖g0‖² = μ1*² + E[e²]/α0``.

``γ = μ1*/s`` (resp. ``μ1*/‖g0‖``) is shared: the spike direction is the same for every class. One
class of ``u = 1`` is exactly :func:`~srf_engine.theory.mapping.map_to_srf`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..activations import gauss_hermite
from ..errors import InvalidParameterError
from ..problem import Problem, SRFParams
from .conditional import DEFAULT_KAPPA_NODES, _kappa_kinks, kappa_nodes
from .mapping import Mapping, curvature
from .multiindex import MultiIndexTarget, target_moments, target_stats
from .quadrature import kappa_rule

Array = np.ndarray

READOUT_NAMES = ("uniform", "rademacher", "gaussian")
#: Atoms of the ``gaussian`` law by default (Gauss–Hermite in ``u``); checked by doubling (tests).
DEFAULT_GAUSSIAN_ATOMS = 12
#: More atoms put weights below 1e-12 on the tails, where the K-class solve loses accuracy (24 fails).
MAX_ATOMS = 20


@dataclass(frozen=True)
class ReadoutLaw:
    """A readout law of ``K`` atoms ``values`` with probabilities ``weights`` (§12.2)."""

    values: tuple[float, ...]
    weights: tuple[float, ...]
    name: str = "finite"

    def __post_init__(self) -> None:
        try:
            values = tuple(float(v) for v in self.values)
            weights = tuple(float(w) for w in self.weights)
        except (TypeError, ValueError):
            raise InvalidParameterError("readout", "values and weights must be lists of numbers") from None
        if not values or len(values) != len(weights):
            raise InvalidParameterError("readout.weights", "must hold one weight per value (at least one)")
        if len(values) > MAX_ATOMS:
            raise InvalidParameterError("readout.values", f"at most {MAX_ATOMS} atoms")
        if not all(math.isfinite(v) for v in values):
            raise InvalidParameterError("readout.values", "must be finite numbers")
        if not all(math.isfinite(w) and w > 0 for w in weights):
            raise InvalidParameterError("readout.weights", "must be numbers > 0")
        total = sum(weights)
        if abs(total - 1.0) > 1e-9:
            raise InvalidParameterError("readout.weights", f"must sum to 1, got {total:.12g}")
        if not any(v != 0.0 for v in values):
            raise InvalidParameterError("readout.values", "must not all be 0 (the network would be 0)")
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "weights", tuple(w / total for w in weights))

    @classmethod
    def uniform(cls) -> ReadoutLaw:
        return cls((1.0,), (1.0,), "uniform")

    @classmethod
    def rademacher(cls) -> ReadoutLaw:
        return cls((1.0, -1.0), (0.5, 0.5), "rademacher")

    @classmethod
    def gaussian(cls, atoms: int = DEFAULT_GAUSSIAN_ATOMS) -> ReadoutLaw:
        """``N(0, 1)`` by ``atoms``-point Gauss–Hermite (exact for polynomial moments up to ``2·atoms−1``)."""
        if not 2 <= int(atoms) <= MAX_ATOMS:
            raise InvalidParameterError("readout.atoms", f"must lie in [2, {MAX_ATOMS}]")
        nodes, weights = gauss_hermite(int(atoms))
        return cls(tuple(nodes), tuple(weights / weights.sum()), "gaussian")

    @classmethod
    def named(cls, name: str, atoms: int = DEFAULT_GAUSSIAN_ATOMS) -> ReadoutLaw:
        if name == "uniform":
            return cls.uniform()
        if name == "rademacher":
            return cls.rademacher()
        if name == "gaussian":
            return cls.gaussian(atoms)
        raise InvalidParameterError("readout", f"must be one of {', '.join(map(repr, READOUT_NAMES))}")

    @property
    def size(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        """``E u``: the network at initialisation outputs ``f0 ≈ E[u] E σ(z)``."""
        return float(np.dot(self.values, self.weights))

    def sample(self, rng: np.random.Generator, p: int) -> Array:
        """``p`` i.i.d. draws of ``u`` (for simulations)."""
        return np.asarray(self.values)[rng.choice(self.size, size=p, p=np.asarray(self.weights))]


def check_readout(readout: object) -> ReadoutLaw:
    """A :class:`ReadoutLaw`, a name, ``{"values": [...], "weights": [...]}``, or the simulation's
    ``srf_engine.protocols.ReadoutLaw`` (through its ``spec``)."""
    if isinstance(readout, ReadoutLaw):
        return readout
    spec = getattr(readout, "spec", None)  # the simulation's srf_engine.protocols.ReadoutLaw: its JSON form
    if spec is not None and not isinstance(readout, dict):
        return check_readout(spec)
    if isinstance(readout, str):
        return ReadoutLaw.named(readout)
    if isinstance(readout, dict) and set(readout) == {"values", "weights"}:
        return ReadoutLaw(tuple(readout["values"]), tuple(readout["weights"]))
    raise InvalidParameterError(
        "readout", 'must be "uniform", "rademacher", "gaussian" or {"values": [...], "weights": [...]}'
    )


@dataclass(frozen=True)
class ClassParams:
    """Per class ``k``: atom ``u_k``, weight ``π_k``, bulk scale ``c_k`` and spike ``r_k``; ``γ`` shared."""

    u: Array
    pi: Array
    c: Array
    r: Array
    gamma: float
    #: Overlaps of the spike with each target direction (§12.3); ``(γ,)`` for a single index.
    gamma_vec: Array | None = None

    @property
    def size(self) -> int:
        return int(self.u.size)

    def srf(self, k: int) -> SRFParams:
        return SRFParams(c=float(self.c[k]), r=float(self.r[k]), gamma=self.gamma)


def map_classes(
    problem: Problem, law: ReadoutLaw, mapping: Mapping = "corrected", target: MultiIndexTarget | None = None
) -> ClassParams:
    """``(c_k, r_k)`` of every class and the shared ``γ`` after one step (module docstring).

    A problem with ``srf`` given is read as the sRF of the class ``u = 1``: class ``k`` then has
    ``r_k = u_k r`` and ``c_k = 1 + u_k² (c − 1)`` (the paper's scaling in ``u``). A multi-index
    ``target`` (§12.3) replaces ``problem.teacher``: ``μ1*`` is then the norm of ``(E[z_j g])_j``.
    """
    u = np.asarray(law.values, dtype=float)
    pi = np.asarray(law.weights, dtype=float)
    if problem.srf is not None:
        s = problem.srf
        return ClassParams(u, pi, 1.0 + u * u * (s.c - 1.0), u * s.r, s.gamma)
    if target is not None and (problem.alpha0 == 0.0 or problem.learning_rate == 0.0):
        raise InvalidParameterError(
            "teacher", "a multi-index target needs a step (learning_rate > 0, alpha0 > 0)"
        )
    if target is not None and problem.srf is not None:
        raise InvalidParameterError("srf", "cannot be given with a multi-index target")
    if problem.alpha0 == 0.0 or problem.learning_rate == 0.0:
        gamma = 0.0
        if problem.alpha0 > 0.0:
            _, mu1s, t2 = problem.teacher.standard_moments()
            spike = math.sqrt(mu1s**2 + (t2 + problem.noise) / problem.alpha0)
            gamma = mu1s / spike if spike > 0 else 0.0
        return ClassParams(u, pi, np.ones_like(u), np.zeros_like(u), gamma)
    eta, a0 = problem.learning_rate, problem.alpha0
    mu0, mu1, _ = problem.student.standard_moments()
    if target is None:
        t_mean, mu1_star, t_second = problem.teacher.standard_moments()
        direction = np.ones(1)
    else:
        ts = target_stats(target)
        t_mean, mu1_star, t_second = ts.mean, ts.mu1_star_norm, ts.second
        direction = ts.mu1_star / mu1_star if mu1_star > 0 else np.eye(target.k)[0]
    varsigma2 = max(0.0, problem.student.derivative_second_moment - mu1 * mu1)
    if mapping == "corrected":
        f0 = law.mean * mu0  # the network at initialisation, (1/p) Σ u_i σ(w_i·x) → E[u] μ0
        e_mean = t_mean - f0
        residual2 = t_second + problem.noise - 2.0 * f0 * t_mean + f0 * f0
        shrink = 1.0 + eta * u * curvature(problem.student) * e_mean
    else:
        residual2 = t_second + problem.noise
        shrink = np.ones_like(u)
    spike = math.sqrt(mu1_star**2 + residual2 / a0)
    gamma = mu1_star / spike if spike > 0 else 0.0
    c = shrink * shrink + eta * eta * u * u * residual2 * varsigma2 / a0
    r = eta * u * mu1 * spike
    if not (np.all(np.isfinite(c)) and np.all(np.isfinite(r))):
        raise InvalidParameterError("alpha0", f"gives no finite sRF parameters with learning_rate = {eta:g}")
    gamma = max(-1.0, min(1.0, gamma))
    return ClassParams(u, pi, c, r, gamma, gamma * direction)


@dataclass(frozen=True)
class ClassMoments:
    """Per class conditional moments on shared ``κ`` nodes (§12.2): ``mu0, mu1, mu2`` are ``K × n``."""

    kappa: Array
    weights: Array
    mu0: Array
    mu1: Array
    mu2: Array
    h: Array
    h1: Array  # J × n: one row per direction orthogonal to the spike that the target has (§12.3)
    hh: Array


def class_moments(
    problem: Problem,
    classes: ClassParams,
    n_kappa: int = DEFAULT_KAPPA_NODES,
    refine: int = 1,
    target: MultiIndexTarget | None = None,
) -> ClassMoments:
    """§4 class by class: ``μ0,k(κ) = E_z σ(r_k κ + √c_k z)``, ``μ1,k``, ``μ2,k`` on one ``κ`` rule that
    resolves the steepest class (the rule of :func:`~srf_engine.theory.conditional.conditional_moments`
    when ``K = 1``); the target's ``h, h1, hh`` as in §4."""
    srfs = [classes.srf(k) for k in range(classes.size)]
    n = max(kappa_nodes(n_kappa, s) for s in srfs) * refine
    rule = kappa_rule(n, _kappa_kinks(problem.teacher, srfs[0]))
    kappa = rule.nodes
    mean = classes.r[:, None] * kappa[None, :]
    sqrt_c = np.sqrt(classes.c)[:, None] * np.ones_like(kappa)[None, :]
    m0, mz, m2 = problem.student.gaussian_moments(mean.ravel(), sqrt_c.ravel(), refine)
    shape = mean.shape
    m0, mz, m2 = m0.reshape(shape), mz.reshape(shape), m2.reshape(shape)
    mu1 = mz / sqrt_c
    mu2 = np.sqrt(np.clip(m2 - m0 * m0 - classes.c[:, None] * mu1 * mu1, 0.0, None))
    if target is not None:
        h, h1, hh = target_moments(target, classes.gamma_vec, kappa, problem.noise)
        return ClassMoments(kappa, rule.weights, m0, mu1, mu2, h, h1, hh)
    s0 = srfs[0]
    h, h1, t2 = problem.teacher.gaussian_moments(s0.gamma * kappa, np.full_like(kappa, s0.rho), refine)
    return ClassMoments(kappa, rule.weights, m0, mu1, mu2, h, h1[None, :], t2 + problem.noise)
