"""Swagger UI (``/docs``) and ReDoc (``/redoc``) served from the installed package, with no external URL.

The assets (Swagger UI 5, ReDoc 2, a favicon) come from the pinned ``fastapi-offline`` package, which
ships them as files; they are served under ``/docs/static``. FastAPI's own pages load them from a CDN,
which leaves a blank page on a machine without internet access. Swagger UI's online validator is off
for the same reason.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

#: Where the assets are: the package's ``static`` folder (swagger-ui-bundle.js, swagger-ui.css,
#: redoc.standalone.js, favicon.png).
ASSETS = Path(str(files("fastapi_offline") / "static"))
STATIC = "/docs/static"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"


def _base(request: Request) -> str:
    """The prefix the app is served under (behind a proxy), as FastAPI's own pages use it."""
    return request.scope.get("root_path", "").rstrip("/")


async def swagger_ui(request: Request) -> HTMLResponse:
    base = _base(request)
    return get_swagger_ui_html(
        openapi_url=base + request.app.openapi_url,
        title=f"{request.app.title} — Swagger UI",
        swagger_js_url=f"{base}{STATIC}/swagger-ui-bundle.js",
        swagger_css_url=f"{base}{STATIC}/swagger-ui.css",
        swagger_favicon_url=f"{base}{STATIC}/favicon.png",
        oauth2_redirect_url=base + OAUTH2_REDIRECT,
        swagger_ui_parameters={"validatorUrl": None, "tryItOutEnabled": True},
    )


async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


async def redoc(request: Request) -> HTMLResponse:
    base = _base(request)
    return get_redoc_html(
        openapi_url=base + request.app.openapi_url,
        title=f"{request.app.title} — ReDoc",
        redoc_js_url=f"{base}{STATIC}/redoc.standalone.js",
        redoc_favicon_url=f"{base}{STATIC}/favicon.png",
        with_google_fonts=False,
    )


async def favicon() -> FileResponse:
    return FileResponse(ASSETS / "favicon.png", media_type="image/png")


def install(app: FastAPI) -> None:
    """Serve the documentation pages and their assets (the app is made with docs_url=None, redoc_url=None)."""
    app.mount(STATIC, StaticFiles(directory=ASSETS), name="docs-static")
    # Routes of the app itself, as FastAPI's own /docs and /redoc are.
    for path, page in (
        ("/docs", swagger_ui),
        (OAUTH2_REDIRECT, swagger_ui_redirect),
        ("/redoc", redoc),
        ("/favicon.ico", favicon),
    ):
        app.add_api_route(path, page, methods=["GET"], include_in_schema=False)
