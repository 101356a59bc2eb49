"""Optional encryption of Temporal payloads at rest: an AES-256-GCM payload codec, keyed from the environment.

With `LODESTAR_PAYLOAD_KEY` set (32 random bytes, base64), every payload a Lodestar client or worker sends
to Temporal (workflow inputs and results, activity arguments and results, queries, updates, search
attributes aside) is encrypted before it leaves the process and decrypted when it comes back; the Temporal
server, its database and anyone reading a history without the key see ciphertext only. Unset, payloads
go as plain JSON, as before.

- **Format:** an encrypted payload has metadata `encoding: binary/encrypted` and `encryption-key-id: <id>`,
  and data `nonce (12 bytes) || AES-GCM(serialized original payload)`, with the key id as associated
  data. The key id is `k` + the first 12 hex digits of SHA-256 of the key, so it needs no configuring.
- **Rotation:** put the new key in `LODESTAR_PAYLOAD_KEY` and the old ones, comma-separated, in
  `LODESTAR_PAYLOAD_OLD_KEYS`: new payloads use the new key; histories written under an old key still
  decode. Payloads without the encrypted encoding (written before encryption was turned on) pass as they are.
- **Wrong key:** decoding a payload whose key id is not configured, or whose ciphertext does not
  authenticate, raises `PayloadKeyError` naming the key id; Temporal reports it as a failed task.
- **Temporal UI:** the codec server (`lodestar codec-server`, `workflows.codec_server`) decodes for the UI.

Every process of a deployment (API, workers, CLI) must share the key; see deploy/README.md.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec
from temporalio.plugin import SimplePlugin

KEY_VARIABLE = "LODESTAR_PAYLOAD_KEY"
OLD_KEYS_VARIABLE = "LODESTAR_PAYLOAD_OLD_KEYS"
ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_BYTES = 32
NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """A payload key is malformed, missing, or not the one a payload was encrypted with."""


def key_id_of(key: bytes) -> str:
    return "k" + hashlib.sha256(key).hexdigest()[:12]


def parse_key(text: str, *, variable: str = KEY_VARIABLE) -> bytes:
    """A base64 key of exactly 32 bytes; `PayloadKeyError` names the variable otherwise."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise PayloadKeyError(f"{variable} is not valid base64") from error
    if len(key) != KEY_BYTES:
        raise PayloadKeyError(f"{variable} must decode to {KEY_BYTES} bytes (AES-256), not {len(key)}")
    return key


def new_key() -> str:
    """A fresh random key, base64, for `LODESTAR_PAYLOAD_KEY`."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


class AesGcmPayloadCodec(PayloadCodec):
    """Encrypts payloads with the current key; decrypts with any configured key, found by its id."""

    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        self.key_id = key_id_of(key)
        self._current = AESGCM(key)
        self._keys = {key_id_of(old): AESGCM(old) for old in old_keys} | {self.key_id: self._current}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._current.encrypt(nonce, payload.SerializeToString(), self.key_id.encode())
        return Payload(
            metadata={"encoding": ENCRYPTED_ENCODING, KEY_ID_METADATA: self.key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCRYPTED_ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._keys.get(key_id)
        if cipher is None:
            raise PayloadKeyError(
                f"payload encrypted with key {key_id!r}, which is neither {KEY_VARIABLE} ({self.key_id}) "
                f"nor in {OLD_KEYS_VARIABLE}"
            )
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        try:
            plain = cipher.decrypt(nonce, sealed, key_id.encode())
        except InvalidTag as error:
            raise PayloadKeyError(
                f"payload under key {key_id!r} does not decrypt: wrong key or tampered"
            ) from error
        return Payload.FromString(plain)


def codec_from_env(environ: Mapping[str, str] | None = None) -> AesGcmPayloadCodec | None:
    """The codec of `LODESTAR_PAYLOAD_KEY` (and `LODESTAR_PAYLOAD_OLD_KEYS`); None when no key is set."""
    env = os.environ if environ is None else environ
    text = env.get(KEY_VARIABLE, "").strip()
    if not text:
        return None
    old = [part for part in env.get(OLD_KEYS_VARIABLE, "").split(",") if part.strip()]
    return AesGcmPayloadCodec(parse_key(text), [parse_key(part, variable=OLD_KEYS_VARIABLE) for part in old])


class PayloadEncryptionPlugin(SimplePlugin):
    """Adds the codec to a client's data converter (workers built on the client inherit it)."""

    def __init__(self, codec: PayloadCodec) -> None:
        def with_codec(converter: DataConverter | None) -> DataConverter:
            return dataclasses.replace(converter or DataConverter.default, payload_codec=codec)

        super().__init__("lodestar.PayloadEncryption", data_converter=with_codec)
        self.codec = codec


def encryption_plugins(environ: Mapping[str, str] | None = None) -> list[PayloadEncryptionPlugin]:
    """The encryption plugin when a key is configured, else none."""
    codec = codec_from_env(environ)
    return [] if codec is None else [PayloadEncryptionPlugin(codec)]
