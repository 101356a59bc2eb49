"""GraphiQL over HTTP: the page, every asset it references, when it is served, and its package data."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from importlib.resources import files
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from api.app import create_app
from api.graphiql import ASSET_CACHE_CONTROL
from api.settings import ApiMode, ApiSettings
from tests.api.conftest import ApiGraph, make_services

pytestmark = pytest.mark.integration

BASE_URL = "http://lodestar.test"
HTML = {"Accept": "text/html"}
MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


class AssetReferences(HTMLParser):
    """Every URL the page makes the browser load: script sources and linked stylesheets and icons."""

    def __init__(self) -> None:
        super().__init__()
        self.references: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.references.append({"url": attributes["src"], **attributes})
        elif tag == "link" and attributes.get("href"):
            self.references.append({"url": attributes["href"], **attributes})


def references_of(page: str) -> list[dict[str, str | None]]:
    parser = AssetReferences()
    parser.feed(page)
    return parser.references


def versions() -> dict:
    return json.loads(files("api").joinpath("static", "graphiql", "versions.json").read_text("utf-8"))


def sri(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


@asynccontextmanager
async def client(api_graph: ApiGraph, settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_services(api_graph, settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        yield http


async def test_the_page_and_every_asset_it_references_come_from_the_api(api_graph: ApiGraph) -> None:
    async with client(api_graph, ApiSettings(mode=ApiMode.DEVELOPMENT)) as http:
        page = await http.get("/graphql", headers=HTML)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["cache-control"] == "no-cache"
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy
        assert "connect-src 'self';" in policy
        assert "https://" not in page.text
        assert "unpkg" not in page.text
        assert "cdn" not in page.text.lower()

        references = references_of(page.text)
        loaded = [ref for ref in references if not str(ref["url"]).startswith("data:")]
        assert len(loaded) == 8, references
        served: dict[str, bytes] = {}
        for reference in loaded:
            url = urljoin(f"{BASE_URL}/graphql", str(reference["url"]))
            parts = urlsplit(url)
            assert (parts.scheme, parts.netloc) == ("http", "lodestar.test"), reference
            assert parts.path.startswith("/static/graphiql/"), reference
            assert parts.query.startswith("v="), "every asset URL carries a content fingerprint"
            response = await http.get(url)
            assert response.status_code == 200, url
            name = parts.path.rsplit("/", 1)[1]
            assert response.headers["content-type"] == MEDIA_TYPES[name[name.rindex(".") :]], url
            assert response.headers["cache-control"] == ASSET_CACHE_CONTROL
            assert response.headers["x-content-type-options"] == "nosniff"
            assert reference["integrity"] == sri(response.content), url
            served[name] = response.content

    pinned = versions()["assets"]
    assert set(pinned) <= set(served), "every vendored asset is on the page"
    for name, asset in pinned.items():
        assert sri(served[name]) == asset["integrity"], (
            f"{name} differs from {asset['package']}@{asset['version']}"
        )
    assert set(served) - set(pinned) == {"lodestar-graphiql.js", "lodestar-graphiql.css"}


async def test_assets_are_compressed_and_revalidated(api_graph: ApiGraph) -> None:
    async with client(api_graph, ApiSettings(mode=ApiMode.DEVELOPMENT)) as http:
        request = http.build_request(
            "GET", "/static/graphiql/graphiql.min.js", headers={"Accept-Encoding": "gzip"}
        )
        compressed = await http.send(request, stream=True)
        await compressed.aread()
        assert compressed.headers["content-encoding"] == "gzip"
        assert compressed.num_bytes_downloaded < len(compressed.content) / 3
        assert compressed.headers["content-type"] == "text/javascript; charset=utf-8"

        etag = compressed.headers["etag"]
        again = await http.get("/static/graphiql/graphiql.min.js", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "/static/graphiql/missing.js",
        "/static/graphiql/../graphiql.py",
        "/static/graphiql/%2e%2e/graphiql.py",
        "/static/graphiql/../page.html",
        "/static/graphiql/",
    ],
)
async def test_nothing_but_the_assets_is_served(api_graph: ApiGraph, path: str) -> None:
    async with client(api_graph, ApiSettings(mode=ApiMode.DEVELOPMENT)) as http:
        response = await http.get(path)
    assert response.status_code == 404, response.text


@pytest.mark.parametrize(
    ("settings", "enabled"),
    [
        (ApiSettings(mode=ApiMode.DEVELOPMENT), True),
        (ApiSettings(mode=ApiMode.PRODUCTION), False),
        (ApiSettings(mode=ApiMode.PRODUCTION, graphiql=True), True),
        (ApiSettings(mode=ApiMode.DEVELOPMENT, graphiql=False), False),
        (ApiSettings.from_env({"LODESTAR_API_GRAPHIQL": "true"}), True),
        (ApiSettings.from_env({"LODESTAR_API_MODE": "development", "LODESTAR_API_GRAPHIQL": "false"}), False),
    ],
)
async def test_graphiql_is_served_when_enabled(
    api_graph: ApiGraph, settings: ApiSettings, enabled: bool
) -> None:
    assert settings.graphiql_enabled is enabled
    async with client(api_graph, settings) as http:
        page = await http.get("/graphql", headers=HTML)
        asset = await http.get("/static/graphiql/lodestar-graphiql.js")
        introspection = (
            await http.post("/graphql", json={"query": "{ __schema { queryType { name } } }"})
        ).json()
        query = (await http.get("/graphql", params={"query": "{ me { role } }"}, headers=HTML)).json()
    assert page.status_code == asset.status_code == (200 if enabled else 404)
    assert ("Lodestar GraphiQL" in page.text) is enabled
    # GraphiQL needs introspection for its docs and completion: on wherever GraphiQL or development mode is.
    if enabled or settings.development:
        assert introspection["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    else:
        assert "introspection has been disabled" in introspection["errors"][0]["message"]
    assert query == {"data": {"me": None}}, "a GET with a query still runs it, GraphiQL or not"


def test_the_assets_are_package_data() -> None:
    folder = files("api").joinpath("static", "graphiql")
    assert folder.joinpath("page.html").is_file()
    names = {entry.name for entry in folder.joinpath("vendor").iterdir()}
    assert set(versions()["assets"]) | {"lodestar-graphiql.js", "lodestar-graphiql.css"} == names
    licences = {entry.name for entry in folder.joinpath("licenses").iterdir()}
    assert licences == {f"{package.split('/')[-1]}.LICENSE" for package in versions()["packages"]}
    for licence in licences:
        assert "MIT License" in folder.joinpath("licenses", licence).read_text("utf-8")
