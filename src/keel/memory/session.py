"""Sessions: the conversation history a run continues from.

`SessionStore` is the small protocol every backend implements (SQLite in core, Redis and
Postgres later). A run appends its whole turn in one call, so a failed run writes nothing;
the call names the run, so a turn retried after a crash is stored once. Every method is
scoped by tenant: the same session id in two tenants is two conversations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from keel.exceptions import InvalidSessionIdError, SessionNotFoundError
from keel.messages import Message
from keel.principal import DEFAULT_TENANT

__all__ = ["InMemorySessionStore", "SessionStore", "check_session_id"]

_SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


def check_session_id(session_id: object) -> str:
    """Return `session_id` if it can be stored, else raise InvalidSessionIdError."""
    if not isinstance(session_id, str):
        raise InvalidSessionIdError(
            f"a session id must be a string, got {type(session_id).__name__}"
        )
    if not _SESSION_ID.match(session_id):
        raise InvalidSessionIdError(
            f"invalid session id {session_id!r}: use 1-128 characters from letters, digits "
            "and . _ : @ -, starting with a letter or digit"
        )
    return session_id


@runtime_checkable
class SessionStore(Protocol):
    """Where conversations live between runs and across process restarts."""

    async def exists(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> bool: ...

    async def load(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> list[Message]:
        """All messages of the session, oldest first; SessionNotFoundError if unknown."""
        ...

    async def append(
        self,
        session_id: str,
        messages: Sequence[Message],
        *,
        tenant_id: str = DEFAULT_TENANT,
        user_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        """Add messages atomically, creating the session if it is new.

        With `run_id`, a second append for the same run is ignored: a turn is stored once.
        """
        ...

    async def clear(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> None:
        """Delete the session and its messages; SessionNotFoundError if unknown."""
        ...

    async def list_ids(self, *, tenant_id: str = DEFAULT_TENANT, limit: int = 100) -> list[str]:
        """Session ids, most recently updated first."""
        ...


class InMemorySessionStore:
    """A `SessionStore` in a dict: for tests and throwaway scripts, lost at exit."""

    def __init__(self) -> None:
        self._sessions: dict[tuple[str, str], list[Message]] = {}
        self._runs: set[str] = set()

    async def exists(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> bool:
        return (tenant_id, check_session_id(session_id)) in self._sessions

    async def load(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> list[Message]:
        try:
            return list(self._sessions[(tenant_id, check_session_id(session_id))])
        except KeyError:
            raise SessionNotFoundError(session_id) from None

    async def append(
        self,
        session_id: str,
        messages: Sequence[Message],
        *,
        tenant_id: str = DEFAULT_TENANT,
        user_id: str | None = None,
        run_id: str | None = None,
    ) -> None:
        key = (tenant_id, check_session_id(session_id))
        if run_id is not None:
            if run_id in self._runs:
                return
            self._runs.add(run_id)
        stored = self._sessions.pop(key, [])
        stored.extend(messages)
        self._sessions[key] = stored  # re-inserted: iteration order is "least recent first"

    async def clear(self, session_id: str, *, tenant_id: str = DEFAULT_TENANT) -> None:
        if self._sessions.pop((tenant_id, check_session_id(session_id)), None) is None:
            raise SessionNotFoundError(session_id)

    async def list_ids(self, *, tenant_id: str = DEFAULT_TENANT, limit: int = 100) -> list[str]:
        ids = [sid for tenant, sid in reversed(self._sessions) if tenant == tenant_id]
        return ids[:limit]
