"""GraphiQL served by the API itself, so it works where no CDN can be reached (self-hosted, air-gapped).

The page answers `GET /graphql` from a browser; its scripts and stylesheets are package data under
`api/static/graphiql/vendor/`, served at `/static/graphiql/`. They are the published npm files, unchanged,
at the versions `api/static/graphiql/versions.json` names (refresh them with
`api/static/graphiql/refresh.sh`); the packages' licences are in `api/static/graphiql/licenses/`.

The page references each asset by a relative URL carrying a fingerprint of its content, with its
Subresource Integrity hash, so the assets can be cached for a year while the page itself is revalidated
on every load. The page's Content-Security-Policy lets it load scripts, styles and data from the API's
own origin only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from importlib.resources import files
from importlib.resources.abc import Traversable

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount

from api.packaged_assets import PackagedAssets
from api.settings import ApiSettings

ASSETS_PATH = "/static/graphiql"
"""Where the assets are served; the page (at /graphql) refers to them relative to itself."""

ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"
PAGE_CACHE_CONTROL = "no-cache"
PAGE_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        # GraphiQL sets style attributes in the markup it renders (markdown, tooltips).
        "style-src 'self' 'unsafe-inline'",
        # GraphiQL's fonts are data: URLs inside its stylesheet; the page icon is a data: URL.
        "font-src 'self' data:",
        "img-src 'self' data:",
        # HTTP to /graphql, and ws:// or wss:// to the same host for subscriptions.
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)

_ASSET_REFERENCE = re.compile(r'(?P<attribute>src|href)="static/graphiql/(?P<name>[\w.-]+)"')


def graphiql_folder() -> Traversable:
    """`api/static/graphiql` in the installed package."""
    return files("api").joinpath("static", "graphiql")


@functools.cache
def page_html() -> str:
    """The page: `page.html` with each asset reference fingerprinted (`?v=`) and given its SRI hash."""
    folder = graphiql_folder()
    assets = folder.joinpath("vendor")

    def pin(reference: re.Match[str]) -> str:
        name = reference["name"]
        digest = hashlib.sha384(assets.joinpath(name).read_bytes()).digest()
        fingerprint = digest.hex()[:16]
        integrity = "sha384-" + base64.b64encode(digest).decode("ascii")
        return f'{reference["attribute"]}="static/graphiql/{name}?v={fingerprint}" integrity="{integrity}"'

    return _ASSET_REFERENCE.sub(pin, folder.joinpath("page.html").read_text("utf-8"))


def graphiql_page() -> Response:
    """The GraphiQL page, as `GET /graphql` answers a browser."""
    return HTMLResponse(
        page_html(),
        headers={
            "Cache-Control": PAGE_CACHE_CONTROL,
            "Content-Security-Policy": PAGE_CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def graphiql_routes(settings: ApiSettings) -> list[BaseRoute]:
    """The asset route when GraphiQL is on (`settings.graphiql_enabled`), else none."""
    if not settings.graphiql_enabled:
        return []
    return [
        Mount(
            ASSETS_PATH,
            app=GZipMiddleware(
                PackagedAssets("static/graphiql/vendor", lambda _path: ASSET_CACHE_CONTROL), minimum_size=1024
            ),
            name="graphiql",
        )
    ]
