"""The request schemas of the served OpenAPI, checked with a JSON Schema 2020-12 validator.

Each request is one flat object of its fields, closed by ``unevaluatedProperties: false``: the
documented example bodies must be valid, a body with an unknown field invalid, and on every body
the schema must agree with the server's own validation.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel, ValidationError
from starlette.testclient import TestClient
from test_service_support import COMPARE, ROOT, SIMULATE, THEORY

from service.app import create_app
from service.schemas import REQUEST_MODELS
from service.settings import Settings

PATHS = {
    "/theory/curve": "TheoryRequest",
    "/theory/function": "FunctionRequest",
    "/simulate": "SimulateRequest",
    "/compare": "CompareRequest",
}
MODELS: dict[str, type[BaseModel]] = {model.__name__: model for model in REQUEST_MODELS}
#: A POST in the README: ``curl … 127.0.0.1:8000/<path>… -d '<body>'`` (not crossing another curl).
CURL = re.compile(r"curl [^\n]*?:8000(?P<path>/[a-z/]+)(?:(?!curl ).)*?-d '(?P<body>\{.*?\})'", re.S)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return create_app(Settings(cache_path=tmp_path_factory.mktemp("requests") / "cache.sqlite3"))


@pytest.fixture(scope="module")
def schema(app) -> dict[str, Any]:
    return app.openapi()


def validator(schema: dict[str, Any], name: str) -> Draft202012Validator:
    """A 2020-12 validator of one request component, its ``$ref``s resolved in the served schema."""
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{name}",
        "components": schema["components"],
    }
    Draft202012Validator.check_schema(root)
    return Draft202012Validator(root)


def accepted_by_server(name: str, body: dict[str, Any]) -> bool:
    try:
        MODELS[name].model_validate(body)
    except ValidationError:
        return False
    return True


def documented_examples(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(request, where, body) of every example body: the operations' and components' examples, and
    the README's curl commands."""
    found = []
    for path, name in PATHS.items():
        media = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        found += [(name, f"{path} {key}", e["value"]) for key, e in media.get("examples", {}).items()]
        found += [(name, f"{name} example", e) for e in schema["components"]["schemas"][name]["examples"]]
    docs = ("README.md", "docs/usage.md")
    readme = "\n".join((Path(ROOT) / doc).read_text(encoding="utf-8") for doc in docs)
    for match in CURL.finditer(readme):
        found.append((PATHS[match["path"]], f"README {match['path']}", json.loads(match["body"])))
    return found


def test_every_request_is_one_flat_object_of_its_fields(schema) -> None:
    components = schema["components"]["schemas"]
    for name, model in MODELS.items():
        request = components[name]
        assert request["unevaluatedProperties"] is False and "additionalProperties" not in request
        assert "allOf" not in request and request["type"] == "object"
        # the flat body of the HTTP contract: the same fields, the same required ones
        assert set(request["properties"]) == set(model.model_fields), name
        required = {f for f, info in model.model_fields.items() if info.is_required()}
        assert set(request.get("required", [])) == required, name


def test_documented_examples_are_valid(schema) -> None:
    examples = documented_examples(schema)
    assert {where.split()[0] for _, where, _ in examples} >= {*PATHS, "README"}
    assert sum(where.startswith("README") for _, where, _ in examples) >= 4
    for name, where, body in examples:
        errors = [e.message for e in validator(schema, name).iter_errors(body)]
        assert not errors, (where, errors)
        assert accepted_by_server(name, body), where


def test_an_unknown_field_is_invalid_and_named(schema, app) -> None:
    with TestClient(app) as http:
        for path, name in PATHS.items():
            body = {**THEORY, "alphas": [1.0], "nosie": 0.1}  # a misspelt noise
            errors = list(validator(schema, name).iter_errors(body))
            assert [e.validator for e in errors] == ["unevaluatedProperties"], (name, errors)
            assert "'nosie'" in errors[0].message
            answer = http.post(path, json=body)
            assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "nosie"
            nested = {**THEORY, "student": {"hermite": [0, 1], "x": 1}}  # inside a shared component
            assert not validator(schema, name).is_valid(nested)


#: Bodies near the edges of what each endpoint takes: the schema must judge them as the server does.
VARIANTS: list[dict[str, Any]] = [
    {},
    {"learning_rate": "optimal"},
    {"ridge": "optimal"},
    {"alpha0": [0, 20]},
    {"width": [0.5, 2], "noise": [0, 0.1]},
    {"learning_rate": [1, 2], "ridge": [0.01, 0.1]},
    {"width": 0},
    {"alphas": []},
    {"teacher": "cos"},
    {"student": {"hermite": [0, 1, 0.5]}},
    {"srf": {"c": 1.0, "r": 1.1, "gamma": 0.9}},
    {"srf": {"c": 1.0, "r": 1.1}},
    {"kappa": [-1, 0, 1]},
    {"mapping": "paper", "bulk": "marchenko_pastur"},
    {"z_threshold": 2, "extrapolate_dimensions": [50, 200]},
    {"seeds": [3, 5]},
    {"dimension": 1.5},
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: json.dumps(v)[:40])
def test_the_schema_judges_bodies_as_the_server(schema, variant: dict[str, Any]) -> None:
    for name, base in (("TheoryRequest", THEORY), ("FunctionRequest", THEORY), ("SimulateRequest", SIMULATE),
                       ("CompareRequest", COMPARE)):  # fmt: skip
        body = {**base, **variant}
        valid = validator(schema, name).is_valid(body)
        assert valid == accepted_by_server(name, body), (name, body)
    missing = {k: v for k, v in THEORY.items() if k != "student"}  # required by the shared component
    assert not validator(schema, "TheoryRequest").is_valid(missing)


def test_response_examples_agree_with_the_server(schema) -> None:
    """The documented examples of the envelope and errors are what this server sends."""
    from srf_engine import ENGINE_VERSION

    components = schema["components"]["schemas"]
    assert components["TheoryResponse"]["properties"]["engine_version"]["examples"] == [ENGINE_VERSION]
    assert components["GridAxisOut"]["properties"]["name"]["examples"][0] in ("width", "alpha", "ridge")
    item = components["ValidationItem"]["properties"]
    loc, field = item["loc"]["examples"][0], item["field"]["examples"][0]
    assert ".".join(str(part) for part in loc[1:]) == field  # the dotted path of loc without "body"
    assert components["VersionResponse"]["properties"]["api_version"]["examples"] == ["1.2"]


def test_each_error_status_has_its_own_example_shaped_as_the_server_sends_it(tmp_path) -> None:
    from test_service_support import THEORY, client

    with client(tmp_path, max_dimension=500) as http:
        served = http.get("/openapi.json").json()
        real = {
            "404": http.get("/results/" + "0" * 64).json(),
            "406": http.post("/theory/curve", json=THEORY, headers={"Accept": "text/html"}).json(),
            "413": http.post("/simulate", json={**THEORY, "dimension": 600}).json(),
        }
    seen: dict[str, list[dict]] = {}
    for item in served["paths"].values():
        for operation in item.values():
            for status, response in operation.get("responses", {}).items():
                example = response.get("content", {}).get("application/json", {}).get("example")
                if example is not None and status in ("404", "406", "413", "429", "503"):
                    seen.setdefault(status, []).append(example)
    assert {"404", "413", "429"} <= set(seen)
    for status, examples in seen.items():
        assert all(e == examples[0] for e in examples), status
        assert ("limit" in examples[0]) == (status == "413"), status  # no SRF_MAX_DIMENSION on a 404
        if status in real:
            assert set(examples[0]) == set(real[status]), status
            assert examples[0]["detail"].split(":")[0] == real[status]["detail"].split(":")[0]


def test_the_theory_response_example_has_no_bulk_sample_beside_bulk_one_step(schema) -> None:
    props = schema["components"]["schemas"]["TheoryResponse"]["properties"]
    assert props["bulk"]["examples"] == ["one_step"] and props["bulk_sample"]["examples"] == [None]
