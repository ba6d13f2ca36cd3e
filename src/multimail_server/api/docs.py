"""The interactive API reference at /docs (Swagger UI) and /redoc (ReDoc), served from this server.

FastAPI's own pages load their JavaScript and CSS from a CDN (and ReDoc its fonts from Google), so
on a self-hosted server without internet access they stay blank. The assets here come from the
`fastapi-offline` package (MIT; it vendors Swagger UI and ReDoc and keeps them current), mounted
under ASSETS; nothing a page references leaves the server.

`create_app` turns FastAPI's CDN pages off (`docs_url=None, redoc_url=None`) and calls `install`.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
DOCS, REDOC, OAUTH2_REDIRECT = "/docs", "/redoc", "/docs/oauth2-redirect"
OFF: dict[str, Any] = {"docs_url": None, "redoc_url": None}  # FastAPI(**OFF): no CDN pages of its own


def _asset_dir() -> str:
    """The package's directory of Swagger UI / ReDoc files (swagger-ui-bundle.js, swagger-ui.css,
    redoc.standalone.js, favicon.png)."""
    return str(files("fastapi_offline") / "static")


def _asset(request: Request, name: str) -> str:
    """An asset's URL under the server's root path (so the pages also work behind a path prefix)."""
    return f"{request.scope.get('root_path', '')}{ASSETS}/{name}"


def install(app: FastAPI) -> None:
    """Mount the assets and add the two pages (and Swagger UI's OAuth2 redirect page), none of
    them part of the OpenAPI document."""
    app.mount(ASSETS, StaticFiles(directory=_asset_dir()), name="docs-assets")

    @app.get(DOCS, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - API reference",
            swagger_js_url=_asset(request, "swagger-ui-bundle.js"), swagger_css_url=_asset(request, "swagger-ui.css"),
            swagger_favicon_url=_asset(request, "favicon.png"), oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT}",
        )

    @app.get(OAUTH2_REDIRECT, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(
            openapi_url=f"{request.scope.get('root_path', '')}{app.openapi_url}", title=f"{app.title} - ReDoc",
            redoc_js_url=_asset(request, "redoc.standalone.js"), redoc_favicon_url=_asset(request, "favicon.png"),
            with_google_fonts=False,
        )
