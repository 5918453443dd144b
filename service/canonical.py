"""Canonical, normalised form of a request and its cache key.

Two requests that must give the same numbers get the same key: defaults are filled in, every real
number is a float written by ``repr`` (shortest round-trip form, ``-0.0`` → ``0.0``, ``1`` → ``1.0``),
seeds are an explicit list, Hermite coefficients lose trailing zeros, and the endpoint name and
engine version are part of what is hashed. The compute functions work from this same normal form,
so a key always names one result.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from srf_engine import ENGINE_VERSION
from srf_engine.cost import default_test_samples

from .schemas import CompareRequest, HermiteActivation, ProblemFields, SimulateRequest, TheoryRequest

Request = TheoryRequest | SimulateRequest | CompareRequest

ENDPOINTS: dict[type, str] = {
    TheoryRequest: "theory/curve",
    SimulateRequest: "simulate",
    CompareRequest: "compare",
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


def _problem(req: ProblemFields) -> dict[str, Any]:
    return {
        "student": canonical_activation(req.student),
        "teacher": canonical_activation(req.teacher),
        "learning_rate": _real(req.learning_rate),
        "alpha0": _real(req.alpha0),
        "width": _real(req.width),
        "noise": _real(req.noise),
        "srf": None if req.srf is None else {k: _real(getattr(req.srf, k)) for k in ("c", "r", "gamma")},
        "alphas": [_real(a) for a in req.alphas],
    }


def test_samples_of(req: SimulateRequest) -> int:
    """``test_samples`` with the engine's default filled in."""
    return int(req.test_samples) if req.test_samples is not None else default_test_samples(req.dimension)


def normalise(req: Request) -> dict[str, Any]:
    """The normal form of ``req`` (a JSON-ready dict without endpoint or version)."""
    body = _problem(req)
    body["ridge"] = req.ridge if isinstance(req.ridge, str) else _real(req.ridge)
    if isinstance(req, SimulateRequest):
        body.update(
            model=req.model,
            dimension=int(req.dimension),
            seeds=[int(s) for s in req.seed_list()],
            test_samples=test_samples_of(req),
        )
    if isinstance(req, CompareRequest):
        body.update(z_threshold=_real(req.z_threshold), relative_tolerance=_real(req.relative_tolerance))
        if req.extrapolate_dimensions:
            # Order and repeats do not change the fit; `dimension` is always one of its points.
            body["extrapolate_dimensions"] = sorted(set(req.extrapolate_dimensions) - {req.dimension})
    return body


def endpoint_of(req: Request) -> str:
    return ENDPOINTS[type(req)]


def canonical_json(req: Request) -> str:
    """What is hashed: endpoint, engine version and the normalised request, sorted and compact."""
    document = {"endpoint": endpoint_of(req), "engine_version": ENGINE_VERSION, "request": normalise(req)}
    return json.dumps(document, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True)


def request_key(req: Request) -> str:
    """SHA-256 (hex) of :func:`canonical_json`: the cache key and the ``key`` of the response."""
    return hashlib.sha256(canonical_json(req).encode("ascii")).hexdigest()
