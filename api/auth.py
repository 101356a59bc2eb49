"""API keys and roles.

A key reads `lsk_<key id>_<secret>`. The graph keeps the key id, its role, a random per-key salt and
HMAC-SHA256(salt, secret), never the secret: a stolen graph does not yield working keys. Clients send
the key as `Authorization: Bearer <key>` or `X-API-Key: <key>` (or, over a WebSocket, as `apiKey` in
the `connection_init` payload).

Roles are ordered, each including the ones below it:
viewer (read) < planner (start and cancel runs) < approver (approve or reject roadmaps)
< admin (import portfolios, manage schedules).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from cachetools import TTLCache
from neo4j.exceptions import ConnectionPoolError, ServiceUnavailable, SessionExpired, TransientError

from graph.entity_reads import EntityReads, StoredApiKey

KEY_PREFIX = "lsk"
_KEY_PATTERN = re.compile(r"^lsk_([0-9a-f]{16})_([A-Za-z0-9_-]{20,100})$")


class Role(StrEnum):
    VIEWER = "viewer"
    PLANNER = "planner"
    APPROVER = "approver"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def includes(self, other: Role) -> bool:
        """Whether this role may do what `other` may."""
        return self.rank >= other.rank


_RANKS: dict[Role, int] = {role: rank for rank, role in enumerate(Role)}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, its name and its role."""

    key_id: str
    name: str
    role: Role


@dataclass(frozen=True)
class IssuedApiKey:
    """A newly made key. `secret_key` is shown once and stored nowhere."""

    key_id: str
    name: str
    role: Role
    secret_key: str


def _digest(salt: str, secret: str) -> str:
    return hmac.new(bytes.fromhex(salt), secret.encode(), hashlib.sha256).hexdigest()


def new_api_key(name: str, role: Role) -> tuple[IssuedApiKey, StoredApiKey]:
    """A fresh key: what to hand to its holder, and what to store."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    issued = IssuedApiKey(key_id=key_id, name=name, role=role, secret_key=f"{KEY_PREFIX}_{key_id}_{secret}")
    stored = StoredApiKey(
        id=key_id,
        name=name,
        role=role.value,
        salt=salt,
        digest=_digest(salt, secret),
        created_at=datetime.now(UTC).isoformat(),
    )
    return issued, stored


async def create_api_key(queries: EntityReads, name: str, role: Role) -> IssuedApiKey:
    issued, stored = new_api_key(name, role)
    await queries.create_api_key(stored)
    return issued


def parse_presented_key(header_value: str | None) -> str | None:
    """The key in an `Authorization: Bearer ...` value or a bare key; None if there is none."""
    if header_value is None:
        return None
    value = header_value.strip()
    scheme, _, rest = value.partition(" ")
    if rest and scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


def verify(stored: StoredApiKey, secret: str) -> bool:
    return hmac.compare_digest(stored.digest, _digest(stored.salt, secret))


class InvalidApiKeyError(Exception):
    """A key was presented, but it is malformed, unknown, revoked or wrong."""


class AuthenticationUnavailableError(Exception):
    """A key was presented, but the graph did not answer in time to check it."""


GRAPH_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    TimeoutError,
    ServiceUnavailable,
    SessionExpired,
    ConnectionPoolError,
    TransientError,
    OSError,
)
"""What a statement raises when the graph is down, stalled or overloaded (rather than wrong)."""

STALE_LOOKUP_TIMEOUT_S = 1.0
"""How long a key in its outage grace waits for the graph before its earlier verification is used."""


@dataclass(frozen=True)
class _VerifiedKey:
    principal: Principal
    verified_at: float
    """`time.monotonic()` of the last successful check against the graph."""


GraphObserver = Callable[[bool, str | None], None]
"""Told after each key lookup whether the graph answered (and, if not, why)."""


class ApiKeyAuthenticator:
    """Checks presented keys against the graph, remembering good ones in a bounded cache.

    A key checked within `cache_seconds` is trusted without asking the graph again, so a revoked key
    keeps working for at most `cache_seconds`. When the graph cannot be asked (down or stalled), a key
    checked within `outage_grace_seconds` is still accepted on that earlier check, so a brief outage
    does not lock out every client; a key revoked just before the outage then works until the grace
    runs out. A key never checked successfully is refused (`AuthenticationUnavailableError`).

    At most `max_entries` keys are remembered (least recently used go first). The cache is keyed by
    a SHA-256 of the presented key, so the process never holds the key itself beyond the request.
    """

    def __init__(
        self,
        queries: EntityReads,
        *,
        cache_seconds: float = 30.0,
        outage_grace_seconds: float = 300.0,
        max_entries: int = 10_000,
    ) -> None:
        self._queries = queries
        self._cache_seconds = cache_seconds
        self._outage_grace_seconds = max(outage_grace_seconds, cache_seconds)
        self._cache: TTLCache[str, _VerifiedKey] | None = (
            TTLCache(maxsize=max_entries, ttl=self._outage_grace_seconds, timer=time.monotonic)
            if self._outage_grace_seconds > 0 and max_entries > 0
            else None
        )

    async def authenticate(
        self,
        presented: str | None,
        *,
        timeout_s: float | None = None,
        observe_graph: GraphObserver | None = None,
    ) -> Principal | None:
        """The caller for a presented key; None when no key was presented.

        The graph lookup, if one is needed, waits at most `timeout_s`. Raises `InvalidApiKeyError` for
        a key that does not check out, `AuthenticationUnavailableError` when it cannot be checked.
        """
        if presented is None:
            return None
        fingerprint = hashlib.sha256(presented.encode()).hexdigest()
        remembered = self._cache.get(fingerprint) if self._cache is not None else None
        now = time.monotonic()
        if remembered is not None and now - remembered.verified_at < self._cache_seconds:
            return remembered.principal
        match = _KEY_PATTERN.match(presented)
        if match is None:
            raise InvalidApiKeyError("malformed API key")
        key_id, secret = match.groups()
        if remembered is not None and timeout_s is not None:
            timeout_s = min(timeout_s, STALE_LOOKUP_TIMEOUT_S)
        try:
            async with asyncio.timeout(timeout_s):
                stored = await self._queries.api_key(key_id)
        except GRAPH_UNAVAILABLE_ERRORS as error:
            if observe_graph is not None:
                observe_graph(False, f"API key lookup failed ({type(error).__name__})")
            if remembered is not None:
                return remembered.principal
            raise AuthenticationUnavailableError(
                "the API key could not be checked: the graph database is unavailable"
            ) from error
        if observe_graph is not None:
            observe_graph(True, None)
        if stored is None or stored.revoked_at is not None or not verify(stored, secret):
            if self._cache is not None:
                self._cache.pop(fingerprint, None)
            raise InvalidApiKeyError("unknown or revoked API key")
        principal = Principal(key_id=stored.id, name=stored.name, role=Role(stored.role))
        if self._cache is not None:
            self._cache[fingerprint] = _VerifiedKey(principal, now)
        return principal

    def forget(self) -> None:
        """Drop every remembered key (e.g. after revoking one)."""
        if self._cache is not None:
            self._cache.clear()
