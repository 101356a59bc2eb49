"""Where the graph lives: a configured Neo4j 5 server, or a local ArcadeDB server started on demand."""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import neo4j
from pydantic import BaseModel, ConfigDict, SecretStr

from graph.local_db import DEFAULT_DATABASE, DEFAULT_USER, LocalGraphDatabase
from graph.store import GraphStore


class GraphSettings(BaseModel):
    """Connection settings; `uri=None` means "start a local database for the duration"."""

    model_config = ConfigDict(frozen=True)

    uri: str | None = None
    user: str = DEFAULT_USER
    password: SecretStr | None = None
    database: str = DEFAULT_DATABASE

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GraphSettings:
        """From NEO4J_URI, NEO4J_USER (default neo4j), NEO4J_PASSWORD and NEO4J_DATABASE (default neo4j)."""
        env = os.environ if environ is None else environ
        password = env.get("NEO4J_PASSWORD")
        return cls(
            uri=env.get("NEO4J_URI") or None,
            user=env.get("NEO4J_USER") or DEFAULT_USER,
            password=SecretStr(password) if password else None,
            database=env.get("NEO4J_DATABASE") or DEFAULT_DATABASE,
        )


CONNECTION_TIMEOUT_S = 5.0
"""Longest wait to open a connection, Bolt handshake included (the driver's default: 30 s)."""
CONNECTION_ACQUISITION_TIMEOUT_S = 15.0
"""Longest wait for a connection from the pool, opening one included (the driver's default: 60 s)."""


def open_driver(uri: str, auth: tuple[str, str]) -> neo4j.AsyncDriver:
    """An async driver whose waits for a server that does not answer are bounded.

    With the driver's defaults a stalled server held a statement for about a minute (two 30 s
    handshakes in the managed transaction's 30 s of retries). A statement already sent waits for
    its answer without a limit of the driver's, so callers with a deadline bound it themselves.
    """
    return neo4j.AsyncGraphDatabase.driver(  # pyright: ignore[reportUnknownMemberType] - **config is untyped
        uri,
        auth=auth,
        connection_timeout=CONNECTION_TIMEOUT_S,
        connection_acquisition_timeout=CONNECTION_ACQUISITION_TIMEOUT_S,
    )


@asynccontextmanager
async def open_graph(
    settings: GraphSettings | None = None, *, data_dir: Path | None = None
) -> AsyncGenerator[GraphStore]:
    """Yield a `GraphStore` with the schema in place; close the driver (and stop a local server) on exit.

    With `settings.uri` set (default: from the environment) it connects there, e.g. a production
    Neo4j 5. Otherwise it starts a `LocalGraphDatabase` on `data_dir` (default `.lodestar/graph`,
    or `$LODESTAR_DATA_DIR/graph`) for the duration of the block.
    """
    settings = settings or GraphSettings.from_env()
    async with AsyncExitStack() as stack:
        if settings.uri is not None:
            uri = settings.uri
            password = settings.password.get_secret_value() if settings.password is not None else ""
            auth = (settings.user, password)
            database = settings.database
        else:
            local = await stack.enter_async_context(LocalGraphDatabase(data_dir))
            uri, auth, database = local.uri, local.auth, local.database
        driver = open_driver(uri, auth)
        stack.push_async_callback(driver.close)
        await driver.verify_connectivity()  # pyright: ignore[reportUnknownMemberType] - **config is untyped
        store = GraphStore(driver, database)
        await store.ensure_schema()
        yield store
