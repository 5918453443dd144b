"""The edge of every computation: a validated request becomes a :class:`Prepared`, once.

:func:`prepare` runs right after pydantic has checked the body: it computes the normal form and the
cache key, and builds the engine's :class:`Problem` and (for simulations) :class:`SimulationSpec`, whose
own checks raise ``InvalidParameterError`` (a 422) here. Limits, jobs, the runner and the compute
adapter all take the ``Prepared`` and never normalise again.

Two requests that must give the same numbers get the same key: defaults are filled in, every real
number is a float written by ``repr`` (shortest round-trip form, ``-0.0`` → ``0.0``, ``1`` → ``1.0``),
seeds are an explicit list, Hermite coefficients lose trailing zeros, and the endpoint name and
engine version are part of what is hashed. The protocol fields (docs/theory.md §11.1: ``readout``,
``steps``, ``batches``, ``learning_rate_exponent``) enter the normal form only away from their defaults,
so that the key of every request that does not use them is the key it always had (``batches`` only
with more than one step, where it changes anything). The compute functions work from this same normal form,
so a key always names one result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from srf_engine import ENGINE_VERSION, InvalidParameterError, Problem
from srf_engine.grid import OPTIMAL, GridSpec
from srf_engine.protocols import DEFAULT_PROTOCOL, Protocol, readout_law
from srf_engine.simulation import check_protocol
from srf_engine.simulation.spec import SimulationSpec, default_test_samples
from srf_engine.teachers import MULTI_INDEX_REFUSAL, MultiIndexTeacher, multi_index_teacher
from srf_engine.theory.function import DEFAULT_KAPPA
from srf_engine.theory.mapping import DEFAULT_MAPPING

from ..schemas import (
    CompareRequest,
    FunctionRequest,
    HermiteActivation,
    MultiIndexTeacherSpec,
    SimulateRequest,
    TheoryRequest,
)
from . import readout_theory

Request = TheoryRequest | SimulateRequest | CompareRequest | FunctionRequest

ENDPOINT_OF: dict[type, str] = {
    TheoryRequest: "theory/curve",
    SimulateRequest: "simulate",
    CompareRequest: "compare",
    FunctionRequest: "theory/function",
}


def _real(value: float) -> float:
    value = float(value)
    return 0.0 if value == 0 else value


def canonical_activation(spec: str | HermiteActivation | dict[str, Any]) -> str | dict[str, list[float]]:
    """A name stays a name; Hermite coefficients become floats without trailing zeros."""
    if isinstance(spec, str):
        return spec
    coeffs = spec.hermite if isinstance(spec, HermiteActivation) else spec["hermite"]
    values = [_real(c) for c in coeffs]
    while len(values) > 1 and values[-1] == 0.0:
        values.pop()
    return {"hermite": values}


def canonical_teacher(spec: Any) -> str | dict[str, Any]:
    """An activation as :func:`canonical_activation`; a multi-index teacher as the engine writes it
    (orders padded to ``k``, zero coefficients dropped, Hermite sums without trailing zeros)."""
    if not isinstance(spec, MultiIndexTeacherSpec):
        return canonical_activation(spec)
    body = spec.multi_index
    raw: dict[str, Any] = {}
    if body.sum:
        raw["sum"] = [canonical_activation(a) for a in body.sum]
    if body.hermite_terms:
        raw["hermite_terms"] = [
            {"coefficient": _real(t.coefficient), "orders": [int(n) for n in t.orders]}
            for t in body.hermite_terms
        ]
    return multi_index_teacher({"multi_index": raw}).spec  # InvalidParameterError("teacher") → 422


def _protocol(req: Request) -> dict[str, Any]:
    """The protocol fields away from their defaults (docs/theory.md §11.1), in normal form."""
    out: dict[str, Any] = {}
    readout = readout_law(req.readout if isinstance(req.readout, str) else req.readout.model_dump())
    if not readout.uniform:
        out["readout"] = readout.spec
    steps = [req.steps] if isinstance(req.steps, int) else list(req.steps)
    if steps != [1]:
        out["steps"] = steps[0] if len(steps) == 1 else steps
        if req.batches != "fresh":
            out["batches"] = req.batches
    if req.learning_rate_exponent != 0:
        out["learning_rate_exponent"] = _real(req.learning_rate_exponent)
    return out


def protocol_of(normal: Mapping[str, Any]) -> Protocol:
    """The engine's checked protocol from a normal form (defaults where a field is left out)."""
    return Protocol.build(
        readout=normal.get("readout", "uniform"),
        steps=normal.get("steps", 1),
        batches=normal.get("batches", "fresh"),
        learning_rate_exponent=normal.get("learning_rate_exponent", 0.0),
    )


def _axis(value: float | list[float] | str) -> float | list[float] | str:
    """A grid axis in normal form: ``"optimal"`` stays, a list of one value is that value (same answer)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        values = [_real(v) for v in value]
        return values[0] if len(values) == 1 else values
    return _real(value)


def _problem(req: Request) -> dict[str, Any]:
    return {
        "student": canonical_activation(req.student),
        "teacher": canonical_teacher(req.teacher),
        "learning_rate": _axis(req.learning_rate),
        "alpha0": _axis(req.alpha0),
        "width": _axis(req.width),
        "noise": _axis(req.noise),
        "srf": None if req.srf is None else {k: _real(getattr(req.srf, k)) for k in ("c", "r", "gamma")},
        "alphas": [_real(a) for a in req.alphas],
    }


def test_samples_of(req: SimulateRequest) -> int:
    """``test_samples`` with the engine's default filled in."""
    return int(req.test_samples) if req.test_samples is not None else default_test_samples(req.dimension)


def normalise(req: Request) -> dict[str, Any]:
    """The normal form of ``req`` (a JSON-ready dict without endpoint or version)."""
    body = _problem(req)
    body["ridge"] = _axis(req.ridge)
    body.update(_protocol(req))
    if isinstance(req, TheoryRequest | CompareRequest | FunctionRequest):
        body.update(mapping=req.mapping, bulk=req.bulk, row_norm=bool(req.row_norm))
    if isinstance(req, FunctionRequest):
        body["kappa"] = [_real(k) for k in (DEFAULT_KAPPA if req.kappa is None else req.kappa)]
    if isinstance(req, SimulateRequest):
        body.update(
            model=req.model,
            dimension=int(req.dimension),
            seeds=[int(s) for s in req.seed_list()],
            test_samples=test_samples_of(req),
        )
        if req.precision != "float64":  # left out at its default: float64 keys are unchanged
            body["precision"] = req.precision
        if req.model != "random_features" and req.srf is None:
            # the mapping gives the (c, r, γ) simulated ("srf") or reported ("network"); elsewhere no
            # number depends on it and the key stays that of a request without the field
            body["mapping"] = req.mapping
    if isinstance(req, CompareRequest):
        body.update(z_threshold=_real(req.z_threshold), relative_tolerance=_real(req.relative_tolerance))
        if req.model == "srf":
            # the sRF model's own limit: c times Marchenko–Pastur (§5), no row-norm channel
            body.update(SRF_MODEL_THEORY)
        if req.extrapolate_dimensions:
            # Order and repeats do not change the fit; `dimension` is always one of its points.
            body["extrapolate_dimensions"] = sorted(set(req.extrapolate_dimensions) - {req.dimension})
    return body


#: The theory a simulation of model "srf" is judged against: the exact limit of W = √c W0 + r u vᵀ/√d.
SRF_MODEL_THEORY = {"bulk": "marchenko_pastur", "row_norm": False}
SRF_MODEL_REASON = (
    'model "srf" is judged against the sRF theory of its (c, r, γ): bulk "marchenko_pastur" (c times '
    "Marchenko–Pastur, docs/theory.md §5) without the row-norm channel, whatever bulk and row_norm "
    "ask (they describe the network's first layer, not the sRF model's)"
)


def endpoint_of(req: Request) -> str:
    return ENDPOINT_OF[type(req)]


def _canonical_text(endpoint: str, normal: Mapping[str, Any]) -> str:
    document = {"endpoint": endpoint, "engine_version": ENGINE_VERSION, "request": normal}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True)


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def canonical_json(req: Request) -> str:
    """What is hashed: endpoint, engine version and the normalised request, sorted and compact."""
    return _canonical_text(endpoint_of(req), normalise(req))


def request_key(req: Request) -> str:
    """SHA-256 (hex) of :func:`canonical_json`: the cache key and the ``key`` of the response."""
    return _key(canonical_json(req))


@dataclass(frozen=True)
class Prepared:
    """A request ready for the engine: its endpoint, key, normal form, grid, problem and simulation spec.

    ``grid`` holds every axis (``width, noise, alpha0, learning_rate, ridge, alpha``); ``problem`` is
    the problem at the grid's first point (``"optimal"`` learning rate: 0), which carries what all
    points share (activations, ``srf``).

    ``parts`` (``/compare`` only): the ``/theory/curve`` request of the same problem, then the
    ``/simulate`` request at each dimension in ascending order; each is stored under its own key.
    """

    endpoint: str
    key: str
    normal: dict[str, Any]
    grid: GridSpec
    problem: Problem
    spec: SimulationSpec | None = None
    parts: tuple[Prepared, ...] = ()
    protocol: Protocol = DEFAULT_PROTOCOL

    @property
    def theory_part(self) -> Prepared:
        return self.parts[0]

    @property
    def simulation_parts(self) -> dict[int, Prepared]:
        """``/simulate`` parts by dimension (ascending)."""
        return {part.normal["dimension"]: part for part in self.parts[1:]}


def grid_of(normal: Mapping[str, Any]) -> GridSpec:
    """The engine's checked grid from a normal form (raises InvalidParameterError → 422)."""
    return GridSpec.build(
        width=normal["width"],
        noise=normal["noise"],
        alpha0=normal["alpha0"],
        learning_rate=normal["learning_rate"],
        ridge=normal["ridge"],
        alphas=normal["alphas"],
    )


def problem_of(normal: Mapping[str, Any]) -> Problem:
    """The engine's problem at the grid's first point (raises InvalidParameterError → 422)."""

    def first(name: str) -> float:
        value = normal[name]
        value = value[0] if isinstance(value, list) else value
        return 0.0 if value == OPTIMAL else value

    return Problem(
        normal["student"],
        normal["teacher"],
        first("learning_rate"),
        first("alpha0"),
        first("width"),
        first("noise"),
        normal["srf"],
    )


def spec_of(normal: Mapping[str, Any]) -> SimulationSpec:
    """The engine's checked simulation spec from a normal form (raises InvalidParameterError → 422)."""
    return SimulationSpec.build(
        model=normal["model"],
        dimension=normal["dimension"],
        alphas=normal["alphas"],
        ridge=normal["ridge"],
        seeds=normal["seeds"],
        test_samples=normal["test_samples"],
        precision=normal.get("precision", "float64"),
        mapping=normal.get("mapping", DEFAULT_MAPPING),
    )


def check_theory_covers(
    protocol: Protocol, problem: Problem, normal: Mapping[str, Any] | None = None
) -> None:
    """The theory endpoints answer only what the project's theory covers (docs/theory.md §11, §12): one
    step, β = 0, and a uniform readout with a single-index teacher or (with ``normal``) what §12's
    readout-class theory covers (``readout_theory.check_covered``); otherwise a 422 naming the field."""
    if normal is not None and readout_theory.applies(protocol, problem):
        readout_theory.check_covered(protocol, problem, normal)
        return
    refusal = protocol.refusal()
    if refusal is not None:
        raise InvalidParameterError(*refusal)
    if isinstance(problem.teacher, MultiIndexTeacher):
        raise InvalidParameterError("teacher", MULTI_INDEX_REFUSAL)


def prepare(req: Request, problem: Problem | None = None) -> Prepared:
    """Normalise ``req`` once and build what the engine needs from it (``problem``: already built)."""
    endpoint = endpoint_of(req)
    normal = normalise(req)
    grid = grid_of(normal)
    grid.check_srf(normal["srf"])
    problem = problem_of(normal) if problem is None else problem
    protocol = protocol_of(normal)
    if isinstance(req, TheoryRequest | FunctionRequest):
        check_theory_covers(protocol, problem, normal)
    spec = spec_of(normal) if isinstance(req, SimulateRequest) else None
    if spec is not None:
        check_protocol(spec.model, problem, protocol)  # which model takes which protocol: 422 here
    parts: tuple[Prepared, ...] = ()
    if isinstance(req, CompareRequest):
        fields = req.model_dump(include=set(TheoryRequest.model_fields))
        theory = TheoryRequest.model_validate({**fields, **(SRF_MODEL_THEORY if req.model == "srf" else {})})
        simulations = req.simulation_requests()
        parts = (prepare(theory, problem), *(prepare(simulations[d], problem) for d in sorted(simulations)))
    key = _key(_canonical_text(endpoint, normal))
    return Prepared(
        endpoint=endpoint,
        key=key,
        normal=normal,
        grid=grid,
        problem=problem,
        spec=spec,
        parts=parts,
        protocol=protocol,
    )
