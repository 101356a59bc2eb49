"""Limits, masking, authentication failures and modes, through the HTTP app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from api.auth import ApiKeyAuthenticator, Role, create_api_key
from api.context import ApiServices
from api.result_reader import ResultReader
from api.settings import ApiMode, ApiSettings
from graph.entity_reads import EntityReads
from tests.api.conftest import ApiGraph, GraphQLClient, in_process_client, make_services

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def only_error(body: dict[str, object]) -> dict[str, object]:
    errors = body["errors"]
    assert isinstance(errors, list) and len(errors) == 1, errors
    error = errors[0]
    assert isinstance(error, dict)
    return error


def nested_features(depth: int) -> str:
    """`feature { dependencies { dependencies { ... { id } } } }`: selection depth `depth`."""
    selection = "id"
    for _ in range(depth - 1):
        selection = f"dependencies {{ {selection} }}"
    return f'{{ feature(id: "f-3") {{ {selection} }} }}'


async def test_query_depth_is_limited(api_graph: ApiGraph) -> None:
    services = make_services(api_graph, ApiSettings(mode=ApiMode.DEVELOPMENT, max_depth=4))
    async with in_process_client(services, dict(api_graph.keys)) as gql:
        allowed = await gql.execute(nested_features(4))
        assert "errors" not in allowed
        refused = await gql.execute(nested_features(5))
        assert refused["data"] is None
        assert "exceeds maximum operation depth of 4" in str(only_error(refused)["message"])


async def test_tokens_and_aliases_are_limited(api_graph: ApiGraph) -> None:
    services = make_services(api_graph, ApiSettings(mode=ApiMode.DEVELOPMENT, max_tokens=60, max_aliases=3))
    async with in_process_client(services, dict(api_graph.keys)) as gql:
        aliases = " ".join(f'a{i}: feature(id: "f-1") {{ id }}' for i in range(4))
        refused = await gql.execute(f"{{ {aliases} }}")
        assert "4 aliases found. Allowed: 3" in str(only_error(refused)["message"])
        three = " ".join(f'a{i}: feature(id: "f-1") {{ id }}' for i in range(3))
        assert "errors" not in await gql.execute(f"{{ {three} }}")
        long_query = "{ " + " ".join("me { role }" for _ in range(20)) + " }"
        refused = await gql.execute(long_query)
        assert "Document contains more than 60 tokens" in str(only_error(refused)["message"])


async def test_batches_are_capped(api_graph: ApiGraph) -> None:
    services = make_services(api_graph, ApiSettings(mode=ApiMode.DEVELOPMENT, max_batch=2))
    async with in_process_client(services, dict(api_graph.keys)) as gql:
        two = [{"query": '{ feature(id: "f-1") { name } }'}, {"query": '{ team(id: "t-1") { name } }'}]
        response = await gql.post(two)
        assert response.status_code == 200
        assert response.json() == [
            {"data": {"feature": {"name": "Login"}}},
            {"data": {"team": {"name": "Core"}}},
        ]
        response = await gql.post([*two, {"query": "{ me { role } }"}])
        assert response.status_code == 400
        assert "Too many operations" in response.text


async def test_unexpected_errors_are_masked(api_graph: ApiGraph) -> None:
    """A resolver hitting a database error shows the client a generic message, no Cypher, no trace."""
    broken = EntityReads(api_graph.queries.driver, "no_such_database")
    services = ApiServices(
        queries=broken,
        store=api_graph.store,
        settings=ApiSettings(mode=ApiMode.DEVELOPMENT),
        authenticator=ApiKeyAuthenticator(api_graph.queries),
        results=ResultReader(api_graph.store, api_graph.queries),
    )
    async with in_process_client(services, dict(api_graph.keys)) as gql:
        body = await gql.execute("{ features(first: 5) { nodes { id } } me { role } }")
    error = only_error(body)
    assert error["message"] == "Unexpected error."
    assert error["path"] == ["features"]
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    text = str(body)
    for leak in ("MATCH", "Traceback", "no_such_database", "neo4j", "Neo."):
        assert leak not in text
    assert body["data"] is None  # features is non-null, so the error nulls the whole data


async def test_client_errors_are_not_masked(gql: GraphQLClient) -> None:
    body = await gql.execute("{ features(first: 500) { totalCount } }")
    assert only_error(body)["message"] == "`first` must be between 0 and 100"
    body = await gql.execute("{ nosuchfield }")
    assert "Cannot query field 'nosuchfield'" in str(only_error(body)["message"])


async def test_requests_time_out(api_graph: ApiGraph) -> None:
    services = make_services(api_graph, ApiSettings(mode=ApiMode.DEVELOPMENT, request_timeout_s=0.001))
    # The deadline covers the key's check too: with the key already verified, the operation runs out.
    await services.authenticator.authenticate(api_graph.keys[Role.VIEWER])
    async with in_process_client(services, dict(api_graph.keys)) as gql:
        response = await gql.post(
            {
                "query": "{ features(first: 100) { nodes { owner { name } dependencies { id } "
                "demand { requestCount } } } }"
            }
        )
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    body = response.json()
    error = only_error(body)
    assert error["extensions"] == {"code": "TIMEOUT"}
    assert body["data"] is None


@pytest.mark.parametrize(
    ("mode", "introspection_allowed", "graphiql_status"),
    [(ApiMode.DEVELOPMENT, True, 200), (ApiMode.PRODUCTION, False, 404)],
)
async def test_introspection_and_graphiql_follow_the_mode(
    api_graph: ApiGraph, mode: ApiMode, introspection_allowed: bool, graphiql_status: int
) -> None:
    services = make_services(api_graph, ApiSettings(mode=mode))
    async with in_process_client(services, dict(api_graph.keys)) as gql:
        body = await gql.execute("{ __schema { queryType { name } } }")
        if introspection_allowed:
            assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}
        else:
            assert body["data"] is None
            assert "introspection has been disabled" in body["errors"][0]["message"]
        page = await gql.http.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == graphiql_status
        if graphiql_status == 200:
            assert "graphiql" in page.text.lower()
        health = await gql.http.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"


@pytest.mark.parametrize(
    "header",
    [
        lambda key: {"Authorization": "Bearer lsk_0123456789abcdef_" + "x" * 43},
        lambda key: {"Authorization": "Bearer not-a-key"},
        lambda key: {"X-API-Key": key[:-1] + ("A" if key[-1] != "A" else "B")},
    ],
)
async def test_bad_keys_are_refused_with_401(
    api_graph: ApiGraph, header: Callable[[str], dict[str, str]]
) -> None:
    async with in_process_client(make_services(api_graph)) as gql:
        response = await gql.http.post(
            "/graphql", json={"query": "{ me { role } }"}, headers=header(api_graph.keys[Role.ADMIN])
        )
    assert response.status_code == 401
    assert "API key" in response.text


async def test_a_revoked_key_stops_working(api_graph: ApiGraph) -> None:
    issued = await create_api_key(api_graph.queries, "short-lived", Role.PLANNER)
    services = make_services(api_graph)
    async with in_process_client(services) as gql:
        headers = {"X-API-Key": issued.secret_key}
        ok = await gql.http.post("/graphql", json={"query": "{ me { role name } }"}, headers=headers)
        assert ok.json() == {"data": {"me": {"role": "PLANNER", "name": "short-lived"}}}
        assert await api_graph.queries.revoke_api_key(issued.key_id, "2026-01-01T00:00:00+00:00")
        services.authenticator.forget()
        refused = await gql.http.post("/graphql", json={"query": "{ me { role } }"}, headers=headers)
        assert refused.status_code == 401


async def test_keys_are_stored_hashed(api_graph: ApiGraph) -> None:
    issued = await create_api_key(api_graph.queries, "hashed", Role.VIEWER)
    stored = await api_graph.queries.api_key(issued.key_id)
    assert stored is not None
    secret = issued.secret_key.split("_", 2)[2]
    assert secret not in stored.model_dump_json()
    assert issued.secret_key not in stored.model_dump_json()
    assert len(stored.digest) == 64 and len(stored.salt) == 32
    other = await create_api_key(api_graph.queries, "hashed", Role.VIEWER)
    other_stored = await api_graph.queries.api_key(other.key_id)
    assert other_stored is not None and other_stored.salt != stored.salt


async def test_run_fields_without_temporal_say_so(gql: GraphQLClient) -> None:
    """The `gql` app has no Temporal client: run fields answer SERVICE_UNAVAILABLE, reads still work."""
    body = await gql.execute('{ run(id: "risk-1") { id } feature(id: "f-1") { name } }')
    assert body["data"] == {"run": None, "feature": {"name": "Login"}}
    error = only_error(body)
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE"} and error["path"] == ["run"]
    denied = await gql.execute('mutation { cancelRun(id: "risk-1") { __typename } }', role=Role.PLANNER)
    assert only_error(denied)["extensions"] == {"code": "SERVICE_UNAVAILABLE"}


async def test_oversized_bodies_are_refused_before_anything_runs(api_graph: ApiGraph) -> None:
    # The limit is max_import_bytes plus 1,000,000 bytes for the rest of the request: 1,000,010 here.
    services = make_services(api_graph, ApiSettings(mode=ApiMode.DEVELOPMENT, max_import_bytes=10))
    async with in_process_client(services, dict(api_graph.keys)) as gql:
        headers = {
            "Authorization": f"Bearer {api_graph.keys[Role.ADMIN]}",
            "Content-Type": "application/json",
        }
        big = b'{"query": "{ me { role } }", "variables": {"pad": "' + b"x" * 1_000_100 + b'"}}'
        declared = await gql.http.post("/graphql", content=big, headers=headers)
        assert declared.status_code == 413

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the body streams
            for start in range(0, len(big), 65_536):
                yield big[start : start + 65_536]

        streamed = await gql.http.post("/graphql", content=chunks(), headers=headers)
        assert streamed.status_code == 413
        small = await gql.http.post("/graphql", json={"query": "{ me { role } }"}, headers=headers)
        assert small.json() == {"data": {"me": {"role": "ADMIN"}}}
