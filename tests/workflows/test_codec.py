"""Payload encryption (workflows.codec): the codec itself, a workflow on the real dev server whose history
holds ciphertext only, a wrong key that fails clearly, and the codec server the Temporal UI calls."""

from __future__ import annotations

import base64
import os

import httpx
import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from api.codec_server import codec_app
from graph.store import GraphStore
from tests.temporal_fixtures import running_worker
from workflows import client as lodestar
from workflows.codec import (
    ENCRYPTED_ENCODING,
    KEY_ID_METADATA,
    AesGcmPayloadCodec,
    PayloadKeyError,
    codec_from_env,
    key_id_of,
    new_key,
)
from workflows.local_temporal import LocalTemporalServer

from .support import risk_request

KEY = os.urandom(32)
OTHER_KEY = os.urandom(32)


def _payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_payloads_round_trip_and_are_ciphertext_in_between() -> None:
    codec = AesGcmPayloadCodec(KEY)
    plain = [_payload('{"customer_id": "cust-0001"}'), _payload("[]")]
    encoded = await codec.encode(plain)
    assert all(p.metadata["encoding"] == ENCRYPTED_ENCODING for p in encoded)
    assert all(p.metadata[KEY_ID_METADATA] == key_id_of(KEY).encode() for p in encoded)
    assert b"cust-0001" not in encoded[0].SerializeToString()
    assert encoded[0].data != (await codec.encode(plain[:1]))[0].data, "a fresh nonce each time"
    assert await codec.decode(encoded) == plain
    assert await codec.decode(plain) == plain, "payloads written before encryption pass through"


async def test_rotation_decodes_old_payloads_and_a_wrong_key_fails_clearly() -> None:
    old = AesGcmPayloadCodec(OTHER_KEY)
    written_before = await old.encode([_payload("1")])
    rotated = AesGcmPayloadCodec(KEY, [OTHER_KEY])
    assert await rotated.decode(written_before) == [_payload("1")]
    assert (await rotated.encode([_payload("2")]))[0].metadata[KEY_ID_METADATA] == key_id_of(KEY).encode()
    with pytest.raises(PayloadKeyError, match=key_id_of(OTHER_KEY)):
        await AesGcmPayloadCodec(KEY).decode(written_before)
    forged = Payload()
    forged.CopyFrom(written_before[0])
    forged.data = forged.data[:-1] + bytes([forged.data[-1] ^ 1])
    with pytest.raises(PayloadKeyError, match="wrong key or tampered"):
        await old.decode([forged])


def test_keys_come_from_the_environment_and_bad_ones_are_named() -> None:
    assert codec_from_env({}) is None
    key = new_key()
    codec = codec_from_env({"LODESTAR_PAYLOAD_KEY": key})
    assert codec is not None and codec.key_id == key_id_of(base64.b64decode(key))
    with pytest.raises(PayloadKeyError, match="LODESTAR_PAYLOAD_KEY is not valid base64"):
        codec_from_env({"LODESTAR_PAYLOAD_KEY": "not base64!"})
    with pytest.raises(PayloadKeyError, match="must decode to 32 bytes"):
        codec_from_env({"LODESTAR_PAYLOAD_KEY": base64.b64encode(b"short").decode()})
    with pytest.raises(PayloadKeyError, match="LODESTAR_PAYLOAD_OLD_KEYS"):
        codec_from_env({"LODESTAR_PAYLOAD_KEY": key, "LODESTAR_PAYLOAD_OLD_KEYS": "x"})


@pytest.mark.integration
async def test_an_encrypted_workflow_completes_and_its_history_is_ciphertext(
    temporal_server: LocalTemporalServer,
    temporal_client: Client,
    demo_store: GraphStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LODESTAR_PAYLOAD_KEY", base64.b64encode(KEY).decode())
    encrypted = await lodestar.connect(temporal_server.endpoint())
    async with running_worker(encrypted, demo_store) as queue:
        workflow_id = await lodestar.start_risk_assessment(encrypted, risk_request(), task_queue=queue)
        outcome = await lodestar.get_result(encrypted, workflow_id)
    assert outcome.snapshot_id.startswith("snap-")

    # The plain client (no key) reads the raw history: every payload is ciphertext under the key.
    history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
    payloads = [
        payload
        for event in history.events
        for field in (
            event.workflow_execution_started_event_attributes.input,
            event.activity_task_scheduled_event_attributes.input,
            event.activity_task_completed_event_attributes.result,
            event.workflow_execution_completed_event_attributes.result,
        )
        for payload in field.payloads
    ]
    assert len(payloads) > 5
    assert all(p.metadata["encoding"] == ENCRYPTED_ENCODING for p in payloads)
    # Search attributes (LodestarSnapshotId, ...) are indexed by the server, so they stay readable.
    raw = b"".join(event.SerializeToString() for event in history.events)
    assert b"cust-" not in raw and b"arr_at_risk" not in raw and b"headline" not in raw

    monkeypatch.setenv("LODESTAR_PAYLOAD_KEY", base64.b64encode(OTHER_KEY).decode())
    wrong = await lodestar.connect(temporal_server.endpoint())
    with pytest.raises(PayloadKeyError, match=key_id_of(KEY)):
        await wrong.get_workflow_handle(workflow_id).result()


async def test_the_codec_server_decodes_for_the_ui_origin_only_with_the_token() -> None:
    codec = AesGcmPayloadCodec(KEY)
    app = codec_app(codec, ui_origins=["http://localhost:8233"], token="t0ken")
    (sealed,) = await codec.encode([_payload('"hello"')])
    body = {
        "payloads": [
            {
                "metadata": {k: base64.b64encode(v).decode() for k, v in sealed.metadata.items()},
                "data": base64.b64encode(sealed.data).decode(),
            }
        ]
    }
    auth = {"Authorization": "Bearer t0ken", "X-Namespace": "default"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://codec.test"
    ) as http:
        decoded = await http.post("/codec/decode", json=body, headers=auth)
        assert decoded.status_code == 200, decoded.text
        (item,) = decoded.json()["payloads"]
        assert base64.b64decode(item["data"]) == b'"hello"'
        assert base64.b64decode(item["metadata"]["encoding"]) == b"json/plain"
        encoded = await http.post("/codec/encode", json=decoded.json(), headers=auth)
        assert base64.b64decode(encoded.json()["payloads"][0]["metadata"]["encoding"]) == ENCRYPTED_ENCODING
        assert (await http.post("/codec/decode", json=body)).status_code == 401
        assert (await http.post("/codec/decode", content=b"{nope", headers=auth)).status_code == 400
        other = AesGcmPayloadCodec(OTHER_KEY)
        refused = await httpx.AsyncClient(
            transport=httpx.ASGITransport(app=codec_app(other, ui_origins=[])), base_url="http://codec.test"
        ).post("/codec/decode", json=body)
        assert refused.status_code == 422 and key_id_of(KEY) in refused.json()["message"]
        preflight = await http.options(
            "/codec/decode",
            headers={
                "Origin": "http://localhost:8233",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:8233"
        elsewhere = await http.options(
            "/codec/decode",
            headers={"Origin": "http://evil.test", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in elsewhere.headers
