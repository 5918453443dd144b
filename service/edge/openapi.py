"""The served OpenAPI schema, made standard and complete for generators and validators.

FastAPI's schema is refined once, when first asked for:

- ranges are JSON-Schema keywords (``minimum``/``maximum``/``exclusive…``), never pydantic's ``ge``/``le``,
  and a single allowed string is an ``enum`` (generators mis-read ``const`` inside a union);
- an activation is one shared component, ``Activation`` (a name, ``ActivationName``, or Hermite
  coefficients), instead of the same union inlined in every request;
- a request is one flat object of named properties, as the body on the wire: Swagger UI and ReDoc
  show its fields (an ``allOf`` of shared groups rendered as "object | (any & any & …)"), and
  generators make one plain class per request. It is closed by ``unevaluatedProperties: false``
  (for a flat object the same set of bodies as ``additionalProperties: false``), which
  openapi-python-client does not read: its classes keep an unknown field and send it, and the server
  names it in a 422 instead of the client dropping it silently;
- an activation name is a plain string (the names are in its description and examples; the server
  answers an unknown one with 422): a generated client then takes ``student="tanh"`` (with an enum
  component, openapi-python-client's union serialiser called ``"tanh".to_dict()``);
- a job's ``result`` and a stored result are typed: one of the 200 bodies of the POST endpoints;
- validation errors are documented as the server sends them (``ValidationErrorBody``, with ``field``
  and ``message``), not as FastAPI's default shape;
- every field of a response has a description, its unit and an example (:data:`FIELD_DOCS`);
- the operator's limits (``SRF_MAX_*``), fixed at start-up, bound the request fields they limit.

Operation ids are the route functions' names (``theory_curve``, ``get_job``, …): see ``app.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from srf_engine import ENGINE_VERSION

from ..errors import AtCapacity, LimitExceeded, ServiceError
from ..schemas import REQUEST_MODELS, SHARED_FIELDS
from ..settings import Settings

_RANGES = {"ge": "minimum", "le": "maximum", "gt": "exclusiveMinimum", "lt": "exclusiveMaximum"}
#: Keys whose values are data (examples, defaults) or names (properties), not schemas to rewrite.
_DATA_KEYS = frozenset({"example", "examples", "default", "enum", "const"})
#: Components that are parts of requests (documented by their models), not responses.
_REQUEST_PARTS = frozenset(
    {
        "HermiteActivation",
        "SRFSpec",
        "MultiIndexTeacherSpec",
        "MultiIndexBody",
        "HermiteTermSpec",
        "ReadoutLawSpec",
        *(group.__name__ for group in SHARED_FIELDS),
    }
)
_NULL_NOTE = "null only if the engine produced a non-finite value"

#: (description, unit, example) of each response field: ``"Model.field"`` first, then ``"field"``.
FIELD_DOCS: dict[str, tuple[str, str, Any]] = {
    # identity and envelope of every result
    "key": ("SHA-256 of the canonical request: its cache key.", "hex string", "fae1606e" + "0" * 56),
    "cached": ("True when served from the store, false when computed for this request.", "boolean", False),
    "engine_version": (
        "Version of the engine that computed it (part of the key).",
        "version",
        ENGINE_VERSION,
    ),
    "elapsed_seconds": ("Wall time of this response.", "seconds", 0.03),
    "warnings": ("Caveats about the numbers (assumptions left, points not converged, …).", "text", []),
    "srf": ("The sRF parameters (c, r, γ) of the problem, mapped from the network or as given.", "", None),
    "SRFOut.c": ("Bulk rescaling c of W = √c W0 + r u vᵀ/√d.", "dimensionless", 1.0189732),
    "SRFOut.r": ("Spike strength r.", "dimensionless", 1.1340555),
    "SRFOut.gamma": (
        "Overlap γ of the spike with the target direction, in [-1, 1].",
        "dimensionless",
        0.97185,
    ),
    # what the first layer learned, per step (docs/theory.md §11.2)
    "LearnedStepOut.step": ("The step t after which the first layer was measured.", "count", 1),
    "LearnedStepSeedOut.step": ("The step t after which the first layer was measured.", "count", 1),
    "LearnedStepSeedOut.singular_values": (
        "The top 4 singular values of (W_t − W_0)/√p of this seed.",
        "dimensionless",
        [1.13, 0.015, 0.014, 0.014],
    ),
    "MeanSemOut.mean": ("Mean over seeds, one entry per singular value.", "dimensionless", [1.13, 0.015]),
    "MeanSemOut.sem": ("Standard error of the mean over seeds.", "dimensionless", [0.007, 0.0002]),
    "MatrixMeanSemOut.sem": ("Standard error of the mean over seeds, [i][j].", "dimensionless", [[0.001]]),
    # theory
    "alpha": ("Sample ratio α = n/d of this point.", "dimensionless", 0.9),
    "test_error": (
        "Test error ε_g: mean squared error on fresh samples, label noise included.",
        "y²",
        0.0425,
    ),
    "train_error": ("Training error ε_t: mean squared residual on the training set.", "y²", 0.0149),
    "ridge": ("λ of the ridge readout at this point (the optimum when ridge was 'optimal').", "1", 0.1),
    "converged": ("Whether the solver reached a verified fixed point of docs/theory.md §5.", "boolean", True),
    "iterations": ("Solver iterations used.", "count", 5),
    "residual": ("Largest relative residual of the full fixed-point map at the answer.", "relative", 1.8e-16),
    "overlaps": ("Order parameters q1, q2, V1, V2, t, psi, m at the fixed point.", "dimensionless", None),
    "TheoryResponse.points": ("One point per requested α, in the order given.", "", None),
    "baseline": ("The same problem without the step (random features at initialisation).", "", None),
    # simulation
    "model": ("What was simulated: network, srf or random_features.", "", "network"),
    "dimension": ("Input dimension d of the simulation.", "count", 400),
    "seeds": ("The seeds simulated (a result depends on its seeds alone).", "", [0, 1]),
    "SimulateResponse.points": ("One point per requested α (and λ), statistics over the seeds.", "", None),
    "ErrorStatsOut.mean": ("Mean over the seeds.", "y²", 0.0469),
    "ErrorStatsOut.std": ("Standard deviation over the seeds (0 for one seed).", "y²", 0.0062),
    "ErrorStatsOut.sem": ("Standard error of the mean, std/√seeds.", "y²", 0.0044),
    "ErrorStatsOut.values": ("The value of each seed, in the order of `seeds`.", "y²", [0.0425, 0.0513]),
    "SimulationPointOut.test_error": ("Test error over the seeds.", "", None),
    "SimulationPointOut.train_error": ("Training error over the seeds.", "", None),
    # comparison
    "CompareResponse.theory": ("The /theory/curve body of the same problem.", "", None),
    "CompareResponse.simulation": ("The /simulate body of the same problem and settings.", "", None),
    "CompareResponse.points": ("Per α: theory against simulation.", "", None),
    "CompareResponse.summary": ("The verdict over all points.", "", None),
    "ComparePoint.theory": ("Test error of the limit at this α.", "y²", 0.0425),
    "simulation_mean": ("Mean simulated test error.", "y²", 0.0469),
    "simulation_sem": ("Standard error of the simulated mean.", "y²", 0.0044),
    "z": ("(estimate − theory)/sem; null when the sem is 0.", "standard errors", 1.0),
    "relative_error": ("(estimate − theory)/theory; null when the theory is 0.", "relative", 0.103),
    "agree": ("Whether this (or every) point meets the criterion.", "boolean", True),
    "theory_converged": (
        "Whether the theory at this α converged (if not, the point gets no verdict: agree is null).",
        "boolean",
        True,
    ),
    "max_abs_z": ("Largest |z| over the points.", "standard errors", 1.0),
    "max_relative_error": ("Largest |relative_error| over the points.", "relative", 0.103),
    "criterion": ("The agreement rule, in words, with its thresholds.", "text", "a point agrees when …"),
    "Extrapolation.dimensions": ("The dimensions d simulated and fitted.", "count", [400, 800]),
    "Extrapolation.points": ("Per α: the extrapolated ε∞ against the theory.", "", None),
    "Extrapolation.summary": ("The verdict over all extrapolated points.", "", None),
    "ExtrapolationPoint.theory": ("Test error of the limit at this α.", "y²", 0.0425),
    "ExtrapolationPoint.limit": ("ε∞ of the fit ε(d) = ε∞ + slope/d.", "y²", 0.0431),
    "limit_sem": ("Standard error of ε∞.", "y²", 0.002),
    "slope": ("Slope b of the fit ε(d) = ε∞ + b/d.", "y²·dimension", 1.5),
    "extrapolation": ("With extrapolate_dimensions: the simulation extrapolated to d → ∞.", "", None),
    # coordinates of a point of a grid
    "learning_rate": ("η̃ of the point's first step.", "dimensionless", 3.0),
    "alpha0": ("α0 = n0/d of the point's first step.", "dimensionless", 20.0),
    "noise": ("Label-noise variance Δ of the point.", "y²", 0.0),
    "width": ("Width ratio p/d of the point.", "dimensionless", 1.0),
    "GridOut.axes": ("The request's axes that hold several values, in the order of `shape`.", "", None),
    "GridOut.shape": ("Number of values along each axis; points run over them row-major.", "count", [5]),
    "GridAxisOut.name": (
        "The coordinate this axis varies (alpha for the request's alphas).",
        "",
        "alpha",
    ),
    "GridAxisOut.values": ("Its values, as requested.", "", [0.5, 1.0]),
    # the learned function
    "kappa": ("Points κ of the spike direction where the function is evaluated.", "dimensionless", [0.0]),
    "FunctionResponse.points": ("One point per requested α.", "", None),
    "baseline_test_error": ("Test error of the no-step baseline at this α.", "y²", 0.32),
    "baseline_ridge": ("λ of the baseline at this α.", "1", 0.1),
    "baseline_converged": ("Whether the baseline's solver converged.", "boolean", True),
    # jobs
    "id": ("The job's id (also in the Location header).", "hex string", "52ca57d1a08e4520a4b8065a6bfccbf9"),
    "status": ("queued, running, done, failed or cancelled.", "", "queued"),
    "progress": ("Fraction of the work done.", "0 to 1", 0.5),
    "endpoint": ("The endpoint the job computes.", "", "simulate"),
    "JobOut.key": ("Cache key of the job's request.", "hex string", "fae1606e" + "0" * 56),
    "result": ("When done: the 200 body of the request.", "", None),
    "error": ("Why the job failed or was cancelled.", "text", None),
    "created_at": ("When the job was submitted.", "seconds since the Unix epoch", 1764450000.0),
    "updated_at": ("When the job last changed.", "seconds since the Unix epoch", 1764450003.5),
    # errors
    "ErrorBody.detail": ("What is wrong, naming the field or limit and the rule.", "text", "dimension: …"),
    "ErrorBody.field": ("The request field at fault, when there is one.", "", "dimension"),
    "ErrorBody.limit": (
        "The server setting that was exceeded (its environment variable).",
        "",
        "SRF_MAX_DIMENSION",
    ),
    "ValidationErrorBody.detail": ("One item per problem found.", "", None),
    "message": (
        "All problems in one line: 'field: rule; …'.",
        "text",
        "alphas.3: Input should be greater than 0",
    ),
    "loc": ("Where the problem is, as a path into the request.", "", ["body", "alphas", 3]),
    "msg": ("The rule that was broken.", "text", "Input should be greater than 0"),
    "type": ("Machine-readable kind of the problem.", "", "greater_than"),
    "ValidationItem.field": ("Dotted path of the offending field.", "", "alphas.3"),
    # about
    "activations": ("The activations accepted as student and teacher.", "", None),
    "ActivationInfo.name": ("Name to use as student or teacher.", "", "tanh"),
    "ActivationInfo.description": ("Definition of the activation.", "text", "σ(z) = tanh(z)"),
    "centered": ("E σ(z) = 0; the network → sRF mapping assumes it of the student.", "boolean", True),
    "hermite": ("How to give an activation by its Hermite coefficients.", "text", 'Give {"hermite": […]} …'),
    "HealthResponse.status": ("ok while the process can serve.", "", "ok"),
    # the service is versioned with the engine
    "service_version": ("Version of this service.", "version", ENGINE_VERSION),
    "api_version": ("Version of the HTTP contract.", "version", "1.2"),
}


#: One example body per error status, made by the error types the server raises (their messages as sent).
ERROR_EXAMPLES: dict[str, dict[str, Any]] = {
    "404": ServiceError(404, "key: no result is stored under " + "0" * 64, field="key").body(),
    "406": ServiceError(
        406,
        "Accept: none of the acceptable media types can be given here; available: json (application/json), "
        "csv (text/csv)",
        field="format",
    ).body(),
    "413": LimitExceeded(
        "dimension: dimension 600 exceeds the server's limit of 500 (SRF_MAX_DIMENSION)",
        limit="SRF_MAX_DIMENSION",
        field="dimension",
    ).body(),
    "429": AtCapacity(
        429,
        "the server is running its maximum of 2 heavy computations (SRF_MAX_CONCURRENT); retry after 5 s, "
        "or send 'Prefer: respond-async' to queue it as a job",
        5,
    ).body(),
    "503": AtCapacity(503, "the server is shutting down; retry in a moment", 5).body(),
}


def _error_examples(schema: dict[str, Any]) -> None:
    """Each error response gets the example of its own status, not the component's one body."""
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                media = response.get("content", {}).get("application/json")
                ref = (media or {}).get("schema", {}).get("$ref", "")
                if status in ERROR_EXAMPLES and media is not None and ref.endswith("/ErrorBody"):
                    media["example"] = ERROR_EXAMPLES[status]


def _docs(model: str, field: str) -> tuple[str, str, Any] | None:
    return FIELD_DOCS.get(f"{model}.{field}") or FIELD_DOCS.get(field)


def _rewrite_ranges(node: Any) -> None:
    """pydantic's ``ge``/``le``/``gt``/``lt`` (emitted where a constraint sits beside a validator) →
    JSON Schema's keywords, everywhere in the schema."""
    if isinstance(node, list):
        for item in node:
            _rewrite_ranges(item)
        return
    if not isinstance(node, dict):
        return
    for short, standard in _RANGES.items():
        if short in node and isinstance(node[short], int | float) and "type" in node:
            node.setdefault(standard, node.pop(short))
    for key, value in node.items():
        if key == "properties" and isinstance(value, dict):
            for schema in value.values():
                _rewrite_ranges(schema)
        elif key not in _DATA_KEYS:
            _rewrite_ranges(value)


def _const_to_enum(node: Any) -> None:
    """``{"const": "optimal"}`` → ``{"enum": ["optimal"]}``: the same set of values, which generators
    turn into an enum (openapi-python-client mis-parses a number-or-const union)."""
    if isinstance(node, list):
        for item in node:
            _const_to_enum(item)
    elif isinstance(node, dict):
        if "const" in node and "enum" not in node and node.get("type") == "string":
            node["enum"] = [node.pop("const")]
        for key, value in node.items():
            if key not in _DATA_KEYS:
                _const_to_enum(value)


def _is_activation(node: dict[str, Any]) -> bool:
    options = node.get("oneOf") or node.get("anyOf") or ()
    titles = {o.get("title") for o in options if isinstance(o, dict)}
    refs = {o.get("$ref", "").rsplit("/", 1)[-1] for o in options if isinstance(o, dict)}
    return "ActivationName" in titles and "HermiteActivation" in refs and len(options) == 2


def _is_teacher(node: dict[str, Any]) -> bool:
    """The teacher: an activation, or a multi-index teacher (docs/api.md, v1.2)."""
    options = node.get("oneOf") or node.get("anyOf") or ()
    refs = {o.get("$ref", "").rsplit("/", 1)[-1] for o in options if isinstance(o, dict)}
    return len(options) == 3 and {"HermiteActivation", "MultiIndexTeacherSpec"} <= refs


def _share_activation(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    found: list[dict[str, Any]] = []
    teachers: list[dict[str, Any]] = []

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in list(node.items()):
                if isinstance(value, dict) and _is_teacher(value):
                    teachers.append(value)
                    node[key] = {
                        "$ref": "#/components/schemas/Teacher",
                        **{k: v for k, v in value.items() if k in ("description", "title")},
                    }
                elif isinstance(value, dict) and _is_activation(value):
                    found.append(value)
                    node[key] = {
                        "$ref": "#/components/schemas/Activation",
                        **{k: v for k, v in value.items() if k in ("description", "title")},
                    }
                else:
                    visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(schema.get("paths", {}))
    visit(components)
    if not found:
        return
    sample = found[0]
    options = sample.get("oneOf") or sample.get("anyOf")
    name_schema = next(o for o in options if o.get("title") == "ActivationName")
    components["ActivationName"] = {"description": "A name from GET /activations.", **name_schema}
    components["Activation"] = {
        "oneOf": [
            {"$ref": "#/components/schemas/ActivationName"},
            {"$ref": "#/components/schemas/HermiteActivation"},
        ],
        "title": "Activation",
        "description": sample.get("description", ""),
        "examples": sample.get("examples", ["tanh"]),
    }
    if teachers:
        components["Teacher"] = {
            "oneOf": [
                {"$ref": "#/components/schemas/Activation"},
                {"$ref": "#/components/schemas/MultiIndexTeacherSpec"},
            ],
            "title": "Teacher",
            "description": teachers[0].get("description", ""),
            "examples": teachers[0].get("examples", ["sin"]),
        }


def _close_requests(schema: dict[str, Any]) -> None:
    """Each request's ``additionalProperties: false`` → ``unevaluatedProperties: false`` (see above)."""
    components = schema["components"]["schemas"]
    for model in REQUEST_MODELS:
        component = components.get(model.__name__)
        if component is not None and component.pop("additionalProperties", None) is False:
            component["unevaluatedProperties"] = False


def _post_bodies(schema: dict[str, Any]) -> list[str]:
    """``$ref``s of the JSON 200 bodies of the POST operations, in path order."""
    refs: list[str] = []
    for item in schema.get("paths", {}).values():
        content = item.get("post", {}).get("responses", {}).get("200", {}).get("content", {})
        ref = content.get("application/json", {}).get("schema", {}).get("$ref")
        if ref and ref not in refs:
            refs.append(ref)
    return refs


def _type_job_results(schema: dict[str, Any]) -> None:
    """A job's ``result``, and a stored result (``GET /results/{key}``), are one of the POST bodies."""
    bodies = [{"$ref": ref} for ref in _post_bodies(schema)]
    job = schema["components"]["schemas"].get("JobOut", {}).get("properties", {})
    if "result" in job:
        job["result"] = {
            "anyOf": [*bodies, {"type": "null"}],
            "title": "Result",
            "description": job["result"].get("description", ""),
        }
    for path, item in schema.get("paths", {}).items():
        if not path.startswith("/results/"):
            continue
        media = (
            item.get("get", {}).get("responses", {}).get("200", {}).get("content", {}).get("application/json")
        )
        if media is not None and "$ref" not in media.get("schema", {}):
            media["schema"] = {"anyOf": bodies, "title": "StoredResult"}


def _document_validation_errors(schema: dict[str, Any]) -> None:
    """FastAPI documents its own 422 shape; the server answers with ``ValidationErrorBody``."""
    ours = "#/components/schemas/ValidationErrorBody"
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            response = operation.get("responses", {}).get("422") if isinstance(operation, dict) else None
            if response is None:
                continue
            for media in response.get("content", {}).values():
                if media.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                    media["schema"] = {"$ref": ours}
                    response["description"] = "Invalid input: each item names the field and the rule."
    components = schema["components"]["schemas"]
    text = str(schema.get("paths"))
    for name in ("HTTPValidationError", "ValidationError"):
        if name in components and f"/{name}'" not in text and f"/{name}'" not in str(components):
            del components[name]


def _describe_response_fields(schema: dict[str, Any]) -> None:
    """Description, unit and example of each response field from :data:`FIELD_DOCS`; a description
    the model already gives (other than the bare null note) is kept, and the unit added to it."""
    components = schema["components"]["schemas"]
    for model, component in components.items():
        if model.endswith("Request") or model in _REQUEST_PARTS:
            continue  # requests are documented by their models
        for field, prop in component.get("properties", {}).items():
            docs = _docs(model, field)
            if docs is None:
                continue
            text, unit, example = docs
            given = prop.get("description", "").strip()
            nullable = _NULL_NOTE in given
            if given and given != _NULL_NOTE:
                text = given.rstrip(".") + "."
                nullable = False  # already said, if at all
            unit_text = f" Unit: {unit}." if unit and "Unit:" not in text else ""
            note = " Null only if the engine produced a non-finite value." if nullable else ""
            prop["description"] = text + unit_text + note
            if example is not None:
                prop.setdefault("examples", [example])


def _tighten(node: dict[str, Any], key: str, value: int) -> bool:
    if key in node and isinstance(node[key], int | float):
        node[key] = min(node[key], value)
        return True
    return False


def _branches(prop: dict[str, Any]) -> list[dict[str, Any]]:
    return [prop, *(b for b in prop.get("anyOf", []) + prop.get("oneOf", []) if isinstance(b, dict))]


def _reflect_limits(schema: dict[str, Any], settings: Settings) -> None:
    """The operator's limits, fixed at start-up, as the schema's bounds of the request fields (beyond
    them the server answers 413, naming the limit)."""
    limits = {
        "alphas": ("maxItems", settings.max_alphas, "SRF_MAX_ALPHAS", "values"),
        "dimension": ("maximum", settings.max_dimension, "SRF_MAX_DIMENSION", ""),
        "seeds": ("maximum", settings.max_seeds, "SRF_MAX_SEEDS", "seeds"),
        "test_samples": ("maximum", settings.max_test_samples, "SRF_MAX_TEST_SAMPLES", ""),
        "extrapolate_dimensions": ("maximum", settings.max_dimension, "SRF_MAX_DIMENSION", "for each"),
    }
    for name, component in schema["components"]["schemas"].items():
        if not name.endswith("Request"):
            continue
        for field, (keyword, value, env, what) in limits.items():
            prop = component.get("properties", {}).get(field)
            if not isinstance(prop, dict):
                continue
            changed = False
            for branch in _branches(prop):
                if field == "extrapolate_dimensions" and isinstance(branch.get("items"), dict):
                    changed |= _tighten(branch["items"], "maximum", value)
                elif field == "seeds" and branch.get("type") == "array":
                    changed |= _tighten(branch, "maxItems", value)
                else:
                    changed |= _tighten(branch, keyword, value)
            if changed:
                amount = f"{value} {what}".rstrip()
                note = f" This server accepts at most {amount} ({env}); more is a 413."
                prop["description"] = prop.get("description", "").rstrip() + note


def refine(schema: dict[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """Apply every refinement of this module to ``schema`` (in place) and return it."""
    if settings is not None:
        _reflect_limits(schema, settings)
    _rewrite_ranges(schema)
    _const_to_enum(schema)
    _share_activation(schema)
    _close_requests(schema)
    _type_job_results(schema)
    _document_validation_errors(schema)
    _describe_response_fields(schema)
    _error_examples(schema)
    return schema


def install(app: FastAPI, settings: Settings | None = None) -> None:
    """Serve the refined schema at ``app.openapi_url`` (computed once, as FastAPI does), with the
    limits of ``settings``."""
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = refine(original(), settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
