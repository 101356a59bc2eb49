"""Schema-driven fuzzing over HTTP with hypothesis-graphql: valid and invalid operations from the SDL.

Properties: no 5xx; every error is either about the document (no path), a client error with a code,
or masked; nothing internal (stack traces, Cypher, driver names) reaches the client; and no resolver
crashes at all (no masked error appears for these inputs).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import graphql
import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, queries
from temporalio.client import Client

from api.auth import Role
from api.extensions import MASKED_MESSAGE
from api.schema import schema_sdl
from tests.api.conftest import ApiGraph, GraphQLClient, in_process_client, make_services

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SDL = schema_sdl()
LEAKS = re.compile(r"Traceback|MATCH \(|UNWIND|neo4j|Neo\.|File \"|temporalio|RPCError", re.IGNORECASE)

SCALARS = {
    "Date": st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)).map(
        lambda d: graphql.StringValueNode(value=d.isoformat())
    ),
    "DateTime": st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda d: graphql.StringValueNode(value=d.replace(tzinfo=UTC).isoformat())
    ),
}
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fuzz_client(api_graph: ApiGraph, temporal_client: Client) -> AsyncIterator[GraphQLClient]:
    # Runs started here wait on a queue no worker polls: they cost one RPC and change nothing else.
    services = make_services(api_graph, temporal=temporal_client, task_queue="fuzz-no-worker")
    async with in_process_client(services, api_graph.keys) as client:
        yield client


def check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert response.status_code in (400, 413), response.text
        assert not LEAKS.search(response.text), response.text
        return
    body: dict[str, Any] = response.json()
    assert not LEAKS.search(json.dumps(body)), body
    for error in body.get("errors", []):
        code = (error.get("extensions") or {}).get("code")
        assert error["message"] != MASKED_MESSAGE, f"a resolver crashed: {error}"
        if "path" in error:
            assert code is not None, f"an execution error without a client code: {error}"


@given(
    st.one_of(queries(SDL, custom_scalars=SCALARS), queries(SDL, custom_scalars=SCALARS, mode=Mode.NEGATIVE))
)
@FUZZ
async def test_fuzzed_queries(fuzz_client: GraphQLClient, query: str) -> None:
    check(await fuzz_client.post({"query": query}, role=Role.VIEWER))


@given(
    st.one_of(
        mutations(SDL, custom_scalars=SCALARS), mutations(SDL, custom_scalars=SCALARS, mode=Mode.NEGATIVE)
    ),
    st.sampled_from([None, Role.VIEWER, Role.ADMIN]),
)
@FUZZ
async def test_fuzzed_mutations(
    fuzz_client: GraphQLClient, api_graph: ApiGraph, mutation: str, role: Role | None
) -> None:
    check(await fuzz_client.post({"query": mutation}, role=role))


@given(st.binary(max_size=200) | st.text(max_size=200))
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
async def test_garbage_bodies(fuzz_client: GraphQLClient, body: bytes | str) -> None:
    response = await fuzz_client.http.post(
        "/graphql",
        content=body,
        headers={
            "Content-Type": "application/json",
            "Authorization": f"Bearer {fuzz_client.keys[Role.VIEWER]}",
        },
    )
    check(response)
