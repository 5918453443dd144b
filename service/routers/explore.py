"""``GET /explore``: the explorer page (every problem field at hand, the theory redrawn as it changes).

The page is static HTML, CSS and vanilla JavaScript from ``service/static/explore`` (nothing to build,
no external host: it works offline, as ``/docs`` does); it draws its own SVG and calls the public API
(``/theory/curve``, ``/theory/function``, ``/compare`` as a job). This router adds only what the page
needs from the server itself: its configuration (the request bounds of the schema and the operator's
limits, embedded in the page) and ``POST /explore/estimate``, the cost of a comparison before it is
submitted. Both stay out of the OpenAPI schema: they serve the page, they are not the API.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from srf_engine import ACTIVATIONS
from srf_engine.activations import MAX_HERMITE_COEFFICIENTS

from ..deps import ServicesDep
from ..schemas import EXAMPLE_PROBLEM, CompareRequest, FunctionRequest, SimulationFields, TheoryChoices
from ..settings import Settings
from ..work import pipeline
from ..work.prepare import prepare

ASSETS = Path(str(files("service") / "static" / "explore"))
STATIC = "/explore/static"
#: Where the page's configuration goes: a JSON script element, read by explore.js.
CONFIG_MARK = "<!--config-->"

#: Fields shown on a logarithmic slider: their useful values span decades (0 is still typed in).
LOG_FIELDS = {
    "learning_rate": 0.01, "alpha0": 0.01, "ridge": 1e-5, "noise": 1e-4, "width": 1e-3, "alpha": 1e-3,
}


def _number_bounds(schema: dict[str, Any]) -> tuple[float | None, float | None]:
    """(minimum, maximum) of the first number of ``schema`` (its own, or a ``oneOf``/``anyOf`` member's)."""
    if schema.get("type") in ("number", "integer"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        return low, schema.get("maximum")
    for member in (*schema.get("oneOf", ()), *schema.get("anyOf", ())):
        low, high = _number_bounds(member)
        if low is not None or high is not None:
            return low, high
    return None, None


def config(settings: Settings, base: str) -> dict[str, Any]:
    """What the page needs to know: bounds of every field (the schema's, tightened by the operator's
    limits), defaults, the activations, and the limits it must respect."""
    function = FunctionRequest.model_json_schema()["properties"]
    simulation = SimulationFields.model_json_schema()["properties"]
    choices = TheoryChoices.model_json_schema()["properties"]
    fields: dict[str, dict[str, Any]] = {}
    for name in ("learning_rate", "alpha0", "ridge", "noise", "width"):
        low, high = _number_bounds(function[name])
        fields[name] = {"min": low, "max": high, "log_min": LOG_FIELDS[name]}
    alpha_low, alpha_high = _number_bounds(function["alphas"]["items"])
    fields["alpha"] = {"min": alpha_low, "max": alpha_high, "log_min": LOG_FIELDS["alpha"]}
    dim_low, dim_high = _number_bounds(simulation["dimension"])
    dim_high = min(dim_high or settings.max_dimension, settings.max_dimension)
    fields["dimension"] = {"min": dim_low, "max": dim_high}
    fields["seeds"] = {"min": 1, "max": settings.max_seeds}
    fields["points"] = {"min": 2, "max": settings.max_alphas}
    return {
        "base": base,
        "auth": bool(settings.api_key_list()),
        "activations": [
            {"name": name, "description": act.description, "centered": act.centered}
            for name, act in ACTIVATIONS.items()
        ],
        "hermite_max": MAX_HERMITE_COEFFICIENTS,
        "fields": fields,
        "choices": {
            name: {"values": choices[name].get("enum", [True, False]), "default": choices[name]["default"]}
            for name in ("mapping", "bulk", "row_norm")
        },
        "limits": {
            "max_alphas": settings.max_alphas,
            "max_points": settings.max_points,
            "max_dimension": settings.max_dimension,
            "max_seeds": settings.max_seeds,
            "max_sync_seconds": settings.max_sync_seconds,
        },
        "example": EXAMPLE_PROBLEM,
    }


def _base(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


async def explore(request: Request, services: ServicesDep) -> HTMLResponse:
    """The page, with its configuration embedded (``</`` escaped: it cannot close the script element)."""
    base = _base(request)
    text = json.dumps(config(services.settings, base)).replace("</", "<\\/")
    html = (ASSETS / "explore.html").read_text(encoding="utf-8")
    html = html.replace("{{base}}", base).replace(
        CONFIG_MARK, f'<script type="application/json" id="srf-config">{text}</script>'
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-cache"})


async def estimate(req: CompareRequest, services: ServicesDep) -> dict[str, Any]:
    """The predicted seconds and memory of ``POST /compare`` with this body, after the limits (413 naming
    the field, 422 for a bad value, as the POST would answer), and whether it is stored already."""
    return await pipeline.estimate(services, prepare(req))


def install(app: FastAPI, dependencies: list[Any]) -> None:
    """Serve the page and its assets (public, as /docs is) and the estimate (behind the API key, if any)."""
    app.mount(STATIC, StaticFiles(directory=ASSETS), name="explore-static")
    # Routes of the app itself, as /docs is: listed in app.routes, left out of the schema.
    app.add_api_route("/explore", explore, methods=["GET"], include_in_schema=False)
    app.add_api_route(
        "/explore/estimate", estimate, methods=["POST"], include_in_schema=False, dependencies=dependencies
    )
