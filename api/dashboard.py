"""The Lodestar web app (the dashboard) served by the API: the page at `/`, its files at `/app/`.

The app is a page of ES modules with no build step (`api/static/app/`): its own modules, its stylesheet,
its GraphQL operations (`operations/*.graphql`, checked against the schema by
tests/api/test_dashboard_operations.py) and the vendored chart library (`vendor/`, ECharts, refreshed by
`api/static/app/refresh.sh`, licences in `licenses/`). It talks to the public `/graphql` endpoint only.

Caching: the page and the app's own files are revalidated on every load (`no-cache`, with the ETag and
Last-Modified starlette's static files send, so an unchanged file costs a 304); the chart library is
requested with a fingerprint of its content (`?v=`, injected into the page) and cached for a year. The
page's Content-Security-Policy lets it load scripts, styles and data from the API's own origin only.
"""

from __future__ import annotations

import functools
import hashlib
import os
from importlib.resources import files
from importlib.resources.abc import Traversable

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from api.packaged_assets import PackagedAssets

PAGE_PATH = "/"
ASSETS_PATH = "/app"
"""Where the app's files are served; the page refers to them as `app/...`."""

APP_CACHE_CONTROL = "no-cache"
VENDOR_CACHE_CONTROL = "public, max-age=31536000, immutable"
PAGE_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        # ECharts writes style attributes into the tooltips it renders.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        # HTTP to /graphql, and ws:// or wss:// to the same host for the progress subscription.
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

CHART_LIBRARY = "echarts.esm.min.js"
_CHART_LIBRARY_PLACEHOLDER = "{{chart_library}}"


def app_folder() -> Traversable:
    """`api/static/app` in the installed package."""
    return files("api").joinpath("static", "app")


@functools.cache
def chart_library_url() -> str:
    """The chart library's URL relative to the page, with a fingerprint of its content."""
    digest = hashlib.sha384(app_folder().joinpath("vendor", CHART_LIBRARY).read_bytes()).hexdigest()
    return f"app/vendor/{CHART_LIBRARY}?v={digest[:16]}"


@functools.cache
def page_html() -> str:
    template = app_folder().joinpath("index.html").read_text("utf-8")
    return template.replace(_CHART_LIBRARY_PLACEHOLDER, chart_library_url())


async def dashboard_page(_: Request) -> Response:
    return HTMLResponse(
        page_html(),
        headers={
            "Cache-Control": APP_CACHE_CONTROL,
            "Content-Security-Policy": PAGE_CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def _dashboard_cache_control(full_path: str | os.PathLike[str]) -> str:
    """The vendored library is cached for a year (its URL carries its hash); the app's own files revalidate."""
    vendored = os.path.basename(os.path.dirname(full_path)) == "vendor"
    return VENDOR_CACHE_CONTROL if vendored else APP_CACHE_CONTROL


def dashboard_routes() -> list[BaseRoute]:
    """The page at `/` and the app's files at `/app/` (gzipped when the browser accepts it)."""
    return [
        Route(PAGE_PATH, dashboard_page, methods=["GET", "HEAD"]),
        Mount(
            ASSETS_PATH,
            app=GZipMiddleware(PackagedAssets("static/app", _dashboard_cache_control), minimum_size=1024),
            name="dashboard",
        ),
    ]
