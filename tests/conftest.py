"""Shared fixtures: ONE real local graph database (ArcadeDB over Bolt) for the whole test session.

The server starts the first time a test asks for it, in a pytest temporary directory, and is
stopped at the end of the session whatever happened (a failed start stops what it started).
`graph_store` gives each test a GraphStore on an empty graph with the schema in place.
`build_tiny_portfolio()` is a hand-built portfolio whose graph numbers are checked by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import httpx2
import neo4j
import pytest
import pytest_asyncio
from pydantic_ai import models

from graph.local_db import LocalGraphDatabase
from graph.portfolio import (
    Customer,
    Feature,
    FeatureStatus,
    Feedback,
    Objective,
    Portfolio,
    Product,
    Release,
    Request,
    Segment,
    Team,
)
from graph.processes import freeze_startup_objects
from graph.store import GraphStore
from tests.agents.scripted_openai import ScriptedOpenAIServer


def pytest_collection_finish(session: pytest.Session) -> None:
    """Freeze what every test module imported, as `lodestar serve` and `lodestar worker` do: a full
    collection of the test process's heap otherwise runs inside workflow tasks of the in-process workers
    for long enough (0.8 s measured) to approach Temporal's 2 s deadlock detection on a loaded runner."""
    freeze_startup_objects()


@pytest.fixture(autouse=True)
def _no_real_models(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test may reach a real model provider: requests are refused and the offline model is selected."""
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", False)
    for name in (*MODEL_ENV, *PROVIDER_KEY_ENV):
        monkeypatch.delenv(name, raising=False)
    yield


MODEL_ENV = ("LODESTAR_MODEL", "LODESTAR_MODEL_NAME", "LODESTAR_API_KEY", "LODESTAR_MAX_TOKENS_PER_RUN")
PROVIDER_KEY_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_VERTEX_BASE_URL",
)
SCRIPTED_API_KEY = "sk-scripted-test-key-0123456789abcdef"
"""The key the scripted server's clients send: a test can scan histories and logs for it."""


def allow_loopback_model_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lift the guard above for model requests to 127.0.0.1 only: any other host is refused before a
    connection is made (the OpenAI and Anthropic SDKs send through `httpx2.AsyncClient.send`, and so does
    google-genai under pydantic-ai: its provider hands the SDK an `httpx2.AsyncClient`, whose `request`
    calls `send`; the SDK's aiohttp path is used only without such a client, and aiohttp is not installed)."""
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    original_send = httpx2.AsyncClient.send

    async def send_to_loopback_only(self: httpx2.AsyncClient, request: httpx2.Request, **kwargs: Any) -> Any:
        if request.url.host not in ("127.0.0.1", "localhost", "::1"):
            raise RuntimeError(f"tests may only reach a model on loopback, not {request.url.host}")
        return await original_send(self, request, **kwargs)

    monkeypatch.setattr(httpx2.AsyncClient, "send", send_to_loopback_only)


@pytest.fixture
def scripted_openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedOpenAIServer]:
    """A scripted OpenAI-compatible server on loopback (tests/agents/scripted_openai.py), well-behaved until
    the test calls `play(...)`, configured as `LODESTAR_MODEL` (base URL, model name and a test key) for
    this process, so in-process workers build their models against it; model requests to it are allowed."""
    with ScriptedOpenAIServer() as server:
        allow_loopback_model_requests(monkeypatch)
        monkeypatch.setenv("LODESTAR_MODEL", server.base_url)
        monkeypatch.setenv("LODESTAR_MODEL_NAME", server.model_name)
        monkeypatch.setenv("LODESTAR_API_KEY", SCRIPTED_API_KEY)
        yield server


@pytest.fixture
def scripted_anthropic(
    scripted_openai: ScriptedOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> ScriptedOpenAIServer:
    """The scripted server as the Anthropic provider: `LODESTAR_MODEL=anthropic:<its model name>`, with
    `ANTHROPIC_BASE_URL` (its root: the SDK posts to `/v1/messages`) and the test key in `ANTHROPIC_API_KEY`
    for this process; the OpenAI-compatible settings of `scripted_openai` are removed."""
    monkeypatch.setenv("LODESTAR_MODEL", f"anthropic:{scripted_openai.model_name}")
    monkeypatch.delenv("LODESTAR_MODEL_NAME")
    monkeypatch.delenv("LODESTAR_API_KEY")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", scripted_openai.anthropic_base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SCRIPTED_API_KEY)
    return scripted_openai


@pytest.fixture
def scripted_google(
    scripted_openai: ScriptedOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> ScriptedOpenAIServer:
    """The scripted server as the Gemini API (pydantic-ai's `google` provider): `LODESTAR_MODEL=google:<its
    model name>`, with `GOOGLE_GEMINI_BASE_URL` (its root: google-genai posts to
    `/v1beta/models/<model>:generateContent`) and the test key in `GOOGLE_API_KEY` for this process; the
    OpenAI-compatible settings of `scripted_openai` are removed."""
    monkeypatch.setenv("LODESTAR_MODEL", f"google:{scripted_openai.model_name}")
    monkeypatch.delenv("LODESTAR_MODEL_NAME")
    monkeypatch.delenv("LODESTAR_API_KEY")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", scripted_openai.gemini_base_url)
    monkeypatch.setenv("GOOGLE_API_KEY", SCRIPTED_API_KEY)
    return scripted_openai


@pytest.fixture(scope="session")
def local_graph_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalGraphDatabase]:
    database = LocalGraphDatabase(tmp_path_factory.mktemp("graph-db") / "graph")
    try:
        database.start()
        yield database
    finally:
        database.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def graph_driver(local_graph_database: LocalGraphDatabase) -> AsyncIterator[neo4j.AsyncDriver]:
    async with neo4j.AsyncGraphDatabase.driver(
        local_graph_database.uri, auth=local_graph_database.auth
    ) as driver:
        await GraphStore(driver, local_graph_database.database).ensure_schema()
        yield driver


@pytest_asyncio.fixture(loop_scope="session")
async def graph_store(
    graph_driver: neo4j.AsyncDriver, local_graph_database: LocalGraphDatabase
) -> GraphStore:
    store = GraphStore(graph_driver, local_graph_database.database)
    await store.clear()
    return store


@pytest.fixture
def tiny_portfolio() -> Portfolio:
    return build_tiny_portfolio()


def build_tiny_portfolio() -> Portfolio:
    """2 products, 2 teams, 4 features, 3 customers, 2 objectives, 2 releases, 5 requests, 2 feedback.

    Nodes: 2 + 2 + 4 + 3 + 2 + 2 + 2 = 17.
    Relationships: PART_OF 4, OWNS 3 (f-4 is unowned), DEPENDS_ON 3 (f-2->f-1, f-3->f-1, f-3->f-2),
    SUPPORTS 3 (f-1->o-1, f-2->o-1, f-2->o-2), PLANNED_FOR 2 (f-1, f-2 -> r-1), USES 4
    (c-1: p-1, p-2; c-2: p-1; c-3: p-2), REQUESTS 5, FROM 2, ABOUT 1 (fb-2 is about no feature),
    OF 1 (r-2 has no product) = 28.
    """
    return Portfolio(
        products=[
            Product(id="p-2", name="Beacon", description="Alerts"),
            Product(id="p-1", name="Atlas"),
        ],
        teams=[
            Team(id="t-1", name="Core", headcount=4, capacity=3.0, throughput_history=[2.0, 3.0, 4.0]),
            Team(id="t-2", name="Edge", headcount=1, capacity=0.0),
        ],
        features=[
            Feature(
                id="f-1",
                name="Login",
                product_id="p-1",
                team_id="t-1",
                status=FeatureStatus.DONE,
                effort_low=1.0,
                effort_likely=2.0,
                effort_high=3.0,
                progress=1.0,
                objective_ids=["o-1"],
                release_id="r-1",
            ),
            Feature(
                id="f-2",
                name="SSO",
                product_id="p-1",
                team_id="t-1",
                status=FeatureStatus.IN_PROGRESS,
                effort_low=2.0,
                effort_likely=4.0,
                effort_high=8.0,
                progress=0.25,
                target_date=date(2026, 9, 30),
                priority=1,
                reach=500.0,
                impact=2.0,
                confidence=0.8,
                depends_on=["f-1"],
                objective_ids=["o-2", "o-1"],
                release_id="r-1",
            ),
            Feature(
                id="f-3",
                name="Audit log",
                product_id="p-1",
                team_id="t-1",
                status=FeatureStatus.PLANNED,
                effort_low=3.0,
                effort_likely=5.0,
                effort_high=9.0,
                depends_on=["f-2", "f-1"],
            ),
            Feature(
                id="f-4",
                name="Alert rules",
                product_id="p-2",
                effort_low=1.0,
                effort_likely=1.0,
                effort_high=2.0,
            ),
        ],
        customers=[
            Customer(
                id="c-1",
                name="Acme",
                arr=200_000.0,
                segment=Segment.ENTERPRISE,
                renewal_date=date(2026, 12, 31),
                health=0.4,
                product_ids=["p-2", "p-1"],
            ),
            Customer(id="c-2", name="Bolt", arr=50_000.0, segment=Segment.MID_MARKET, product_ids=["p-1"]),
            Customer(id="c-3", name="Cobalt", arr=10_000.0, segment=Segment.SMB, product_ids=["p-2"]),
        ],
        objectives=[
            Objective(id="o-1", name="Enterprise ready", weight=2.0, due_date=date(2027, 3, 31)),
            Objective(id="o-2", name="Security"),
        ],
        releases=[
            Release(id="r-1", name="Atlas 2026.Q3", product_id="p-1", date=date(2026, 9, 30)),
            Release(id="r-2", name="Company launch", date=date(2026, 12, 1)),
        ],
        requests=[
            Request(customer_id="c-1", feature_id="f-2", weight=2.0, requested_at=date(2026, 1, 15)),
            Request(customer_id="c-1", feature_id="f-3", weight=1.0),
            Request(customer_id="c-2", feature_id="f-2", weight=0.5),
            Request(customer_id="c-2", feature_id="f-4", weight=3.0),
            Request(customer_id="c-3", feature_id="f-4", weight=1.0, requested_at=date(2026, 2, 1)),
        ],
        feedback=[
            Feedback(id="fb-1", customer_id="c-1", feature_id="f-2", text="Need SSO", sentiment=-0.5),
            Feedback(
                id="fb-2", customer_id="c-3", text="Love it", sentiment=0.9, created_at=date(2026, 3, 1)
            ),
        ],
    )


TINY_NODE_COUNTS = {
    "Product": 2,
    "Team": 2,
    "Feature": 4,
    "Customer": 3,
    "Objective": 2,
    "Release": 2,
    "Feedback": 2,
}
TINY_RELATIONSHIP_COUNTS = {
    "PART_OF": 4,
    "OWNS": 3,
    "DEPENDS_ON": 3,
    "SUPPORTS": 3,
    "PLANNED_FOR": 2,
    "USES": 4,
    "REQUESTS": 5,
    "FROM": 2,
    "ABOUT": 1,
    "OF": 1,
}
