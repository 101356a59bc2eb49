"""Connecting to Temporal Cloud or a TLS cluster: `TemporalEndpoint.connect` honours Temporal's standard
variables (`TEMPORAL_API_KEY`, `TEMPORAL_TLS_*`), which the Helm chart sets from its values."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from workflows.local_temporal import LocalTemporalServer

pytestmark = pytest.mark.integration


async def test_tls_variables_reach_the_connection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with LocalTemporalServer(tmp_path / "temporal") as server:
        client = await server.endpoint().connect()
        assert client.namespace == "default"

        # An API key turns TLS on, so the plaintext dev server cannot be reached with it.
        monkeypatch.setenv("TEMPORAL_API_KEY", "not-a-real-key")
        started = time.monotonic()
        with pytest.raises(RuntimeError):
            await server.endpoint().connect()
        assert time.monotonic() - started < 30
        monkeypatch.delenv("TEMPORAL_API_KEY")

        missing = tmp_path / "absent" / "tls.crt"
        monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(missing))
        monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(missing.with_name("tls.key")))
        with pytest.raises(FileNotFoundError, match=r"tls\.crt"):
            await server.endpoint().connect()
