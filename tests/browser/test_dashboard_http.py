"""The dashboard over HTTP: the page, every file it loads, their media types and caching, and package data.

The routes are mounted on a bare starlette app here (they need nothing of the API's services); that
`create_app` serves them at `/` is shown by tests/browser/test_dashboard.py, which loads the page.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import tomllib
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from api.dashboard import (
    APP_CACHE_CONTROL,
    PAGE_CONTENT_SECURITY_POLICY,
    VENDOR_CACHE_CONTROL,
    app_folder,
    dashboard_routes,
)

ASYNC = pytest.mark.asyncio(loop_scope="session")

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "api" / "static" / "app"
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".graphql": "application/graphql; charset=utf-8",
}
STATIC_IMPORT = re.compile(
    r"""^\s*(?:import|export)\s[^;]*?from\s+"(?P<path>[^"]+)";""", re.MULTILINE | re.DOTALL
)
DYNAMIC_IMPORT = re.compile(r"""import\("(?P<path>[^"]+)"\)""")


class References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.meta: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "script" and attributes.get("src"):
            self.urls.append(attributes["src"] or "")
        elif tag == "link" and attributes.get("rel") != "icon" and attributes.get("href"):
            self.urls.append(attributes["href"] or "")
        elif tag == "meta" and attributes.get("name") and attributes.get("content"):
            self.meta[attributes["name"] or ""] = attributes["content"] or ""


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=dashboard_routes())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://lodestar.test"
    ) as client:
        yield client


@ASYNC
async def test_the_page_is_served_at_the_root_with_a_strict_policy(http: httpx.AsyncClient) -> None:
    response = await http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == APP_CACHE_CONTROL
    assert response.headers["content-security-policy"] == PAGE_CONTENT_SECURITY_POLICY
    assert (
        "script-src 'self'" in PAGE_CONTENT_SECURITY_POLICY
        and "unsafe-eval" not in PAGE_CONTENT_SECURITY_POLICY
    )
    assert "connect-src 'self'" in PAGE_CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "{{" not in response.text


@ASYNC
async def test_every_file_the_page_and_its_modules_load_is_served(http: httpx.AsyncClient) -> None:
    page = References()
    page.feed((await http.get("/")).text)
    chart_library = page.meta["lodestar-chart-library"]
    wanted = {url.split("?")[0] for url in page.urls}
    modules = [url for url in wanted if url.endswith(".js")]
    seen: set[str] = set()
    while modules:
        module = modules.pop()
        if module in seen:
            continue
        seen.add(module)
        source = (await http.get("/" + module)).text
        folder = module.rsplit("/", 1)[0]
        for found in [*STATIC_IMPORT.finditer(source), *DYNAMIC_IMPORT.finditer(source)]:
            target = str(Path(folder, found["path"])).replace("\\", "/")
            target = re.sub(r"[^/]+/\.\./", "", target)
            wanted.add(target)
            modules.append(target)
    wanted |= {f"app/operations/{path.name}" for path in (APP / "operations").glob("*.graphql")}
    assert {
        "app/app.js",
        "app/views/roadmap.js",
        "app/graphql.js",
        "app/operations/Overview.graphql",
    } <= wanted
    for url in sorted(wanted):
        response = await http.get("/" + url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == MEDIA_TYPES[Path(url).suffix], url
        assert response.headers["cache-control"] == APP_CACHE_CONTROL, url
        assert "etag" in response.headers, url
        revalidated = await http.get("/" + url, headers={"If-None-Match": response.headers["etag"]})
        assert revalidated.status_code == 304, url

    library = await http.get("/" + chart_library, headers={"Accept-Encoding": "gzip"})
    assert library.status_code == 200
    assert library.headers["content-type"] == MEDIA_TYPES[".js"]
    assert library.headers["cache-control"] == VENDOR_CACHE_CONTROL
    assert library.headers["content-encoding"] == "gzip"
    content = (APP / "vendor" / "echarts.esm.min.js").read_bytes()
    assert library.content == content  # httpx decodes the gzip body
    assert len(gzip.compress(content)) < len(content) / 2
    assert chart_library.endswith("?v=" + hashlib.sha384(content).hexdigest()[:16])


@ASYNC
async def test_nothing_is_loaded_from_another_host(http: httpx.AsyncClient) -> None:
    sources = [
        path
        for path in APP.rglob("*")
        if path.suffix in {".js", ".html", ".css"} and "vendor" not in path.parts
    ]
    for path in sources:
        text = path.read_text("utf-8")
        assert not re.search(
            r"""(?:src|href)=["']https?://|import\(["']https?://|from ["']https?://""", text
        ), path
        assert not re.search(r"""fetch\(\s*["']https?://""", text), path


@ASYNC
async def test_unknown_files_are_not_found(http: httpx.AsyncClient) -> None:
    assert (await http.get("/app/no-such-file.js")).status_code == 404
    assert (await http.get("/app/../dashboard.py")).status_code == 404


def test_the_vendored_library_is_the_published_file_with_its_licences() -> None:
    versions = json.loads((APP / "versions.json").read_text("utf-8"))
    assert versions["refresh"] == "bash api/static/app/refresh.sh"
    assert int(versions["packages"]["echarts"].split(".")[0]) >= 6
    for name, asset in versions["assets"].items():
        digest = hashlib.sha384((APP / "vendor" / name).read_bytes()).digest()
        assert asset["integrity"] == "sha384-" + base64.b64encode(digest).decode()
    licences = {path.name for path in (APP / "licenses").iterdir()}
    assert {"echarts.LICENSE", "echarts.NOTICE", "zrender.LICENSE"} <= licences
    assert "Apache License" in (APP / "licenses" / "echarts.LICENSE").read_text("utf-8")


def test_the_app_is_package_data() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text("utf-8"))
    assert "static/app/**/*" in pyproject["tool"]["setuptools"]["package-data"]["api"]
    folder = app_folder()
    assert folder.joinpath("index.html").is_file()
    assert folder.joinpath("vendor", "echarts.esm.min.js").is_file()
