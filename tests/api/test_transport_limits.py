"""The HTTP transport: malformed and oversized requests refused before parsing with typed JSON errors,
an `extensions.code` on every error, suggestions only in development, media types, and (in a server
process of its own) bounded memory and a responsive `/healthz` under oversized requests."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from graphql import parse

from api.app import create_app
from api.auth import Role
from api.extensions import DocumentStore
from api.settings import ApiMode, ApiSettings
from graph.local_db import LocalGraphDatabase
from tests.api.conftest import ApiGraph, make_services

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

REPO = Path(__file__).resolve().parents[2]
JSON_HEADERS = {"Content-Type": "application/json"}


@asynccontextmanager
async def http_for(
    api_graph: ApiGraph, settings: ApiSettings | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_services(api_graph, settings))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://lodestar.test",
        headers={"Authorization": f"Bearer {api_graph.keys[Role.ADMIN]}"},
    ) as http:
        yield http


def typed_error(response: httpx.Response, status: int, code: str) -> str:
    """The one error of a refused request, checked to be JSON with `code`; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"errors"}, body
    [error] = body["errors"]
    assert error["extensions"] == {"code": code}, error
    assert "Traceback" not in error["message"] and 'File "' not in error["message"]
    return error["message"]


def every_error_has_a_code(body: dict[str, Any]) -> list[str]:
    codes = [error.get("extensions", {}).get("code") for error in body["errors"]]
    assert all(isinstance(code, str) and code for code in codes), body
    return codes


@pytest.mark.parametrize("body", [b'"hello"', b"null", b"123", b'[1,"x"]', b"[]", b'[{"query": 5}]', b"true"])
async def test_bodies_that_are_not_operations_get_400(api_graph: ApiGraph, body: bytes) -> None:
    async with http_for(api_graph) as http:
        response = await http.post("/graphql", content=body, headers=JSON_HEADERS)
    typed_error(response, 400, "BAD_REQUEST")


async def test_malformed_json_and_wrong_field_types_get_400(api_graph: ApiGraph) -> None:
    async with http_for(api_graph) as http:
        for body in (b"{", b'{"query": "{ me { role } }"', b"\xff\xfe{}", b'{"query": ["x"]}'):
            typed_error(await http.post("/graphql", content=body, headers=JSON_HEADERS), 400, "BAD_REQUEST")
        for field in ("variables", "extensions"):
            body = {"query": "{ me { role } }", field: [1]}
            typed_error(await http.post("/graphql", json=body), 400, "BAD_REQUEST")
        batch = [{"query": "{ me { role } }"}, "x"]
        message = typed_error(await http.post("/graphql", json=batch), 400, "BAD_REQUEST")
        assert "Operation 1" in message
        ok = await http.post("/graphql", json=[{"query": "{ me { role } }"}, {"query": "{ me { name } }"}])
        assert ok.json() == [{"data": {"me": {"role": "ADMIN"}}}, {"data": {"me": {"name": "test admin"}}}]


async def test_a_query_larger_than_the_limit_is_refused_before_parsing(api_graph: ApiGraph) -> None:
    async with http_for(api_graph, ApiSettings(mode=ApiMode.PRODUCTION)) as http:
        comment = "{ me { role } } #" + "x" * 10_000_000
        message = typed_error(await http.post("/graphql", json={"query": comment}), 413, "QUERY_TOO_LARGE")
        assert "100000 bytes" in message
        # Multi-byte characters count as their UTF-8 bytes: 40,000 characters of 3 bytes are too many.
        wide = "{ me { role } } #" + "€" * 40_000
        typed_error(await http.post("/graphql", json={"query": wide}), 413, "QUERY_TOO_LARGE")
        fits = "{ me { role } } #" + "x" * 90_000
        assert (await http.post("/graphql", json={"query": fits})).json() == {
            "data": {"me": {"role": "ADMIN"}}
        }
    async with http_for(api_graph, ApiSettings(mode=ApiMode.PRODUCTION, max_query_bytes=1_000)) as http:
        long_string = '{ feature(id: "' + "f" * 2_000 + '") { id } }'
        typed_error(await http.get("/graphql", params={"query": long_string}), 413, "QUERY_TOO_LARGE")
        ok = await http.get("/graphql", params={"query": "{ me { role } }"})
        assert ok.json() == {"data": {"me": {"role": "ADMIN"}}}


async def test_variables_are_limited_by_structure_not_only_size(api_graph: ApiGraph) -> None:
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { id } }"
    async with http_for(api_graph, ApiSettings(mode=ApiMode.PRODUCTION)) as http:
        many = {"query": query, "variables": {"ids": [f"f-{i}" for i in range(1_000_000)]}}
        message = typed_error(await http.post("/graphql", json=many), 413, "VARIABLES_TOO_LARGE")
        assert "10000" in message
        for values in (list(range(1_000_000)), [[] for _ in range(1_000_000)]):
            refused = await http.post("/graphql", json={"query": query, "variables": {"ids": values}})
            typed_error(refused, 413, "VARIABLES_TOO_LARGE")
        entries = {"query": query, "variables": {"ids": [], **{f"v{i}": 1 for i in range(20_000)}}}
        typed_error(await http.post("/graphql", json=entries), 413, "VARIABLES_TOO_LARGE")
        nested: Any = "f-1"
        for _ in range(11):
            nested = [nested]
        deep = {"query": query, "variables": {"ids": nested}}
        assert "deeper than 10" in typed_error(
            await http.post("/graphql", json=deep), 413, "VARIABLES_TOO_LARGE"
        )
        allowed = {"query": query, "variables": {"ids": ["f-1", "f-2"]}}
        assert (await http.post("/graphql", json=allowed)).json() == {
            "data": {"nodes": [{"id": "f-1"}, {"id": "f-2"}]}
        }
    async with http_for(api_graph, ApiSettings(mode=ApiMode.PRODUCTION, max_variables_items=10)) as http:
        params = {"query": query, "variables": orjson.dumps({"ids": [f"f-{i}" for i in range(11)]}).decode()}
        typed_error(await http.get("/graphql", params=params), 413, "VARIABLES_TOO_LARGE")
        params["variables"] = orjson.dumps({"ids": ["f-1"]}).decode()
        assert (await http.get("/graphql", params=params)).json() == {"data": {"nodes": [{"id": "f-1"}]}}


async def test_a_large_import_document_still_passes_the_transport(api_graph: ApiGraph) -> None:
    """One 12 MB string variable is within the limits: the import itself answers (here: invalid JSON)."""
    # Commas, quotes and backslashes inside the string are not structure: 12 MB, 1.8 million commas.
    document = "[" + '"a, \\"b\\" \\\\",' * 900_000
    mutation = """mutation($document: String!) {
      importPortfolio(document: $document) { __typename ... on ValidationErrors { message } }
    }"""
    async with http_for(api_graph, ApiSettings(mode=ApiMode.PRODUCTION)) as http:
        response = await http.post("/graphql", json={"query": mutation, "variables": {"document": document}})
    assert response.status_code == 200, response.text[:500]
    result = response.json()["data"]["importPortfolio"]
    assert result["__typename"] == "ValidationErrors", result


async def test_wrong_content_types_get_415(api_graph: ApiGraph) -> None:
    body = b'{"query": "{ me { role } }"}'
    async with http_for(api_graph) as http:
        for content_type in ("text/plain", "application/graphql", "multipart/form-data; boundary=x", None):
            headers = {"Content-Type": content_type} if content_type else {}
            response = await http.post("/graphql", content=body, headers=headers)
            assert "application/json" in typed_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
        ok = await http.post(
            "/graphql", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
        )
        assert ok.json() == {"data": {"me": {"role": "ADMIN"}}}


async def test_transport_errors_are_typed_json(api_graph: ApiGraph) -> None:
    async with http_for(api_graph) as http:
        typed_error(await http.put("/graphql", json={"query": "{ me { role } }"}), 405, "METHOD_NOT_ALLOWED")
        typed_error(await http.get("/no-such-path"), 404, "NOT_FOUND")
        mutation = {"query": 'mutation { cancelRun(id: "r-1") { __typename } }'}
        by_get = await http.get("/graphql", params=mutation)
        assert "not allowed" in typed_error(by_get, 405, "METHOD_NOT_ALLOWED")
        assert by_get.headers["allow"] == "POST"
        typed_error(await http.post("/graphql", json={"variables": {}}), 400, "BAD_REQUEST")
        refused = await http.post(
            "/graphql", json={"query": "{ me { role } }"}, headers={"Authorization": "Bearer not-a-key"}
        )
        typed_error(refused, 401, "UNAUTHENTICATED")
    settings = ApiSettings(mode=ApiMode.DEVELOPMENT, max_import_bytes=10)
    async with http_for(api_graph, settings) as http:
        big = {"query": "{ me { role } }", "variables": {"pad": "x" * 1_000_100}}
        typed_error(await http.post("/graphql", json=big), 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{ me { role }", None, "GRAPHQL_PARSE_FAILED"),
        ("{ me { role } } " + " ".join(["{ x }"] * 700), None, "GRAPHQL_PARSE_FAILED"),  # token limit
        ("{ nosuchfield }", None, "GRAPHQL_VALIDATION_FAILED"),
        ("query($n: Int!) { features(first: $n) { totalCount } }", {"n": "ten"}, "BAD_USER_INPUT"),
        ("query($n: Int!) { features(first: $n) { totalCount } }", {}, "BAD_USER_INPUT"),
        ("{ features(first: 500) { totalCount } }", None, "BAD_USER_INPUT"),
        ("{ __schema { queryType { name } } }", None, "GRAPHQL_VALIDATION_FAILED"),
    ],
)
async def test_every_graphql_error_has_a_code(
    api_graph: ApiGraph, query: str, variables: dict[str, Any] | None, code: str
) -> None:
    async with http_for(api_graph, ApiSettings(mode=ApiMode.PRODUCTION)) as http:
        response = await http.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    assert set(every_error_has_a_code(response.json())) == {code}, response.json()


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ('{ featur(id: "f-1") { id } }', None),
        ('{ feature(id: "f-1") { nme } }', None),
        ('{ feature(idd: "f-1") { id } }', None),
        ('{ team(id: "t-1") { features(status: PLANED) { id } } }', None),
        ('query($s: FeatureStatus) { team(id: "t-1") { features(status: $s) { id } } }', {"s": "PLANED"}),
    ],
)
@pytest.mark.parametrize("mode", [ApiMode.PRODUCTION, ApiMode.DEVELOPMENT])
async def test_suggestions_only_in_development(
    api_graph: ApiGraph, query: str, variables: dict[str, Any] | None, mode: ApiMode
) -> None:
    async with http_for(api_graph, ApiSettings(mode=mode)) as http:
        first = (await http.post("/graphql", json={"query": query, "variables": variables})).json()
        again = (await http.post("/graphql", json={"query": query, "variables": variables})).json()
    assert first == again  # the document cache changes nothing
    messages = " ".join(error["message"] for error in first["errors"])
    every_error_has_a_code(first)
    assert ("Did you mean" in messages) is (mode is ApiMode.DEVELOPMENT), messages


async def test_graphql_response_json_is_negotiated(api_graph: ApiGraph) -> None:
    spec = {"Accept": "application/graphql-response+json, application/json;q=0.9"}
    async with http_for(api_graph, ApiSettings(mode=ApiMode.PRODUCTION)) as http:
        ok = await http.post("/graphql", json={"query": "{ me { role } }"}, headers=spec)
        assert ok.status_code == 200
        assert ok.headers["content-type"] == "application/graphql-response+json"
        assert ok.json() == {"data": {"me": {"role": "ADMIN"}}}
        for broken in ("{ me { role }", "{ nosuchfield }"):
            refused = await http.post("/graphql", json={"query": broken}, headers=spec)
            assert refused.status_code == 400
            assert refused.headers["content-type"] == "application/graphql-response+json"
            assert "data" not in refused.json() and refused.json()["errors"]
        coercion = {
            "query": "query($n: Int!) { features(first: $n) { totalCount } }",
            "variables": {"n": "x"},
        }
        refused = await http.post("/graphql", json=coercion, headers=spec)
        assert refused.status_code == 400 and "data" not in refused.json()
        field_error = await http.post(
            "/graphql", json={"query": "{ features(first: 500) { totalCount } }"}, headers=spec
        )
        assert field_error.status_code == 200 and "data" in field_error.json()
        transport = await http.post("/graphql", content=b"null", headers={**spec, **JSON_HEADERS})
        assert transport.status_code == 400
        assert transport.headers["content-type"] == "application/graphql-response+json"
        # application/json (and no Accept at all): the legacy behaviour, 200 with `data: null`.
        for accept in ({"Accept": "application/json"}, {}):
            legacy = await http.post("/graphql", json={"query": "{ me { role }"}, headers=accept)
            assert legacy.status_code == 200
            assert legacy.headers["content-type"] == "application/json"
            assert legacy.json()["data"] is None
        preferring_json = {"Accept": "application/json, application/graphql-response+json;q=0.5"}
        legacy = await http.post("/graphql", json={"query": "{ me { role } }"}, headers=preferring_json)
        assert legacy.headers["content-type"] == "application/json"


# --- A real server in a process of its own --------------------------------------------------------

PROBE_MEDIAN_S = 0.100
PROBE_MAX_S = 0.250
"""`/healthz` while oversized requests are refused: median under 100 ms, and, as two cores are shared
with the test's own client (and possibly other tests), the slowest probe under 250 ms."""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


class ServerProcess:
    def __init__(self, process: subprocess.Popen[str], base_url: str) -> None:
        self.process = process
        self.base_url = base_url

    @property
    def rss_mib(self) -> float:
        return rss_mib(self.process.pid)


@pytest.fixture(scope="module")
def server_process(local_graph_database: LocalGraphDatabase, api_graph: ApiGraph) -> Iterator[ServerProcess]:
    env = {
        **os.environ,
        "NEO4J_URI": local_graph_database.uri,
        "NEO4J_USER": local_graph_database.auth[0],
        "NEO4J_PASSWORD": local_graph_database.auth[1],
        "NEO4J_DATABASE": local_graph_database.database,
        "LODESTAR_API_MODE": "production",
        "OTEL_SDK_DISABLED": "true",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.api.transport_server"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY "), f"the server did not start: {line!r}"
        yield ServerProcess(process, line.split()[1])
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def test_memory_stays_flat_under_distinct_10_mb_queries(server_process: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server_process.base_url, timeout=60) as http:
        for _ in range(3):  # warm up: imports, the first requests' buffers
            await http.post("/graphql", content=b'{"query": "{ me { role } }"}', headers=JSON_HEADERS)
        start = server_process.rss_mib
        padding = b"x" * 10_000_000
        samples = [start]
        for index in range(200):
            body = b'{"query": "{ me { role } } #' + str(index).encode() + padding + b'"}'
            response = await http.post("/graphql", content=body, headers=JSON_HEADERS)
            assert response.status_code == 413, response.text
            assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"
            if index % 20 == 19:
                samples.append(server_process.rss_mib)
        after = server_process.rss_mib
        still = await http.post("/graphql", content=b'{"query": "{ me { role } }"}', headers=JSON_HEADERS)
        assert still.json() == {"data": {"me": None}}
    shown = ", ".join(f"{sample:.0f}" for sample in samples)
    print(f"RSS every 20 queries (MiB): {shown}; after: {after:.0f}")
    assert after - start < 100, f"RSS went from {start:.0f} to {after:.0f} MiB (every 20 queries: {shown})"


async def test_healthz_stays_responsive_while_huge_variables_are_refused(
    server_process: ServerProcess,
) -> None:
    body = orjson.dumps(
        {
            "query": "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            "variables": {"ids": [f"f-{i}" for i in range(1_000_000)]},
        }
    )
    in_flight = threading.Event()
    done = threading.Event()
    probes: list[float] = []

    baseline: list[float] = []

    def probe() -> None:
        with httpx.Client(base_url=server_process.base_url, timeout=10) as client:
            client.get("/healthz")  # a connection of its own, opened before the measurement
            for _ in range(20):  # idle, for comparison
                began = time.perf_counter()
                client.get("/healthz")
                baseline.append(time.perf_counter() - began)
                time.sleep(0.01)
            in_flight.set()
            while not done.is_set():
                began = time.perf_counter()
                response = client.get("/healthz")
                probes.append(time.perf_counter() - began)
                assert response.status_code == 200
                time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        async with httpx.AsyncClient(base_url=server_process.base_url, timeout=60) as http:
            await asyncio.to_thread(in_flight.wait, 30)
            for _ in range(6):
                began = time.perf_counter()
                response = await http.post("/graphql", content=body, headers=JSON_HEADERS)
                refused_in = time.perf_counter() - began
                assert response.status_code == 413, response.text
                assert response.json()["errors"][0]["extensions"]["code"] == "VARIABLES_TOO_LARGE"
                assert refused_in < 5, refused_in
            await asyncio.sleep(0.05)
    finally:
        done.set()
        prober.join(timeout=30)
    assert len(probes) >= 10, probes
    median, slowest = statistics.median(probes), max(probes)
    print(
        f"/healthz over {len(probes)} probes: median {median * 1000:.1f} ms, max {slowest * 1000:.1f} ms; "
        f"idle: median {statistics.median(baseline) * 1000:.1f} ms, max {max(baseline) * 1000:.1f} ms"
    )
    assert median < PROBE_MEDIAN_S and slowest < PROBE_MAX_S, (
        f"/healthz took median {median * 1000:.0f} ms, max {slowest * 1000:.0f} ms over {len(probes)} probes"
    )


async def test_the_document_cache_is_bounded_in_bytes() -> None:
    documents = DocumentStore(max_bytes=1_000)
    queries = [f"{{ me {{ role }} }} #{index}" + "x" * 380 for index in range(4)]
    for query in queries:
        documents.put(query, parse(query))
    assert documents.cached_bytes <= 1_000 and len(documents) == 2
    assert documents.get(queries[0]) is None and documents.get(queries[3]) is not None
    too_big = "{ me { role } } #" + "x" * 1_000
    documents.put(too_big, parse(too_big))
    assert documents.get(too_big) is None and len(documents) == 2
