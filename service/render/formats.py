"""What a client asked for: the format (``?format=`` or ``Accept``) and the figure options.

``?format=json|csv|png|svg|pdf`` wins over ``Accept``; without either the answer is JSON. A format
the endpoint cannot give is a 406 naming what it can give, never a silent JSON. Figure options
(``x``, ``y``, ``errors``, ``dpi``, ``size``) apply to png, svg and pdf only; a bad or misplaced one
is a 422 naming it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError

from ..errors import ServiceError

MEDIA_TYPES: dict[str, str] = {
    "json": "application/json",
    "csv": "text/csv",
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
}
FIGURES = ("png", "svg", "pdf")
ALL_FORMATS = tuple(MEDIA_TYPES)

AxisName = Literal["alpha", "learning_rate", "alpha0", "ridge", "noise", "width", "steps"]
#: What a figure shows: the errors (default) or, for a network simulation, its first layer's overlaps
#: with the teacher directions against the step (docs/theory.md §11.1).
ViewName = Literal["errors", "overlaps"]
ErrorName = Literal["test", "train"]

DPI_RANGE = (30, 600)
SIZE_RANGE = (1.0, 40.0)
#: A figure's pixel budget (width × height × dpi²): bounds memory and rendering time.
MAX_PIXELS = 40_000_000
DEFAULT_DPI = 100


class NotAcceptable(ServiceError):
    def __init__(self, detail: str) -> None:
        super().__init__(406, detail, field="format")


class InvalidOption(RequestValidationError):
    """422 for a figure option (or the body field it conflicts with), shaped as every validation
    error of the API (``detail`` items naming the field, and a one-line ``message``)."""

    status_code = 422

    def __init__(self, field: str, rule: str, where: str = "query") -> None:
        super().__init__([{"loc": (where, field), "msg": rule, "type": "invalid_option"}])
        self.field = field
        self.detail = f"{field}: {rule}"


def _invalid(field: str, rule: str) -> InvalidOption:
    return InvalidOption(field, rule, "body" if field == "alphas" else "query")


def _ranges(accept: str) -> list[tuple[str, float]]:
    """``Accept`` as (media range, q), malformed q-values counting as 0 (RFC 9110 §12.5.1)."""
    ranges = []
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        ranges.append((media, q))
    return ranges


def _quality(media_type: str, ranges: Sequence[tuple[str, float]]) -> float:
    """The q of the most specific range matching ``media_type`` (0 when none does)."""
    kind = media_type.split("/")[0]
    best, specificity = 0.0, -1
    for media, q in ranges:
        level = 2 if media == media_type else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
        if level > specificity:
            best, specificity = q, level
    return best if specificity >= 0 else 0.0


def choose_format(format: str | None, accept: str | None, offered: Sequence[str] = ALL_FORMATS) -> str:
    """The format to answer in, from ``?format=`` (first) or ``Accept``; 406 if none is offered."""
    listing = ", ".join(f"{f} ({MEDIA_TYPES[f]})" for f in offered)
    if format is not None:
        name = format.strip().lower()
        if name not in offered:
            shown = name if len(name) <= 20 else name[:20] + "…"
            raise NotAcceptable(f"format: {shown!r} is not available here; available: {listing}")
        return name
    if not accept or not accept.strip():
        return offered[0]
    ranges = _ranges(accept)
    scored = [(_quality(MEDIA_TYPES[f], ranges), -i, f) for i, f in enumerate(offered)]
    q, _, name = max(scored)
    if q <= 0:
        raise NotAcceptable(
            f"Accept: none of the acceptable media types can be given here; available: {listing}"
        )
    return name


#: Axis scales a figure may be asked for (``?xscale=``, ``?yscale=``).
SCALES = ("linear", "log")


@dataclass(frozen=True)
class FigureOptions:
    """How to draw a figure; ``x`` None means α (κ for the learned function)."""

    x: str | None = None
    y: str | None = None
    errors: tuple[str, ...] = ("test",)
    dpi: int = DEFAULT_DPI
    size: tuple[float, float] | None = None
    view: str = "errors"
    #: "linear" or "log"; None: follow the values (log only for positive, geometrically spaced ones)
    xscale: str | None = None
    yscale: str | None = None

    def canonical(self) -> str:
        """A stable text of the options, part of a rendered figure's cache key (the scales only when
        chosen, so the keys of figures drawn before they existed stay the same)."""
        size = "" if self.size is None else f"{self.size[0]!r}x{self.size[1]!r}"
        text = f"x={self.x or ''};y={self.y or ''};errors={','.join(self.errors)};dpi={self.dpi};size={size}"
        text = text if self.view == "errors" else f"{text};view={self.view}"  # old keys stay
        scales = "".join(f";{k}={v}" for k, v in (("xscale", self.xscale), ("yscale", self.yscale)) if v)
        return text + scales


@dataclass(frozen=True)
class Output:
    """The format of the answer and, for a figure, its options."""

    format: str
    figure: FigureOptions

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]

    @property
    def is_figure(self) -> bool:
        return self.format in FIGURES


def _parse_errors(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ("test",)
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    if not names or any(n not in ("test", "train") for n in names) or len(set(names)) != len(names):
        raise _invalid("errors", "give test, train or test,train (comma-separated, each once)")
    return names


def _parse_size(text: str | None, dpi: int) -> tuple[float, float] | None:
    if text is None:
        return None
    lo, hi = SIZE_RANGE
    width, sep, height = text.lower().partition("x")
    try:
        size = (float(width), float(height)) if sep else None
    except ValueError:
        size = None
    if size is None or not all(lo <= v <= hi for v in size):
        raise _invalid("size", f"give WIDTHxHEIGHT in inches, each from {lo:g} to {hi:g} (e.g. 8x5)")
    if size[0] * size[1] * dpi * dpi > MAX_PIXELS:
        raise _invalid(
            "size", f"size × dpi gives more than {MAX_PIXELS:,} pixels; make it smaller or lower dpi"
        )
    return size


def parse_output(
    offered: Sequence[str],
    format: str | None,
    accept: str | None,
    *,
    x: str | None = None,
    y: str | None = None,
    errors: str | None = None,
    dpi: int | None = None,
    size: str | None = None,
    view: str | None = None,
    xscale: str | None = None,
    yscale: str | None = None,
) -> Output:
    """The validated format and figure options (406 / 422 naming the field)."""
    chosen = choose_format(format, accept, offered)
    given = {
        "x": x, "y": y, "errors": errors, "dpi": dpi, "size": size, "view": view,
        "xscale": xscale, "yscale": yscale,
    }  # fmt: skip
    if chosen not in FIGURES:
        misplaced = [name for name, value in given.items() if value is not None]
        if misplaced:
            raise _invalid(misplaced[0], f"figure options apply only to {', '.join(FIGURES)}, not {chosen}")
        return Output(chosen, FigureOptions())
    if dpi is not None and not DPI_RANGE[0] <= dpi <= DPI_RANGE[1]:
        raise _invalid("dpi", f"must be an integer from {DPI_RANGE[0]} to {DPI_RANGE[1]}")
    resolution = DEFAULT_DPI if dpi is None else int(dpi)
    if y is not None and x is None:
        x = "alpha"
    if y is not None and y == x:
        raise _invalid("y", "must name an axis other than x")
    if view is not None and view not in ("errors", "overlaps"):
        raise _invalid("view", "must be errors or overlaps")
    if view == "overlaps" and (x is not None or y is not None):
        raise _invalid("view", "the overlaps are drawn against the step; x and y do not apply")
    for name, scale in (("xscale", xscale), ("yscale", yscale)):
        if scale is not None and scale not in SCALES:
            raise _invalid(name, f"must be one of {', '.join(SCALES)}")
    options = FigureOptions(
        x, y, _parse_errors(errors), resolution, _parse_size(size, resolution), view or "errors", xscale,
        yscale,
    )
    return Output(chosen, options)


#: Panels of a figure at most: heatmaps (one per combination of the axes other than x and y) and
#: the learned function (one per α).
MAX_PANELS = {"heatmap": 6, "function": 12}


def check_axes(
    options: FigureOptions,
    list_valued: Mapping[str, int],
    kind: str,
    n_points: int = 0,
    optimised: Sequence[str] = (),
) -> None:
    """422 when the figure cannot be drawn for a result with these list-valued axes (name → length).

    ``optimised``: the fields the result found per point ("optimal" η̃ or λ); ``y`` naming one of them
    draws that optimum against ``x`` (a line figure, not a heatmap)."""
    if options.view == "overlaps":
        if kind not in ("simulate", "compare"):
            raise _invalid("view", "the overlaps are measured by a network simulation (POST /simulate)")
        return
    if kind == "function":
        for name, value in (("x", options.x), ("y", options.y)):
            if value is not None:
                raise _invalid(name, "the learned function is drawn against κ; x and y do not apply")
        if n_points > MAX_PANELS["function"]:
            raise _invalid(
                "alphas",
                f"the figure draws one panel per α, at most {MAX_PANELS['function']}; ask the CSV for more",
            )
        return
    available = ", ".join(list_valued) or "none"
    if options.y is not None and options.y in optimised:
        if options.x is not None and options.x != "alpha" and options.x not in list_valued:
            rule = f"{options.x} has a single value in this result; list-valued axes: {available}"
            raise _invalid("x", rule)
        return
    for name, value in (("x", options.x), ("y", options.y)):
        if value is not None and value != "alpha" and value not in list_valued:
            raise _invalid(name, f"{value} has a single value in this result; list-valued axes: {available}")
    if options.y is None:
        return
    for name, value in (("x", options.x), ("y", options.y)):
        if value not in list_valued:
            raise _invalid(name, f"a heatmap needs two list-valued axes; {value} has a single value")
    panels = 1
    for axis, length in list_valued.items():
        if axis not in (options.x, options.y):
            panels *= length
    if panels > MAX_PANELS["heatmap"]:
        raise _invalid(
            "y",
            f"a heatmap draws one panel per combination of the other list-valued axes, at most "
            f"{MAX_PANELS['heatmap']} (here {panels})",
        )


# ---------------------------------------------------------------- FastAPI dependency and OpenAPI

#: The OpenAPI ``content`` of the formats other than JSON (JSON's schema is the route's model).
OTHER_CONTENT: dict[str, Any] = {
    "text/csv": {"schema": {"type": "string"}},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "image/svg+xml": {"schema": {"type": "string"}},
    "application/pdf": {"schema": {"type": "string", "format": "binary"}},
}
FORMATS_TEXT = (
    "JSON, as documented here. `?format=csv|png|svg|pdf` (or the matching Accept) answers the same result "
    "as CSV (one row per point) or as a figure (options x, y, errors, dpi, size, as on "
    "GET /results/{key}/figure). Those formats are not listed in this operation because generated "
    "clients parse its 200 as JSON: such a client reads them as bytes from GET /results/{key}/figure and "
    "GET /results/{key}/table, with the `key` of the JSON answer (docs/api.md, The OpenAPI schema)."
)


def openapi_200(model: type, description: str, headers: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A 200 response of a route that also answers other formats, documented as JSON only (see
    :data:`FORMATS_TEXT`): one media type per status is what generated clients parse correctly."""
    out: dict[str, Any] = {"model": model, "description": f"{description} {FORMATS_TEXT}"}
    if headers:
        out["headers"] = dict(headers)
    return out


def openapi_406(error_model: type) -> dict[str, Any]:
    return {
        "model": error_model,
        "description": "The format asked (?format= or Accept) cannot be given here.",
    }


@dataclass(frozen=True)
class OutputQuery:
    """The raw query options and Accept header of a request (checked by :func:`parse_output`)."""

    format: str | None
    accept: str | None
    x: str | None
    y: str | None
    errors: str | None
    dpi: int | None
    size: str | None
    view: str | None = None
    xscale: str | None = None
    yscale: str | None = None

    def parse(self, offered: Sequence[str] = ALL_FORMATS) -> Output:
        return parse_output(
            offered,
            self.format,
            self.accept,
            x=self.x,
            y=self.y,
            errors=self.errors,
            dpi=self.dpi,
            size=self.size,
            view=self.view,
            xscale=self.xscale,
            yscale=self.yscale,
        )


#: The figure options as query parameters (shared by every route that can draw a figure).
XQuery = Annotated[
    AxisName | None,
    Query(description="Figures: the axis on the x-axis (default alpha); it must be list-valued."),
]
YQuery = Annotated[
    AxisName | None,
    Query(description="Figures: with x, draw a heatmap of the test error over x and y (both list-valued)."),
]
ErrorsQuery = Annotated[
    str | None,
    Query(description="Figures: test (default), train, or test,train (a second panel).", max_length=20),
]
DpiQuery = Annotated[
    int | None,
    Query(description=f"Figures: resolution, {DPI_RANGE[0]} to {DPI_RANGE[1]} (default {DEFAULT_DPI})."),
]
SizeQuery = Annotated[
    str | None,
    Query(description="Figures: WIDTHxHEIGHT in inches, e.g. 8x5.", max_length=20),
]
ViewQuery = Annotated[
    ViewName | None,
    Query(
        description="Figures: errors (default) or overlaps: a network simulation's first-layer overlaps with "
        "each teacher direction against the step (± sem)."
    ),
]
ScaleName = Literal["linear", "log"]
XScaleQuery = Annotated[
    ScaleName | None,
    Query(
        description="Figures: linear or log x-axis (default: log for positive, geometrically spaced values)."
    ),
]
YScaleQuery = Annotated[
    ScaleName | None,
    Query(description="Figures: linear or log y-axis (default: follows the values)."),
]


#: The format and figure options of a route answering JSON by default: honoured, but left out of its
#: schema (see :data:`FORMATS_TEXT`), so a generated client cannot ask for what it cannot parse.
_HIDDEN = {"include_in_schema": False}


def output_query(
    request: Request,
    format: Annotated[str | None, Query(**_HIDDEN)] = None,
    x: Annotated[AxisName | None, Query(**_HIDDEN)] = None,
    y: Annotated[AxisName | None, Query(**_HIDDEN)] = None,
    errors: Annotated[str | None, Query(max_length=20, **_HIDDEN)] = None,
    dpi: Annotated[int | None, Query(**_HIDDEN)] = None,
    size: Annotated[str | None, Query(max_length=20, **_HIDDEN)] = None,
    view: Annotated[ViewName | None, Query(**_HIDDEN)] = None,
    xscale: Annotated[ScaleName | None, Query(**_HIDDEN)] = None,
    yscale: Annotated[ScaleName | None, Query(**_HIDDEN)] = None,
) -> OutputQuery:
    return OutputQuery(format, request.headers.get("accept"), x, y, errors, dpi, size, view, xscale, yscale)


def figure_query(
    format: Annotated[
        Literal["png", "svg", "pdf"], Query(description="The figure's format: png (default), svg or pdf.")
    ] = "png",
    x: XQuery = None,
    y: YQuery = None,
    errors: ErrorsQuery = None,
    dpi: DpiQuery = None,
    size: SizeQuery = None,
    view: ViewQuery = None,
    xscale: XScaleQuery = None,
    yscale: YScaleQuery = None,
) -> OutputQuery:
    """The options of a route that answers only a figure (its format from ``?format=``, never Accept)."""
    return OutputQuery(format, None, x, y, errors, dpi, size, view, xscale, yscale)


#: The OpenAPI ``content`` of a figure-only 200 and of a CSV-only 200.
FIGURE_CONTENT = {MEDIA_TYPES[f]: OTHER_CONTENT[MEDIA_TYPES[f]] for f in FIGURES}
CSV_CONTENT = {"text/csv": OTHER_CONTENT["text/csv"]}


OutputDep = Annotated[OutputQuery, Depends(output_query)]
FigureDep = Annotated[OutputQuery, Depends(figure_query)]
