"""`Authenticator`: who a request acts for, from its API key.

The seam is one method. `HashedKeys` checks the SHA-256 digests a config file lists;
`StoredKeys` checks the keys `keel keys create` made (`keel.security.keys.ApiKeyStore` in
SQLite, `keel.storage.postgres_keys.PostgresApiKeyStore` for a PostgreSQL app; scoped,
expiring, revocable at once). `default_authenticator` is what `keel serve` uses:
both when configured, anonymous only while no key exists anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from keel.principal import ANONYMOUS, Principal
from keel.security.keys import InvalidApiKey, KeyVerifier
from keel.server.config import ApiKey
from keel.server.scopes import KeyScope, current_scope

__all__ = [
    "AllowAnonymous",
    "AnyOf",
    "Authenticator",
    "HashedKeys",
    "StoredKeys",
    "default_authenticator",
    "hash_key",
]


@runtime_checkable
class Authenticator(Protocol):
    async def authenticate(self, key: str | None) -> Principal | None:
        """The principal for `key` (None when no key was sent); None refuses the request."""
        ...


class AllowAnonymous:
    """No authentication: every request acts as the anonymous principal."""

    async def authenticate(self, key: str | None) -> Principal | None:
        return ANONYMOUS


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class HashedKeys:
    """Accepts keys whose SHA-256 digest is configured; each maps to a principal."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._keys = [
            (
                k.sha256,
                Principal(user_id=k.user_id, tenant_id=k.tenant_id, roles=frozenset(k.roles)),
            )
            for k in keys
        ]

    async def authenticate(self, key: str | None) -> Principal | None:
        if not key:
            return None
        digest = hash_key(key)
        found: Principal | None = None
        for stored, principal in self._keys:  # every entry compared: no timing by position
            if hmac.compare_digest(stored, digest):
                found = principal
        return found


class StoredKeys:
    """Keys from `keel keys create`: every request reads the key's row, so a revocation or
    an expiry takes effect on the next request, in every process. With no key sent, the
    request is anonymous only if `anonymous_when_empty` and the store holds no key."""

    def __init__(self, store: KeyVerifier, *, anonymous_when_empty: bool = True) -> None:
        self._store = store
        self._anonymous_when_empty = anonymous_when_empty

    async def authenticate(self, key: str | None) -> Principal | None:
        if not key:
            if self._anonymous_when_empty and not await self._store.has_keys():
                return ANONYMOUS
            return None
        try:
            verified = await self._store.verify_key(key)
        except InvalidApiKey:
            return None
        k = verified.key
        current_scope.set(KeyScope(k.id, k.agents, k.tools))  # for the rest of the request
        return verified.principal


class AnyOf:
    """The first authenticator that accepts the key decides."""

    def __init__(self, *authenticators: Authenticator) -> None:
        self._authenticators = authenticators

    async def authenticate(self, key: str | None) -> Principal | None:
        for authenticator in self._authenticators:
            principal = await authenticator.authenticate(key)
            if principal is not None:
                return principal
        return None


def default_authenticator(configured: Iterable[ApiKey], store: KeyVerifier | None) -> Authenticator:
    """Configured digests and the app's key store; anonymous only while neither has a key."""
    keys = list(configured)
    if store is None:
        return HashedKeys(keys) if keys else AllowAnonymous()
    stored = StoredKeys(store, anonymous_when_empty=not keys)
    return AnyOf(HashedKeys(keys), stored) if keys else stored
