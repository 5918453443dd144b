"""Swagger UI and ReDoc work without internet: every asset comes from the server itself."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from browser_support import ARTIFACTS, CHROMIUM_FLAGS, browser, chromium, console_errors, missing, screenshot
from test_service_support import LiveServer, client

from service.schemas import TheoryRequest

#: Any absolute or protocol-relative URL (``https://cdn…``, ``//fonts…``).
EXTERNAL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+""")
#: Where a page names a file to load: src/href attributes and the spec URL of Swagger UI / ReDoc.
REFERENCES = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url: *["']([^"']+)["']""")

POST_PATHS = ("/theory/curve", "/simulate", "/compare")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_pages_name_no_external_host_and_every_asset_answers(tmp_path: Path, page: str) -> None:
    with client(tmp_path) as http:
        html = http.get(page).text
        assert not EXTERNAL.findall(html), f"{page} names an external host: {EXTERNAL.findall(html)}"
        references = {a or b for a, b in REFERENCES.findall(html)}
        assert len(references) >= 3, references  # script, favicon, the schema (and the CSS for Swagger UI)
        for reference in references:
            response = http.get(reference)
            assert response.status_code == 200 and response.content, reference
        assert http.get("/favicon.ico").headers["content-type"] == "image/png"


@pytest.mark.browser
@pytest.mark.skipif(chromium() is None, reason=str(missing()))
def test_swagger_ui_renders_the_three_post_operations_offline(tmp_path: Path) -> None:
    picture = ARTIFACTS / "swagger-ui.png"  # kept for a look
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with LiveServer(tmp_path / "cache.sqlite3") as server:
        command = [
            str(chromium()),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--window-size=1280,1600",
            f"--screenshot={picture}",
            "--dump-dom",
            f"{server.url}/docs",
        ]
        dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    assert "opblock-post" in dom, "Swagger UI did not render its operations (blank page?)"
    for path in POST_PATHS:
        assert f'data-path="{path}"' in dom, path
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.browser
@pytest.mark.skipif(missing() is not None, reason=str(missing()))
def test_swagger_ui_shows_the_request_schema_as_named_properties(tmp_path: Path) -> None:
    """The composed request schema (allOf of shared components) reads as one object of named fields in
    the Schema tab, not as an intersection of anonymous parts ('object | (any & any & …)')."""
    from selenium.webdriver.common.by import By

    with LiveServer(tmp_path / "cache.sqlite3") as server, browser(1280, 1600) as driver:
        driver.get(f"{server.url}/docs")
        deadline = time.monotonic() + 60
        while not driver.find_elements(By.CSS_SELECTOR, "#operations-computations-theory_curve"):
            assert time.monotonic() < deadline, "Swagger UI did not render its operations"
            time.sleep(0.1)
        block = driver.find_element(By.CSS_SELECTOR, "#operations-computations-theory_curve")
        block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
        while not block.find_elements(By.CSS_SELECTOR, ".opblock-section-request-body .tablinks"):
            assert time.monotonic() < deadline, "the request body did not open"
            time.sleep(0.1)
        body = block.find_element(By.CSS_SELECTOR, ".opblock-section-request-body")
        tabs = body.find_elements(By.CSS_SELECTOR, ".tablinks")
        next(tab for tab in tabs if tab.text.strip() == "Schema").click()
        while not body.find_elements(By.CSS_SELECTOR, ".model-box"):
            assert time.monotonic() < deadline, "the Schema tab shows no model"
            time.sleep(0.1)
        model = body.find_element(By.CSS_SELECTOR, ".model-box").text
        screenshot(driver, "swagger-ui-request-schema")
        assert not console_errors(driver)
    assert model.startswith("TheoryRequest"), model[:200]
    assert "any &" not in model and "& any" not in model, model[:400]
    shown = {line.split("Expand all")[0].strip() for line in model.splitlines()}
    missing_fields = set(TheoryRequest.model_fields) - shown
    assert not missing_fields, f"fields not shown by name: {sorted(missing_fields)}\n{model[:600]}"
