"""`PostgresApiKeyStore`: `keel keys` for a PostgreSQL app, shared by every process.

The same keys as `keel.security.keys.ApiKeyStore` (format, hashing, scopes, expiry,
the record) in the app's PostgreSQL database, so every API process behind a load
balancer checks one table. Every `verify_key` reads the key's row: a revocation or an
expiry takes effect on the next request, in every process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Unpack

from keel.security.keys import (
    ApiKey,
    InvalidApiKey,
    KeySpec,
    NewKey,
    VerifiedKey,
    checked,
    parse_key,
    record_from_row,
)
from keel.storage.postgres import PostgresDatabase

__all__ = ["PostgresApiKeyStore"]

_COLUMNS = (
    "id, tenant_id, user_id, name, secret_sha256, roles, agents, tools, created_at, "
    "expires_at, revoked_at"
)


class PostgresApiKeyStore:
    """Pass a URL or the app's `PostgresDatabase` (its session store's)."""

    def __init__(
        self, database: str | PostgresDatabase, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = database if isinstance(database, PostgresDatabase) else PostgresDatabase(database)
        self._clock = clock

    async def create(self, **spec: Unpack[KeySpec]) -> tuple[str, ApiKey]:
        """A new key: the plain key (shown once, never stored) and its record."""
        new = NewKey.make(self._clock(), **spec)
        async with self.db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO api_keys ({_COLUMNS}) VALUES "  # pyright: ignore[reportArgumentType]
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                new.row(),
            )
        return new.plain, new.record

    async def verify_key(self, plain: str) -> VerifiedKey:
        """The key's principal and scopes; `InvalidApiKey` if it may not be used now."""
        key_id, secret = parse_key(plain)
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                f"SELECT {_COLUMNS}, secret_sha256 FROM api_keys WHERE id = %s",  # pyright: ignore[reportArgumentType]
                (key_id,),
            )
            row = await cursor.fetchone()
        return checked(row, secret, self._clock())

    async def has_keys(self) -> bool:
        async with self.db.transaction() as conn:
            cursor = await conn.execute("SELECT 1 FROM api_keys LIMIT 1")
            return await cursor.fetchone() is not None

    async def list(self, *, tenant_id: str | None = None) -> list[ApiKey]:
        query = f"SELECT {_COLUMNS} FROM api_keys"
        if tenant_id is not None:
            query += " WHERE tenant_id = %s"
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                query + " ORDER BY created_at",  # pyright: ignore[reportArgumentType]
                () if tenant_id is None else (tenant_id,),
            )
            rows = await cursor.fetchall()
        return [record_from_row(r) for r in rows]

    async def revoke(self, key_id: str, *, tenant_id: str) -> ApiKey:
        """Revoke a key of `tenant_id` (another tenant's key is not found)."""
        async with self.db.transaction() as conn:
            await conn.execute(  # revoking twice is not an error: the first time stands
                "UPDATE api_keys SET revoked_at = %s "
                "WHERE id = %s AND tenant_id = %s AND revoked_at IS NULL",
                (self._clock(), key_id, tenant_id),
            )
            cursor = await conn.execute(
                f"SELECT {_COLUMNS} FROM api_keys WHERE id = %s AND tenant_id = %s",  # pyright: ignore[reportArgumentType]
                (key_id, tenant_id),
            )
            row = await cursor.fetchone()
        if row is None:
            raise InvalidApiKey(f"no API key {key_id!r} in tenant {tenant_id!r}")
        return record_from_row(row)
