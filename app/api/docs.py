"""`/docs` (Swagger UI) and `/redoc` (ReDoc), served with no internet.

FastAPI's default pages load their scripts, styles, fonts and favicon from CDNs. Here the pages
reference only the service itself: the assets are package data of the `fastapi-offline`
distribution (Swagger UI and ReDoc bundles, a runtime dependency) served under `/docs/assets/`,
Google Fonts are left out and Swagger UI's online validator badge is switched off. So a plain
`pip install .` serves complete documentation on a machine without network access.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS_URL = "/docs/assets"
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")


def assets_directory() -> Path:
    """The directory of the Swagger UI and ReDoc bundles inside the installed `fastapi_offline` package."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI) -> None:
    """Serve the documentation pages and their assets; `app` must be built with docs_url=None, redoc_url=None."""
    app.mount(ASSETS_URL, StaticFiles(directory=assets_directory()), name="docs-assets")
    title = app.title

    def swagger_ui(request: Request) -> HTMLResponse:
        """Swagger UI on the service's own OpenAPI document."""
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} - Swagger UI",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            # The default validator badge asks validator.swagger.io about the document.
            swagger_ui_parameters={"validatorUrl": None, "deepLinking": True},
        )

    def swagger_ui_redirect() -> HTMLResponse:
        """The OAuth2 redirect page Swagger UI expects beside itself."""
        return get_swagger_ui_oauth2_redirect_html()

    def redoc(request: Request) -> HTMLResponse:
        """ReDoc on the service's own OpenAPI document."""
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    for path, endpoint in ((DOCS_URL, swagger_ui), (OAUTH2_REDIRECT_URL, swagger_ui_redirect), (REDOC_URL, redoc)):
        app.add_api_route(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)
