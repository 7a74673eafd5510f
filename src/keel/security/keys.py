"""API keys: only a hash is stored; each key is scoped to a tenant (and optionally a
user, roles, agents and tools), may expire, and is revoked at once.

A key reads `keel_<id>_<secret>`. The id finds the row; the secret's SHA-256 is compared
in constant time. SHA-256 rather than a slow password hash because the secret is 32
random bytes: nothing to guess, and `verify` runs on every request. Every `verify` reads
the row, so a revocation or an expiry takes effect on the next request, in every process
sharing the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Required, TypedDict, Unpack

from keel.exceptions import KeelError
from keel.principal import Principal

if TYPE_CHECKING:
    from keel.app import App
    from keel.storage.postgres_keys import PostgresApiKeyStore

__all__ = [
    "ApiKey",
    "ApiKeyStore",
    "InvalidApiKey",
    "KeySpec",
    "KeyVerifier",
    "NewKey",
    "VerifiedKey",
    "app_key_store",
    "checked",
    "parse_key",
    "record_from_row",
]

_FORMAT = re.compile(r"^keel_([0-9a-f]{12})_([A-Za-z0-9_\-]{43})$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    user_id TEXT,
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    roles TEXT NOT NULL,
    agents TEXT,
    tools TEXT,
    created_at REAL NOT NULL,
    expires_at REAL,
    revoked_at REAL
)
"""


class InvalidApiKey(KeelError):
    """The key is malformed, unknown, expired or revoked (the message says which)."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    tenant_id: str
    user_id: str | None
    name: str
    roles: tuple[str, ...]
    agents: tuple[str, ...] | None
    tools: tuple[str, ...] | None
    created_at: float
    expires_at: float | None
    revoked_at: float | None

    def status(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class VerifiedKey:
    key: ApiKey
    principal: Principal

    def may_use_agent(self, agent: str) -> bool:
        return self.key.agents is None or agent in self.key.agents

    def may_use_tool(self, tool: str) -> bool:
        return self.key.tools is None or tool in self.key.tools


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeySpec(TypedDict, total=False):
    """What `create` takes: a tenant and a name; optionally the user the key acts as,
    its roles, the agents and tools it may use (absent: all), when it expires."""

    tenant_id: Required[str]
    name: Required[str]
    user_id: str | None
    roles: Iterable[str]
    agents: Iterable[str] | None
    tools: Iterable[str] | None
    expires_in_s: float | None


class KeyVerifier(Protocol):
    """What `keel serve` asks of a key store, in SQLite or PostgreSQL."""

    async def verify_key(self, plain: str) -> VerifiedKey: ...

    async def has_keys(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: the plain key (shown once), its record, its secret's hash."""

    plain: str
    record: ApiKey
    secret_sha256: str

    @classmethod
    def make(cls, now: float, **spec: Unpack[KeySpec]) -> NewKey:
        tenant_id, name, user_id = spec["tenant_id"], spec["name"], spec.get("user_id")
        roles, expires_in_s = tuple(spec.get("roles", ())), spec.get("expires_in_s")
        Principal(user_id=user_id, tenant_id=tenant_id, roles=frozenset(roles))  # validates
        if not name.strip():
            raise ValueError("name is empty: say what the key is for")
        if expires_in_s is not None and expires_in_s <= 0:
            raise ValueError(f"expires_in_s must be > 0, got {expires_in_s}")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        agents, tools = spec.get("agents"), spec.get("tools")
        record = ApiKey(
            key_id,
            tenant_id,
            user_id,
            name,
            tuple(sorted(roles)),
            None if agents is None else tuple(agents),
            None if tools is None else tuple(tools),
            now,
            None if expires_in_s is None else now + expires_in_s,
            None,
        )
        return cls(f"keel_{key_id}_{secret}", record, _secret_hash(secret))

    def row(self) -> tuple[object, ...]:
        """The `api_keys` row, columns in table order."""
        r = self.record
        roles, agents, tools = json.dumps(r.roles), _json_or_none(r.agents), _json_or_none(r.tools)
        return (r.id, r.tenant_id, r.user_id, r.name, self.secret_sha256, roles, agents, tools,
                r.created_at, r.expires_at, None)  # fmt: skip


def parse_key(plain: str) -> tuple[str, str]:
    """(key id, secret) of `keel_<id>_<secret>`; `InvalidApiKey` if it is not one."""
    match = _FORMAT.match(plain.strip())
    if match is None:
        raise InvalidApiKey("malformed API key: expected keel_<id>_<secret>")
    key_id, secret = match.groups()
    return key_id, secret


def checked(row: Sequence[object] | None, secret: str, now: float) -> VerifiedKey:
    """The key of `row` (its columns, then the secret's stored hash) if `secret` is its
    secret and it is active at `now`; else `InvalidApiKey` saying why."""
    if row is None or not hmac.compare_digest(str(row[-1]), _secret_hash(secret)):
        raise InvalidApiKey("unknown API key")
    key = record_from_row(row[:-1])
    status = key.status(now)
    if status != "active":
        raise InvalidApiKey(f"API key {key.id} is {status}")
    principal = Principal(user_id=key.user_id, tenant_id=key.tenant_id, roles=frozenset(key.roles))
    return VerifiedKey(key, principal)


class ApiKeyStore:
    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path, self._clock = Path(path), clock
        with self._db() as db:
            db.execute(_SCHEMA)

    @contextmanager
    def _db(self) -> Generator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        try:
            yield db
        finally:
            db.close()

    def create(self, **spec: Unpack[KeySpec]) -> tuple[str, ApiKey]:
        """A new key: the plain key (shown once, never stored) and its record."""
        new = NewKey.make(self._clock(), **spec)
        with self._db() as db:
            db.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", new.row())
        return new.plain, new.record

    def verify(self, plain: str) -> VerifiedKey:
        """The key's principal and scopes; `InvalidApiKey` if it may not be used now."""
        key_id, secret = parse_key(plain)
        with self._db() as db:
            row = db.execute(
                "SELECT *, secret_sha256 FROM api_keys WHERE id=?", (key_id,)
            ).fetchone()
        return checked(row, secret, self._clock())

    async def verify_key(self, plain: str) -> VerifiedKey:
        return self.verify(plain)  # one indexed read of a local file: not worth a thread

    async def has_keys(self) -> bool:
        with self._db() as db:
            return db.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None

    def list(self, *, tenant_id: str | None = None) -> list[ApiKey]:
        query, args = "SELECT * FROM api_keys", ()
        if tenant_id is not None:
            query, args = query + " WHERE tenant_id=?", (tenant_id,)
        with self._db() as db:
            rows = db.execute(query + " ORDER BY created_at", args).fetchall()
        return [record_from_row(r) for r in rows]

    def revoke(self, key_id: str, *, tenant_id: str) -> ApiKey:
        """Revoke a key of `tenant_id` (another tenant's key is not found)."""
        with self._db() as db:
            db.execute(  # revoking twice is not an error: the first time stands
                "UPDATE api_keys SET revoked_at=? "
                "WHERE id=? AND tenant_id=? AND revoked_at IS NULL",
                (self._clock(), key_id, tenant_id),
            )
            row = db.execute(
                "SELECT * FROM api_keys WHERE id=? AND tenant_id=?", (key_id, tenant_id)
            ).fetchone()
        if row is None:
            raise InvalidApiKey(f"no API key {key_id!r} in tenant {tenant_id!r}")
        return record_from_row(row)


def app_key_store(app: App) -> ApiKeyStore | PostgresApiKeyStore | None:
    """Where `app`'s keys live: its PostgreSQL database, or its SQLite file; None for an
    in-memory app (no other process could ever see its keys)."""
    if app.database_url is not None:
        from keel.storage.postgres_keys import PostgresApiKeyStore
        from keel.storage.postgres_sessions import PostgresSessionStore

        sessions = app.session_store  # share its connection pool
        db = sessions.db if isinstance(sessions, PostgresSessionStore) else app.database_url
        return PostgresApiKeyStore(db)
    if str(app.database) == ":memory:":
        return None
    app.database_path.parent.mkdir(parents=True, exist_ok=True)
    return ApiKeyStore(app.database_path)


def _json_or_none(values: tuple[str, ...] | None) -> str | None:
    return None if values is None else json.dumps(values)


def record_from_row(row: Sequence[object]) -> ApiKey:
    """An `api_keys` row (its columns in table order) as a record."""
    (key_id, tenant, user, name, _hash, roles, agents, tools, created, expires, revoked) = row
    return ApiKey(
        str(key_id),
        str(tenant),
        None if user is None else str(user),
        str(name),
        tuple(json.loads(str(roles))),
        None if agents is None else tuple(json.loads(str(agents))),
        None if tools is None else tuple(json.loads(str(tools))),
        float(str(created)),
        None if expires is None else float(str(expires)),
        None if revoked is None else float(str(revoked)),
    )
