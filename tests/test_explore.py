"""``GET /explore`` without a browser: the page and its assets, its configuration, the estimate it shows.

The page in a real browser is tests/test_explore_browser.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from test_docs_offline import EXTERNAL, REFERENCES
from test_service_support import COMPARE, client

from service.routers.explore import ASSETS


def _config(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="srf-config">(.*?)</script>', html, re.S)
    assert match, "the page carries its configuration"
    return json.loads(match.group(1))


def test_page_and_assets_name_no_external_host_and_answer(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        response = http.get("/explore")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        html = response.text
        references = {a or b for a, b in REFERENCES.findall(html)}
        assert {"/explore/static/explore.js", "/explore/static/explore.css", "/favicon.ico"} <= references
        for text, where in [
            (html, "/explore"),
            *((http.get(r).text, r) for r in references if r.endswith("s")),
        ]:
            assert not EXTERNAL.findall(text), f"{where} names an external host: {EXTERNAL.findall(text)}"
        for reference in references:
            answer = http.get(reference)
            assert answer.status_code == 200 and answer.content, reference
        # Every file shipped with the page is served, none is left unchecked.
        for path in ASSETS.iterdir():
            assert not EXTERNAL.findall(path.read_text()), path.name
            assert http.get(f"/explore/static/{path.name}").status_code == 200, path.name


def test_page_is_linked_from_the_docs_and_stays_out_of_the_schema(tmp_path: Path) -> None:
    with client(tmp_path) as http:
        schema = http.get("/openapi.json").json()
        assert "(/explore)" in schema["info"]["description"]  # Swagger UI (/docs, where / leads) links it
        assert not any(path.startswith("/explore") for path in schema["paths"])
        front = http.get("/", follow_redirects=False)
        assert front.status_code == 200 and 'href="/explore"' in front.text and 'href="/docs"' in front.text


def test_configuration_states_the_schema_bounds_and_the_operators_limits(tmp_path: Path) -> None:
    with client(tmp_path, max_dimension=777, max_seeds=5, max_alphas=60) as http:
        config = _config(http.get("/explore").text)
    fields = config["fields"]
    assert (fields["learning_rate"]["min"], fields["learning_rate"]["max"]) == (0, 1e4)
    assert (fields["width"]["min"], fields["width"]["max"]) == (1e-6, 100)
    assert (fields["ridge"]["min"], fields["ridge"]["max"]) == (0, 1e6)
    assert (fields["alpha"]["min"], fields["alpha"]["max"]) == (0, 1e6)
    assert fields["dimension"] == {"min": 2, "max": 777}
    assert fields["seeds"]["max"] == 5 and fields["points"]["max"] == 60
    assert config["choices"]["mapping"]["values"] == ["paper", "corrected"]
    assert "one_step" in config["choices"]["bulk"]["values"]
    assert {a["name"] for a in config["activations"]} >= {"tanh", "sin", "relu"}


def test_estimate_prices_a_comparison_and_names_the_field_it_refuses(tmp_path: Path) -> None:
    with client(tmp_path, max_dimension=500) as http:
        first = http.post("/explore/estimate", json=COMPARE)
        assert first.status_code == 200, first.text
        estimate = first.json()
        assert estimate["seconds"] > 0 and estimate["memory_bytes"] > 0 and estimate["stored"] is False
        assert http.post("/compare", json=COMPARE).status_code == 200
        again = http.post("/explore/estimate", json=COMPARE).json()
        assert again["stored"] is True and again["key"] == estimate["key"]
        too_big = http.post("/explore/estimate", json={**COMPARE, "dimension": 600})
        assert too_big.status_code == 413 and too_big.json()["field"] == "dimension"
        bad = http.post("/explore/estimate", json={**COMPARE, "learning_rate": -1})
        assert bad.status_code == 422 and "learning_rate" in bad.json()["message"]


def test_estimate_is_behind_the_api_key_the_page_is_not(tmp_path: Path) -> None:
    with client(tmp_path, api_keys="secret") as http:
        page = http.get("/explore")
        assert page.status_code == 200 and _config(page.text)["auth"] is True
        assert http.post("/explore/estimate", json=COMPARE).status_code == 401
        signed = http.post("/explore/estimate", json=COMPARE, headers={"Authorization": "Bearer secret"})
        assert signed.status_code == 200
