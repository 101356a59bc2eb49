"""CORS: preflights from allowed origins answered with the allow headers, others refused without them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from api.app import create_app
from api.auth import Role
from api.settings import ApiMode, ApiSettings
from tests.api.conftest import ApiGraph, make_services

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

API = "http://lodestar.test"


@asynccontextmanager
async def http_for(api_graph: ApiGraph, settings: ApiSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_services(api_graph, settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=API) as http:
        yield http


async def preflight(
    http: httpx.AsyncClient, origin: str, headers: str = "content-type, x-api-key"
) -> httpx.Response:
    return await http.options(
        "/graphql",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": headers,
        },
    )


def assert_allowed(response: httpx.Response, origin: str) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == origin
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["access-control-allow-methods"].split(",")}
    allowed_headers = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"content-type", "authorization", "x-api-key"} <= allowed_headers


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert not any(name.lower().startswith("access-control-allow") for name in response.headers), (
        response.headers
    )
    assert response.json()["errors"][0]["extensions"] == {"code": "CORS_ORIGIN_NOT_ALLOWED"}


async def test_production_allows_only_the_listed_origins(api_graph: ApiGraph) -> None:
    settings = ApiSettings.from_env(
        {}, mode=ApiMode.PRODUCTION, cors_origins="https://app.example.com, https://b.example.com/"
    )
    async with http_for(api_graph, settings) as http:
        for origin in ("https://app.example.com", "https://b.example.com"):
            assert_allowed(await preflight(http, origin), origin)
        for origin in (
            "https://evil.example.com",
            "http://localhost:3000",
            "https://app.example.com.evil.io",
        ):
            assert_refused(await preflight(http, origin))
        response = await http.post(
            "/graphql",
            json={"query": "{ me { role } }"},
            headers={"Origin": "https://app.example.com", "X-API-Key": api_graph.keys[Role.VIEWER]},
        )
        assert response.json() == {"data": {"me": {"role": "VIEWER"}}}
        assert response.headers["access-control-allow-origin"] == "https://app.example.com"
        foreign = await http.post(
            "/graphql", json={"query": "{ me { role } }"}, headers={"Origin": "https://evil.example.com"}
        )
        assert "access-control-allow-origin" not in foreign.headers
        # A header that is not allowed: refused, typed, but the origin itself is.
        refused = await preflight(http, "https://app.example.com", headers="content-type, x-secret")
        assert refused.status_code == 400
        assert refused.json()["errors"][0]["extensions"] == {"code": "CORS_REQUEST_NOT_ALLOWED"}


async def test_production_by_default_allows_no_foreign_origin_but_its_own(api_graph: ApiGraph) -> None:
    async with http_for(api_graph, ApiSettings(mode=ApiMode.PRODUCTION)) as http:
        for origin in ("https://app.example.com", "http://localhost:5173", "http://127.0.0.1:8000"):
            assert_refused(await preflight(http, origin))
        assert_allowed(await preflight(http, API), API)  # the dashboard the API serves at `/`


async def test_development_allows_local_origins_unless_a_list_is_given(api_graph: ApiGraph) -> None:
    async with http_for(api_graph, ApiSettings(mode=ApiMode.DEVELOPMENT)) as http:
        for origin in ("http://localhost:5173", "http://127.0.0.1:8000", "http://localhost"):
            assert_allowed(await preflight(http, origin), origin)
        for origin in ("https://app.example.com", "http://localhost.evil.io", "http://127.0.0.1.evil.io:80"):
            assert_refused(await preflight(http, origin))
    listed = ApiSettings(mode=ApiMode.DEVELOPMENT, cors_origins=("https://app.example.com",))
    async with http_for(api_graph, listed) as http:
        assert_allowed(await preflight(http, "https://app.example.com"), "https://app.example.com")
        assert_refused(await preflight(http, "http://localhost:5173"))


async def test_origins_are_read_from_the_environment() -> None:
    settings = ApiSettings.from_env(
        {"LODESTAR_API_CORS_ORIGINS": "https://a.example.com/, https://b.example.com"}
    )
    assert settings.cors_origins == ("https://a.example.com", "https://b.example.com")
    assert ApiSettings.from_env({}).cors_origins is None
