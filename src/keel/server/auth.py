"""`Authenticator`: who a request acts for, from its API key.

The seam is one method. `HashedKeys` is the minimal verifier `keel serve` uses: it holds
SHA-256 digests only and compares them in constant time. Key storage, rotation and
revocation (`keel keys`) belong to the security layer, which plugs in its own
authenticator here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from keel.principal import ANONYMOUS, Principal
from keel.server.config import ApiKey

__all__ = ["AllowAnonymous", "Authenticator", "HashedKeys", "hash_key"]


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
