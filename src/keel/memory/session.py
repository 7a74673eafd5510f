"""Sessions: the conversation history a run continues from.

`SessionStore` is the small protocol every backend implements (SQLite in core, Redis and
Postgres later). A run appends its whole turn in one call, so a failed run writes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from keel.exceptions import InvalidSessionIdError, SessionNotFoundError
from keel.messages import Message

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

    async def exists(self, session_id: str) -> bool: ...

    async def load(self, session_id: str) -> list[Message]:
        """All messages of the session, oldest first; SessionNotFoundError if unknown."""
        ...

    async def append(self, session_id: str, messages: Sequence[Message]) -> None:
        """Add messages atomically, creating the session if it is new."""
        ...

    async def clear(self, session_id: str) -> None:
        """Delete the session and its messages; SessionNotFoundError if unknown."""
        ...

    async def list_ids(self, *, limit: int = 100) -> list[str]:
        """Session ids, most recently updated first."""
        ...


class InMemorySessionStore:
    """A `SessionStore` in a dict: for tests and throwaway scripts, lost at exit."""

    def __init__(self) -> None:
        self._sessions: dict[str, list[Message]] = {}

    async def exists(self, session_id: str) -> bool:
        return check_session_id(session_id) in self._sessions

    async def load(self, session_id: str) -> list[Message]:
        try:
            return list(self._sessions[check_session_id(session_id)])
        except KeyError:
            raise SessionNotFoundError(session_id) from None

    async def append(self, session_id: str, messages: Sequence[Message]) -> None:
        stored = self._sessions.setdefault(check_session_id(session_id), [])
        stored.extend(messages)
        # Re-insert so iteration order is "most recently updated last".
        self._sessions[session_id] = self._sessions.pop(session_id)

    async def clear(self, session_id: str) -> None:
        if self._sessions.pop(check_session_id(session_id), None) is None:
            raise SessionNotFoundError(session_id)

    async def list_ids(self, *, limit: int = 100) -> list[str]:
        return list(reversed(self._sessions))[:limit]
