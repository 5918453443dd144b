"""Request and response models of the HTTP API (docs/api.md); the CLI builds on the same models.

Requests forbid unknown fields, take only finite numbers (``strict``: no numeric strings, no booleans
as numbers) and state their bounds. The hard bounds here are static (they are part of the OpenAPI
schema); the operator's limits (``SRF_MAX_*``) are checked later and answered with 413.
"""

from __future__ import annotations

import functools
import operator
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from srf_engine import ACTIVATION_NAMES, ACTIVATIONS
from srf_engine.activations import MAX_HERMITE_COEFFICIENTS
from srf_engine.protocols import MAX_ATOMS, MAX_STEPS
from srf_engine.teachers import MAX_DIRECTIONS, MAX_HERMITE_TERMS, MAX_TOTAL_DEGREE
from srf_engine.theory.curve import DEFAULT_BULK, DEFAULT_MAPPING, DEFAULT_ROW_NORM

#: docs/theory.md §7: tanh student, sin teacher, η̃ = 3, α0 = 20, λ = 0.1, ψ_w = 1, Δ = 0.
EXAMPLE_PROBLEM: dict[str, Any] = {
    "student": "tanh",
    "teacher": "sin",
    "learning_rate": 3.0,
    "alpha0": 20.0,
    "width": 1.0,
    "ridge": 0.1,
    "noise": 0.0,
    "alphas": [0.2, 0.9, 1.6, 2.3, 3.0],
}
EXAMPLE_SIMULATION: dict[str, Any] = {"model": "network", "dimension": 400, "seeds": 2, "test_samples": 2000}

_REQUEST_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _known_activation(name: str) -> str:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATION_NAMES)}")
    return name


ActivationName = Annotated[
    str,
    AfterValidator(_known_activation),
    # a plain string, not an enum: generated clients then take student="tanh" as it is written
    WithJsonSchema(
        {
            "type": "string",
            "title": "ActivationName",
            "description": f"A name from GET /activations: {', '.join(ACTIVATION_NAMES)}.",
            # the names as a pattern, not an enum: validators still refuse an unknown one
            "pattern": "^(" + "|".join(re.escape(n) for n in ACTIVATION_NAMES) + ")$",
            "examples": list(ACTIVATION_NAMES[:3]),
        }
    ),
]

HermiteCoefficient = Annotated[float, Field(ge=-100.0, le=100.0)]


class HermiteActivation(BaseModel):
    """``σ(z) = Σ_k c_k He_k(z)/√(k!)`` with probabilists' Hermite polynomials (orthonormal basis)."""

    model_config = ConfigDict(**_REQUEST_CONFIG, json_schema_extra={"examples": [{"hermite": [0, 1, 0.5]}]})

    hermite: list[HermiteCoefficient] = Field(
        min_length=1,
        max_length=MAX_HERMITE_COEFFICIENTS,
        description=f"Coefficients c0, c1, … (1 to {MAX_HERMITE_COEFFICIENTS}, each in [-100, 100]).",
    )


def _activation_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "activation-name"
    if isinstance(value, dict | HermiteActivation):
        return "activation-hermite"
    return None


Activation = Annotated[
    Annotated[ActivationName, Tag("activation-name")]
    | Annotated[HermiteActivation, Tag("activation-hermite")],
    Discriminator(
        _activation_kind,
        custom_error_type="activation_type",
        custom_error_message='must be an activation name (see GET /activations) or {"hermite": [c0, c1, …]}',
    ),
    Field(
        description='A name from GET /activations, or {"hermite": [c0, c1, …]} meaning '
        "Σ c_k He_k(z)/√(k!). Never evaluated as code.",
        examples=["tanh", {"hermite": [0, 1, 0.5]}],
    ),
]


class HermiteTermSpec(BaseModel):
    """``coefficient · Π_j He_{n_j}(z_j)/√(n_j!)``: one product of a multi-index teacher."""

    model_config = _REQUEST_CONFIG

    coefficient: float = Field(ge=-100.0, le=100.0, description="c, in [-100, 100].")
    orders: list[Annotated[int, Field(ge=0, le=MAX_TOTAL_DEGREE)]] = Field(
        min_length=1,
        max_length=MAX_DIRECTIONS,
        description=f"n_1 … n_k, the Hermite order along each direction (total degree ≤ {MAX_TOTAL_DEGREE}).",
    )


class MultiIndexBody(BaseModel):
    """``g(z) = Σ_j σ_j(z_j) + Σ c Π_j He_{n_j}(z_j)/√(n_j!)``; ``k`` is the longer of the two lists."""

    model_config = _REQUEST_CONFIG

    sum: list[Activation] | None = Field(
        None, max_length=MAX_DIRECTIONS, description="One activation per direction θ_j, added: Σ_j σ_j(z_j)."
    )
    hermite_terms: list[HermiteTermSpec] | None = Field(
        None,
        max_length=MAX_HERMITE_TERMS,
        description=f"Products of Hermite polynomials (at most {MAX_HERMITE_TERMS}).",
    )


class MultiIndexTeacherSpec(BaseModel):
    """A teacher of ``k ≤ 8`` orthonormal directions, ``y = g(z_1, …, z_k) + √Δ ξ`` (docs/theory.md §11.1).
    Simulated only (``/simulate``); the theory endpoints answer 422."""

    model_config = ConfigDict(
        **_REQUEST_CONFIG,
        json_schema_extra={
            "examples": [
                {
                    "multi_index": {
                        "hermite_terms": [
                            {"coefficient": 1, "orders": [1, 0]},
                            {"coefficient": 1, "orders": [1, 1]},
                        ]
                    }
                }
            ]
        },
    )

    multi_index: MultiIndexBody


def _teacher_kind(value: Any) -> str | None:
    if isinstance(value, MultiIndexTeacherSpec) or (isinstance(value, dict) and "multi_index" in value):
        return "teacher-multi-index"
    return _activation_kind(value)


Teacher = Annotated[
    Annotated[ActivationName, Tag("activation-name")]
    | Annotated[HermiteActivation, Tag("activation-hermite")]
    | Annotated[MultiIndexTeacherSpec, Tag("teacher-multi-index")],
    Discriminator(
        _teacher_kind,
        custom_error_type="teacher_type",
        custom_error_message='must be an activation name (see GET /activations), {"hermite": [c0, c1, …]} or '
        '{"multi_index": {"sum": […], "hermite_terms": […]}}',
    ),
    Field(
        description='A name from GET /activations, {"hermite": [c0, c1, …]}, or {"multi_index": {…}}: a '
        "teacher of several directions (simulations only). Never evaluated as code.",
        examples=["sin", {"hermite": [0, 1, 0.5]}],
    ),
]


class SRFSpec(BaseModel):
    """sRF parameters given directly: ``W = √c W0 + r u vᵀ/√d``, target overlap ``γ`` (docs/theory.md §3)."""

    model_config = ConfigDict(
        **_REQUEST_CONFIG,
        json_schema_extra={"examples": [{"c": 1.01897320, "r": 1.13405551, "gamma": 0.97185444}]},
    )

    c: float = Field(gt=0, le=1e6, description="Bulk rescaling c > 0.")
    r: float = Field(ge=-1e6, le=1e6, description="Spike strength r.")
    gamma: float = Field(ge=-1, le=1, description="Overlap γ of the spike with the target, in [-1, 1].")


#: Values one list-valued problem field may hold (the operator's SRF_MAX_POINTS bounds the product).
MAX_AXIS_VALUES = 10_000
GRID_TAGS = ("grid-number", "grid-list", "grid-optimal")


def _grid_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "grid-optimal"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "grid-number"
    if isinstance(value, list):
        return "grid-list"
    return None


def grid_axis(bounds: dict[str, float], *, optimal: bool = False, what: str = "number ≥ 0") -> Any:
    """A number within ``bounds``, or a non-empty list of them (a grid axis); ``"optimal"`` if allowed.

    Each list element is checked against the same bounds; the cartesian product over all list-valued
    fields (and ``alphas``) is the grid a request asks for (docs/api.md, v1.1)."""
    number = Annotated[float, Field(**bounds)]
    members: list[Any] = [
        Annotated[number, Tag("grid-number")],
        Annotated[list[number], Field(min_length=1, max_length=MAX_AXIS_VALUES), Tag("grid-list")],
    ]
    rule = f"must be a {what} or a non-empty list of them (at most {MAX_AXIS_VALUES})"
    if optimal:
        members.append(Annotated[Literal["optimal"], Tag("grid-optimal")])
        rule += ', or "optimal"'
    else:
        rule += ' ("optimal" is accepted only by /theory/curve)'
    return Annotated[
        functools.reduce(operator.or_, members),
        Discriminator(_grid_kind, custom_error_type="grid_type", custom_error_message=rule),
    ]


_LIST_NOTE = " A list asks for every value: the request is then a grid (the cartesian product of all lists)."
LearningRateAxis = grid_axis({"ge": 0, "le": 1e4})
Alpha0Axis = grid_axis({"ge": 0, "le": 1e6})
WidthAxis = grid_axis({"ge": 1e-6, "le": 100}, what="number in [1e-6, 100]")
NoiseAxis = grid_axis({"ge": 0, "le": 1e6})
RidgeAxis = grid_axis({"ge": 0, "le": 1e6})


class ProblemFields(BaseModel):
    """The problem as every POST body states it: the two activations, the α's and, optionally, the sRF
    parameters (flat fields, docs/api.md).

    The other problem fields (learning_rate, alpha0, width, noise, ridge) accept different values on
    different endpoints, so each request, or ProblemAxes, declares them.
    """

    model_config = _REQUEST_CONFIG

    student: Activation
    teacher: Teacher
    srf: SRFSpec | None = Field(None, description="Skip the network → sRF mapping and use these parameters.")
    alphas: list[Annotated[float, Field(gt=0, le=1e6)]] = Field(
        min_length=1,
        max_length=10_000,
        description="Sample ratios α = n/d of the curve, each > 0 (at most 1e6); answered in this order.",
    )


class ProblemAxes(BaseModel):
    """alpha0, width and noise as /theory/curve, /simulate and /compare take them: a number, or a list
    of them (an axis of the grid)."""

    model_config = _REQUEST_CONFIG

    alpha0: Alpha0Axis = Field(
        description="n0/d of the first-step batch, ≥ 0 (at most 1e6); required (0 means no step: random "
        "features)." + _LIST_NOTE,
        examples=[20.0],
    )
    width: WidthAxis = Field(1.0, description="p/d, > 0 (from 1e-6 to 100)." + _LIST_NOTE)
    noise: NoiseAxis = Field(0.0, description="Label-noise variance Δ ≥ 0." + _LIST_NOTE)


class MappingChoice(BaseModel):
    """Which network → sRF mapping gives (c, r, γ): the theory's, and the simulated sRF model's."""

    model_config = _REQUEST_CONFIG

    mapping: Literal["paper", "corrected"] = Field(
        DEFAULT_MAPPING,
        description='Network → sRF mapping: "paper" (docs/theory.md §3, exact for a centred student and '
        'E y = 0) or "corrected" (§10.2: Stein row shrink and the residual y − E σ; equal to "paper" when '
        "both are centred). The theory and a simulation of model \"srf\" use the same (c, r, γ) of it; "
        'model "network" only reports them. Ignored when `srf` is given.',
        examples=["corrected"],
    )


class TheoryChoices(MappingChoice):
    """Which theory of the trained network: the mapping to the sRF model and the law of its bulk."""

    model_config = _REQUEST_CONFIG
    bulk: Literal["marchenko_pastur", "one_step", "one_step_sampled"] = Field(
        DEFAULT_BULK,
        description='Bulk law of the first layer: "marchenko_pastur" (§5, c times Marchenko–Pastur), '
        '"one_step" (§10.3: generalised Marchenko–Pastur with the population covariance the first batch '
        "builds, and the spike's projections on it) or \"one_step_sampled\" (§10.3 with that covariance "
        "from one sampled first batch, dimension 1000, seed 0: deterministic, about 1 s more per curve). "
        "Used only with a first step and no `srf`.",
    )
    row_norm: bool = Field(
        DEFAULT_ROW_NORM,
        description="Add the row-norm channel (§10.4: the first layer's rows have unequal norms, which gives "
        "the readout one more function of κ; its weight V_c is derived from the first step). Used only with "
        'a one-step bulk law and E σ\'\' ≠ 0.',
    )


class ReadoutLawSpec(BaseModel):
    """A finite law of the readout at initialisation: ``u_i = values[k]`` with probability ``weights[k]``."""

    model_config = ConfigDict(
        **_REQUEST_CONFIG, json_schema_extra={"examples": [{"values": [1, -0.5], "weights": [0.5, 0.5]}]}
    )

    values: list[Annotated[float, Field(ge=-100, le=100)]] = Field(
        min_length=1, max_length=MAX_ATOMS, description=f"Atoms u_k in [-100, 100] (1 to {MAX_ATOMS})."
    )
    weights: list[Annotated[float, Field(gt=0, le=1)]] = Field(
        min_length=1, max_length=MAX_ATOMS, description="Their probabilities π_k > 0, summing to 1."
    )

    @model_validator(mode="after")
    def _a_law(self) -> ReadoutLawSpec:
        if len(self.values) != len(self.weights):
            raise ValueError("values and weights must have the same length")
        if abs(sum(self.weights) - 1.0) > 1e-9:
            raise ValueError(f"weights must sum to 1, got {sum(self.weights)}")
        return self


def _readout_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "readout-name"
    if isinstance(value, dict | ReadoutLawSpec):
        return "readout-finite"
    return None


def _steps_kind(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return "steps-count"
    if isinstance(value, list):
        return "steps-list"
    return None


class ProtocolFields(BaseModel):
    """How the first layer is trained (docs/theory.md §11.1): every field defaults to the paper's one step.
    /simulate and /compare's simulation run any of them; the theory endpoints answer 422 naming the field
    beyond steps = 1, a uniform readout and learning_rate_exponent = 0."""

    model_config = _REQUEST_CONFIG

    readout: Annotated[
        Annotated[Literal["uniform", "rademacher", "gaussian"], Tag("readout-name")]
        | Annotated[ReadoutLawSpec, Tag("readout-finite")],
        Discriminator(
            _readout_kind,
            custom_error_type="readout_type",
            custom_error_message='must be "uniform", "rademacher", "gaussian" or '
            '{"values": [...], "weights": [...]}',
        ),
    ] = Field(
        "uniform",
        description="The readout at initialisation a_i = u_i/√p: u ≡ 1 (uniform), ±1 (rademacher), N(0, 1) "
        "(gaussian) or a finite law. It multiplies each neuron's gradient and is kept through the steps.",
    )
    steps: Annotated[
        Annotated[int, Field(ge=1, le=MAX_STEPS), Tag("steps-count")]
        | Annotated[
            list[Annotated[int, Field(ge=1, le=MAX_STEPS)]],
            Field(min_length=1, max_length=MAX_STEPS),
            AfterValidator(lambda v: _distinct_values(v, "steps")),
            Tag("steps-list"),
        ],
        Discriminator(
            _steps_kind,
            custom_error_type="steps_type",
            custom_error_message=f"must be an integer from 1 to {MAX_STEPS} or a list of distinct ones",
        ),
    ] = Field(
        1,
        description=f"Giant steps on the first layer before the ridge readout (1 to {MAX_STEPS}), each "
        "W ← W + η̃·p·∇ with the readout kept at its initialisation. A list is a grid axis (after alpha0): "
        "one run of max(steps) steps answers every count.",
    )
    batches: Literal["fresh", "reused"] = Field(
        "fresh", description="A new batch of α0·d samples for each step, or the same batch every step."
    )
    learning_rate_exponent: float = Field(
        0.0,
        ge=0,
        le=1,
        description="β in [0, 1]: the step grows with the dimension, η̃_eff = η̃·d^β (the sRF limit at fixed "
        "η̃ holds only for β = 0).",
    )


class TheoryRequest(TheoryChoices, ProtocolFields, ProblemAxes, ProblemFields):
    """``POST /theory/curve``: the high-dimensional limit (docs/theory.md §5, §10) and its baseline."""

    model_config = ConfigDict(**_REQUEST_CONFIG, json_schema_extra={"examples": [EXAMPLE_PROBLEM]})

    learning_rate: grid_axis({"ge": 0, "le": 1e4}, optimal=True) = Field(  # type: ignore[valid-type]
        description='η̃ of the first step, ≥ 0 (at most 1e4), required; or "optimal": the η̃ ≥ 0 minimising '
        'the test error at each point (reported per point; with ridge "optimal" too, the joint '
        "minimum)." + _LIST_NOTE,
        examples=[3.0, [0.5, 1, 2, 4], "optimal"],
    )
    ridge: grid_axis({"ge": 0, "le": 1e6}, optimal=True) = Field(  # type: ignore[valid-type]
        0.1,
        description='λ of the readout, a number ≥ 0 (at most 1e6), or "optimal": the λ minimising the test '
        "error at each point (reported per point)." + _LIST_NOTE,
    )


class FunctionRequest(TheoryChoices, ProtocolFields, ProblemFields):
    """``POST /theory/function``: what the trained readout expresses along the spike (docs/theory.md §4)."""

    model_config = ConfigDict(
        **_REQUEST_CONFIG, json_schema_extra={"examples": [{**EXAMPLE_PROBLEM, "alphas": [0.5, 2.0]}]}
    )

    learning_rate: float = Field(
        ge=0, le=1e4, description="η̃ of the first step, ≥ 0 (at most 1e4); required."
    )
    alpha0: float = Field(
        ge=0, le=1e6, description="n0/d of the first-step batch, ≥ 0; required (0 means no step)."
    )
    width: float = Field(1.0, ge=1e-6, le=100, description="p/d, > 0 (from 1e-6 to 100).")
    noise: float = Field(0.0, ge=0, le=1e6, description="Label-noise variance Δ ≥ 0.")
    ridge: Annotated[
        Annotated[float, Field(ge=0, le=1e6), Tag("grid-number")]
        | Annotated[Literal["optimal"], Tag("grid-optimal")],
        Discriminator(
            _grid_kind,
            custom_error_type="ridge_type",
            custom_error_message='must be a number ≥ 0 or "optimal"',
        ),
    ] = Field(0.1, description='λ of the readout, a number ≥ 0 (at most 1e6), or "optimal" at each α.')
    kappa: list[Annotated[float, Field(ge=-50, le=50)]] | None = Field(
        None,
        min_length=1,
        max_length=10_000,
        description="Values of κ = v·x/√d at which to give the functions (each in [-50, 50]); default "
        "(null): 101 values in [-4, 4].",
    )


def _distinct_values(values: Any, name: str) -> Any:
    if isinstance(values, list) and len(set(values)) != len(values):
        raise ValueError(f"{name} must be distinct")
    return values


def _distinct(seeds: Any) -> Any:
    return _distinct_values(seeds, "seeds")


def _seeds_kind(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return "seed-count"
    if isinstance(value, list):
        return "seed-list"
    return None


#: Union tags that appear in validation locations; the error handler leaves them out of field names.
UNION_TAGS = frozenset(
    {
        "activation-name",
        "activation-hermite",
        "teacher-multi-index",
        "seed-count",
        "seed-list",
        "readout-name",
        "readout-finite",
        "steps-count",
        "steps-list",
        *GRID_TAGS,
    }
)


class SimulationFields(BaseModel):
    """What a finite-size simulation adds to the problem."""

    model_config = _REQUEST_CONFIG

    model: Literal["network", "srf", "random_features"] = Field(
        "network",
        description='"network": the two-layer network after its real first step; "srf": the spiked random '
        'features of the mapping (or of `srf`); "random_features": no step.',
    )
    dimension: int = Field(1000, ge=2, le=1_000_000, description="Input dimension d (the server caps it).")
    seeds: Annotated[
        Annotated[int, Field(ge=1, le=10_000), Tag("seed-count")]
        | Annotated[
            list[Annotated[int, Field(ge=0, le=2**32 - 1)]],
            Field(min_length=1, max_length=10_000),
            AfterValidator(_distinct),
            Tag("seed-list"),
        ],
        Discriminator(
            _seeds_kind,
            custom_error_type="seeds_type",
            custom_error_message="must be a count (integer ≥ 1) or a list of distinct integers ≥ 0",
        ),
    ] = Field(
        3,
        description="A count n (meaning seeds 0 … n−1) or an explicit list of distinct seeds ≥ 0; each seed "
        "is an independent stream, so a result depends on its seed alone.",
    )
    test_samples: int | None = Field(
        None,
        ge=1,
        le=10_000_000,
        description="Fresh samples for the test error; default (null) max(2000, 2·dimension), as the engine.",
    )
    precision: Literal["float64", "float32"] = Field(
        "float64",
        description="Arithmetic of the simulation's large matrix products (first step, features, Gram and "
        "test products); the ridge solve and the sums of errors stay float64. float32 needs every ridge ≥ "
        "0.01 (422 otherwise), is faster at d ≥ 1000 and changes test and training errors by less than "
        "1e-3 relative on the same seeds, far below their seed-to-seed spread (docs/scaling.md).",
    )

    def seed_list(self) -> list[int]:
        """Seeds as an explicit list (a count n means 0 … n−1)."""
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


class SimulateRequest(MappingChoice, SimulationFields, ProtocolFields, ProblemAxes, ProblemFields):
    """``POST /simulate``: statistics over seeds of the finite-size model."""

    model_config = ConfigDict(
        **_REQUEST_CONFIG, json_schema_extra={"examples": [{**EXAMPLE_PROBLEM, **EXAMPLE_SIMULATION}]}
    )

    learning_rate: LearningRateAxis = Field(
        description="η̃ of the first step, ≥ 0 (at most 1e4); required (0 means no step)." + _LIST_NOTE,
        examples=[3.0, [0.5, 1, 2, 4]],
    )
    ridge: RidgeAxis = Field(0.1, description="λ of the readout, a number ≥ 0 (at most 1e6)." + _LIST_NOTE)


class CompareRequest(TheoryChoices, SimulateRequest):
    """``POST /compare``: theory and simulation of the same problem, and whether they agree."""

    model_config = ConfigDict(
        **_REQUEST_CONFIG, json_schema_extra={"examples": [{**EXAMPLE_PROBLEM, **EXAMPLE_SIMULATION}]}
    )

    z_threshold: float = Field(3.0, gt=0, le=100, description="A point agrees if |z| ≤ this …")
    relative_tolerance: float = Field(
        0.05, ge=0, le=10, description="… or if |relative_error| ≤ this (finite size, docs/theory.md §9)."
    )
    extrapolate_dimensions: list[Annotated[int, Field(ge=2, le=1_000_000)]] | None = Field(
        None,
        min_length=1,
        max_length=4,
        description=(
            "Optional extra dimensions d: the simulation is also run at each of them and, with `dimension`, "
            "its means are fitted to ε(d) = ε∞ + b/d (weights 1/sem²) to extrapolate to d → ∞ "
            "(docs/theory.md §9). The response's `extrapolation` then judges ε∞ against the theory by the "
            "same criterion, with the fit's standard error as sem."
        ),
        examples=[[200, 800]],
    )

    @field_validator("extrapolate_dimensions")
    @classmethod
    def _no_repeated_dimension(cls, dims: list[int] | None) -> list[int] | None:
        if dims is not None and len(set(dims)) != len(dims):
            raise ValueError("extrapolate_dimensions must be distinct (a dimension given twice adds nothing)")
        return dims

    @model_validator(mode="after")
    def _distinct_dimensions(self) -> CompareRequest:
        dims = self.extrapolate_dimensions
        if dims is not None and len(set(dims) | {self.dimension}) < 2:
            raise ValueError("extrapolate_dimensions: give at least one dimension other than `dimension`")
        return self

    def simulation_requests(self) -> dict[int, SimulateRequest]:
        """The /simulate request of the same problem at ``dimension`` and each extrapolation dimension."""
        base = SimulateRequest.model_validate(self.model_dump(include=set(SimulateRequest.model_fields)))
        dims = sorted({self.dimension, *(self.extrapolate_dimensions or ())})
        return {
            d: base
            if d == self.dimension
            else SimulateRequest.model_validate({**base.model_dump(), "dimension": d})
            for d in dims
        }


#: Groups of request fields that several requests take alike. Each is one component of the OpenAPI
#: schema, which every request deriving from it references (service/edge/openapi.py); a request therefore
#: never redefines a field of a group (the schema would no longer be its intersection).
SHARED_FIELDS: tuple[type[BaseModel], ...] = (
    ProblemFields,
    ProblemAxes,
    TheoryChoices,
    SimulationFields,
    ProtocolFields,
    MappingChoice,
)
REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    TheoryRequest,
    FunctionRequest,
    SimulateRequest,
    CompareRequest,
)


# ---------------------------------------------------------------- responses (documentation + CLI)

Num = Annotated[float | None, Field(description="null only if the engine produced a non-finite value")]


class SRFOut(BaseModel):
    c: float
    r: float
    gamma: float


class SRFClassOut(BaseModel):
    """One readout class of a random readout law (docs/theory.md §12.2): the neurons whose readout at
    initialisation is ``u`` see the spike ``r`` and the bulk scale ``c`` of their own class."""

    u: float = Field(description="The readout value u_k of the class.", examples=[-1.0])
    weight: float = Field(description="Its probability π_k.", examples=[0.5])
    c: float = Field(description="The class's bulk rescaling c_k.", examples=[1.0788589])
    r: float = Field(description="The class's spike strength r_k (sign of u_k).", examples=[-0.6676362])
    gamma: float = Field(description="Overlap γ of the spike with the target.", examples=[0.9072389])


_CLASSES = Field(
    None,
    description="With a readout law other than uniform: the per-class (u, weight, c, r, γ) of the "
    "class-by-class theory (docs/theory.md §12); null for a uniform readout, and at the top level when the "
    "classes vary between points (each point then carries its own).",
)
_READOUT = Field(
    None,
    description="With a readout law or a multi-index teacher (docs/theory.md §12): the readout law the "
    "class-by-class theory used, as in the request; absent for today's one-step theory.",
)


class Coordinates(BaseModel):
    """The six coordinates of a grid point, and its own sRF parameters where the mapping varies."""

    alpha: float
    learning_rate: float = Field(description='η̃ of the point (with "optimal": the η̃ found).')
    alpha0: float
    ridge: Num = Field(description='λ of the point (with "optimal": the λ found).')
    noise: float
    width: float
    srf: SRFOut | None = Field(
        None, description="Only when the mapping varies between points (the top-level srf is then null)."
    )


class GridAxisOut(BaseModel):
    name: Literal["width", "noise", "alpha0", "steps", "learning_rate", "ridge", "alpha"]
    values: list[float]


class GridOut(BaseModel):
    """The axes with more than one value, in C order of the points (the last varies fastest)."""

    axes: list[GridAxisOut]
    shape: list[int]


_GRID = Field(description="Axes with more than one value and their lengths: points are in C order of them.")
_SRF = Field(description="The sRF parameters shared by every point; null when they vary (see each point).")


class TheoryPointOut(Coordinates):
    test_error: Num
    train_error: Num
    ridge: Num
    converged: bool
    iterations: int
    residual: Num = None
    overlaps: dict[str, Num] = Field(
        description="Order parameters at the fixed point: q1, q2, V1, V2, t, psi, m; and s, the readout's "
        "weight on the row-norm channel, where it entered (docs/theory.md §10.4)."
    )
    srf_classes: list[SRFClassOut] | None = _CLASSES


class BaselinePointOut(Coordinates):
    """The baseline of the grid point with the same coordinates (``ridge`` "optimal": its own λ)."""

    test_error: Num
    train_error: Num
    converged: bool = True


RequestEcho = Annotated[
    dict[str, Any] | None,
    Field(
        description="The normal form of the request this result answers (defaults filled in, numbers "
        "canonical): `key` is the SHA-256 of it with the endpoint and engine version. Figures and CSV "
        "of a result fetched by key are drawn from it."
    ),
]


class BulkSampleOut(BaseModel):
    """The sampled first batch of bulk "one_step_sampled" (docs/theory.md §10.3): drawn as the network
    simulation of that dimension and seed draws its first step."""

    dimension: int = Field(
        description="d of the sampled batch (n0 = round(alpha0·d) samples).", examples=[1000]
    )
    seed: int = Field(
        description="Seed of the batch: the same draws as a network simulation's seed.", examples=[0]
    )


class FidelityOut(BaseModel):
    """The measured accuracy of the theory used, against network simulations (docs/fidelity.md,
    docs/theory.md §10.5): not a warning, a property of the theory in this regime."""

    regime: str = Field(
        description="The theory and the regime measured (kind of student, α against the width).",
        examples=["mapping 'corrected', bulk 'marchenko_pastur'; odd students (E σ'' = 0) at α0 ≥ 5"],
    )
    test_error_range: list[float] | None = Field(
        description="Smallest and largest theory/network − 1 of the test error measured there, in percent "
        "(null: not measured).",
        examples=[[-1.2, 3.2]],
    )
    train_error_range: list[float] | None = Field(
        description="The same for the training error, in percent.", examples=[[-3.7, 5.7]]
    )
    validated: bool = Field(
        description="Whether every regime of the result was measured, with α0 in the validated range.",
        examples=[True],
    )


class TheoryUsedOut(BaseModel):
    """The envelope of a theory answer and which theory it used (docs/theory.md §3, §5, §10)."""

    key: str = Field(description="SHA-256 of the canonical request (its cache key).")
    cached: bool
    engine_version: str
    request: RequestEcho = None
    mapping: Literal["paper", "corrected"] = Field(
        description="The mapping used (docs/theory.md §3, §10.2).", examples=["corrected"]
    )
    bulk: Literal["marchenko_pastur", "one_step", "one_step_sampled"] = Field(
        description="The bulk law used (docs/theory.md §5, §10.3); marchenko_pastur whenever the one-step "
        "law does not apply (no first step, a given srf, or, for one_step, an odd student, for which both "
        "are §5's).",
        examples=["one_step"],
    )
    bulk_sample: BulkSampleOut | None = Field(
        None,
        description='With bulk "one_step_sampled": the first batch the law was computed from.',
        examples=[None],  # the example's bulk is "one_step", which has none
    )
    row_norm: bool = Field(
        False,
        description="Whether the row-norm channel (docs/theory.md §10.4) entered some point.",
        examples=[False],
    )
    theory_reason: str | None = Field(
        None,
        description="Why `bulk` or `row_norm` differ from the request's (the echoed `request` keeps what was "
        "asked): e.g. an odd student keeps §5's law under bulk one_step (docs/theory.md §10.3), and the "
        "row-norm channel needs a one-step law and E σ'' ≠ 0 (§10.4); null when they are as asked.",
        examples=[None],
    )
    fidelity: FidelityOut | None = Field(
        None,
        description="The measured accuracy of the theory used (docs/fidelity.md); null without a network "
        "step (a given srf, or no step), where the theory is the exact limit of its model.",
    )


class TheoryResponse(TheoryUsedOut):
    srf: SRFOut | None = _SRF
    readout: str | dict[str, list[float]] | None = _READOUT
    srf_classes: list[SRFClassOut] | None = _CLASSES
    grid: GridOut = _GRID
    points: list[TheoryPointOut]
    baseline: list[BaselinePointOut] = Field(description="The same problem at initialisation (no step).")
    warnings: list[str]
    elapsed_seconds: float = Field(description="Wall time of this response (a cache hit is fast).")


class FunctionPointOut(BaseModel):
    alpha: float
    kappa: list[float]
    target: list[Num] = Field(description="E[y | κ] = h(κ) = E_ν σ*(γκ + ρν).")
    after_step: list[Num] | None = Field(
        description="Mean prediction of the trained readout after the step, μ0(κ)m + μ1(κ)κt (null if the "
        "fixed point did not converge)."
    )
    at_initialisation: list[Num] | None = Field(
        description="The same at initialisation (no step): a straight line in κ."
    )
    test_error: Num
    baseline_test_error: Num
    ridge: Num
    baseline_ridge: Num
    converged: bool
    baseline_converged: bool | None = Field(
        description="null with a multi-index teacher (no theory at initialisation is derived)."
    )


class FunctionResponse(TheoryUsedOut):
    srf: SRFOut | None = Field(
        description="The sRF parameters; null with a readout law whose classes differ (see srf_classes)."
    )
    readout: str | dict[str, list[float]] | None = _READOUT
    srf_classes: list[SRFClassOut] | None = _CLASSES
    points: list[FunctionPointOut]
    warnings: list[str]
    elapsed_seconds: float


class ErrorStatsOut(BaseModel):
    mean: Num
    std: Num
    sem: Num
    values: list[Num]


class MeanSemOut(BaseModel):
    mean: list[Num]
    sem: list[Num]


class MatrixMeanSemOut(BaseModel):
    mean: list[list[Num]] = Field(description="[i][j]: singular vector i, teacher direction j.")
    sem: list[list[Num]]


class LearnedStepOut(BaseModel):
    """What the first layer learned after step ``t`` (docs/theory.md §11.1), mean and sem over seeds."""

    step: int
    singular_values: MeanSemOut = Field(
        description="The top 4 singular values of (W_t − W_0)/√p (after one step with a uniform readout the "
        "largest is the measured spike r)."
    )
    overlaps: MatrixMeanSemOut = Field(
        description="|cos| between their right singular vectors and each teacher direction θ_j."
    )


class LearnedStepSeedOut(BaseModel):
    """One seed's first layer after step ``t``."""

    step: int
    singular_values: list[Num]
    overlaps: list[list[Num]]


class SimulationPointOut(Coordinates):
    steps: int | None = Field(
        None, description="The number of giant steps, only when the request asks for steps."
    )
    test_error: ErrorStatsOut
    train_error: ErrorStatsOut
    first_layer: list[LearnedStepOut] | None = Field(
        None,
        description="Network after a step: per step t = 1 … steps, the top singular values of W_t − W_0 and "
        "their overlaps with the teacher directions (mean and sem over seeds).",
    )


class FirstLayerOut(BaseModel):
    """The measured sRF of one seed's first layer (docs/theory.md §10)."""

    c_eff: Num = Field(description="mean_i ‖Π b_i‖² over the bulk rows b_i (W minus its mean row).")
    r: Num = Field(description="Norm of the mean row (the spike), the bulk's own share removed.")
    gamma: Num = Field(description="Overlap θ·v/d of the spike direction v with the target direction.")
    row_shrink: Num = Field(description="mean_i (w_i·w0_i)/‖w0_i‖² (1 without a step).")
    V_c: Num = Field(description="Row-norm spread Σ_i (‖Π b_i‖² − c_eff)² (docs/theory.md §10.4).")
    spectrum_edges: list[Num] = Field(description="Smallest and largest nonzero eigenvalue of Ω = B Π Bᵀ.")
    spectrum_quantiles: dict[str, Num] = Field(description="Quantiles q10 … q90 of the spectrum of Ω.")
    steps: list[LearnedStepSeedOut] | None = Field(
        None, description="After a step: what each step t = 1 … T learned (docs/theory.md §11.1)."
    )


class SimulateResponse(BaseModel):
    key: str
    cached: bool
    engine_version: str
    request: RequestEcho = None
    model: str
    dimension: int
    srf: SRFOut | None = _SRF
    mapping: Literal["paper", "corrected"] | None = Field(
        None,
        description='The network → sRF mapping that produced `srf` (docs/theory.md §3, §10.2): what model '
        '"srf" simulated, what model "network" reports; null when none did (a given srf, or random '
        "features).",
        examples=["corrected"],
    )
    grid: GridOut = _GRID
    seeds: list[int] = Field(default_factory=list)
    points: list[SimulationPointOut]
    first_layer: list[FirstLayerOut] | None = Field(
        None, description='Model "network": per seed, the measured sRF of its first layer.'
    )
    warnings: list[str]
    elapsed_seconds: float


class ComparePoint(Coordinates):
    theory: Num
    simulation_mean: Num
    simulation_sem: Num
    z: float | None = Field(description="(simulation_mean − theory)/simulation_sem; null when the sem is 0.")
    relative_error: float | None = Field(
        description="(simulation_mean − theory)/theory; null when theory is 0."
    )
    agree: bool | None = Field(description="null: no verdict, the theory did not converge at this point.")
    theory_converged: bool


class CompareSummary(BaseModel):
    max_abs_z: float | None
    max_relative_error: float | None = Field(description="Largest |relative_error|.")
    agree: bool
    criterion: str


class ExtrapolationPoint(Coordinates):
    theory: Num
    limit: Num = Field(description="ε∞ of the fit ε(d) = ε∞ + slope/d.")
    limit_sem: Num = Field(description="Standard error of ε∞ (null with one seed and two dimensions).")
    slope: Num
    z: float | None = Field(description="(limit − theory)/limit_sem.")
    relative_error: float | None = Field(description="(limit − theory)/theory.")
    agree: bool | None = Field(description="null: no verdict, the theory did not converge at this point.")


class Extrapolation(BaseModel):
    dimensions: list[int]
    points: list[ExtrapolationPoint]
    summary: CompareSummary


class CompareResponse(BaseModel):
    key: str
    cached: bool
    engine_version: str
    request: RequestEcho = None
    grid: GridOut = _GRID
    srf: SRFOut | None = Field(
        None,
        description='The (c, r, γ) of both sides: the theory\'s, which a simulation of model "srf" draws; '
        "null when they vary between points (see each point of `theory`).",
    )
    mapping: Literal["paper", "corrected"] | None = Field(
        None, description="The network → sRF mapping of `srf` (docs/theory.md §3, §10.2), for both sides."
    )
    theory_reason: str | None = Field(
        None,
        description='Why the theory judged differs from the request: model "srf" is judged against the sRF '
        "model's own limit (bulk marchenko_pastur, no row-norm channel, docs/theory.md §5).",
    )
    theory: TheoryResponse
    simulation: SimulateResponse
    points: list[ComparePoint]
    summary: CompareSummary
    extrapolation: Extrapolation | None = Field(
        None, description="With `extrapolate_dimensions`: the simulation extrapolated to d → ∞."
    )
    warnings: list[str]
    elapsed_seconds: float


JobStatusName = Literal["queued", "running", "done", "failed", "cancelled"]


class JobAccepted(BaseModel):
    id: str
    status: JobStatusName


class JobOut(BaseModel):
    id: str
    status: JobStatusName
    progress: float = Field(ge=0, le=1)
    endpoint: str
    key: str
    result: dict[str, Any] | None = Field(None, description="The 200 body of the request, when done.")
    error: str | None = Field(None, description="Why the job failed or was cancelled.")
    created_at: float
    updated_at: float


class ErrorBody(BaseModel):
    """Every non-422 error: a message naming the field or limit and the rule."""

    detail: str
    field: str | None = None
    limit: str | None = None


class ValidationItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str
    field: str = Field(description="Dotted path of the offending field, e.g. alphas.3 or student.")


class ValidationErrorBody(BaseModel):
    detail: list[ValidationItem]
    message: str = Field(description="All problems in one line: 'field: rule; …'.")


class ActivationInfo(BaseModel):
    name: str
    description: str
    centered: bool = Field(description="E σ(z) = 0; the network → sRF mapping assumes it of the student.")


class ActivationsResponse(BaseModel):
    activations: list[ActivationInfo]
    hermite: str = Field(description="How to give an activation by its Hermite coefficients.")


class ClusterHealth(BaseModel):
    """The Dask cluster as last seen (no network call is made to answer ``/healthz``)."""

    address: str = Field(description="SRF_DASK_SCHEDULER.", examples=["tcp://127.0.0.1:8786"])
    state: Literal["connected", "connecting", "unreachable", "not_connected"] = Field(
        description="As last seen; not_connected: no simulation has asked for the cluster yet.",
        examples=["connected"],
    )
    reason: str | None = Field(
        None, description="Why it is unreachable (the 503s of simulations say the same)."
    )


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"] = Field(
        description="'ok'; 'degraded' while the Dask cluster (SRF_DASK_SCHEDULER) is unreachable: the theory "
        "and stored results are served, new simulations get 503."
    )
    cluster: ClusterHealth | None = Field(None, description="Present when SRF_DASK_SCHEDULER is set.")


class VersionResponse(BaseModel):
    engine_version: str
    service_version: str
    api_version: str
