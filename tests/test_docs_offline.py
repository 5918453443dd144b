"""Swagger UI and ReDoc work without internet: every asset comes from the server itself."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from test_service_support import LiveServer, client

#: Any absolute or protocol-relative URL (``https://cdn…``, ``//fonts…``).
EXTERNAL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+""")
#: Where a page names a file to load: src/href attributes and the spec URL of Swagger UI / ReDoc.
REFERENCES = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url: *["']([^"']+)["']""")

POST_PATHS = ("/theory/curve", "/simulate", "/compare")


def _chromium() -> str | None:
    return next(
        (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))),
        None,
    )


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


@pytest.mark.skipif(
    _chromium() is None,
    reason="Chromium is not installed (Debian/Ubuntu: apt-get install chromium; see docs/development.md)",
)
def test_swagger_ui_renders_the_three_post_operations_offline(tmp_path: Path) -> None:
    screenshot = tmp_path / "swagger-ui.png"  # kept with the test's other files, for a look
    with LiveServer(tmp_path / "cache.sqlite3") as server:
        command = [
            _chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}",
            # no name but the server's resolves: a page that needs the internet stays blank here
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=10000",
            "--window-size=1280,1600",
            f"--screenshot={screenshot}",
            "--dump-dom",
            f"{server.url}/docs",
        ]
        dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
    assert "opblock-post" in dom, "Swagger UI did not render its operations (blank page?)"
    for path in POST_PATHS:
        assert f'data-path="{path}"' in dom, path
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
