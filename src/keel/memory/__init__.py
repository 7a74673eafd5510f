"""Memory: what an agent remembers. Sessions (conversation history) for now."""

from keel.memory.session import InMemorySessionStore, SessionStore, check_session_id

__all__ = ["InMemorySessionStore", "SessionStore", "check_session_id"]
