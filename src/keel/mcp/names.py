"""Tool names every provider accepts, mapped reversibly from names they reject.

MCP servers and OpenAPI-derived tools use dots, spaces, slashes and names past 64
characters; OpenAI and others accept only `[A-Za-z0-9_-]{1,64}`. A valid name is kept as
it is. Any other becomes its characters with each run of rejected ones turned into `_`,
cut to fit, and — when it had to be changed — suffixed with 8 hex digits of the original
name's SHA-256, so two originals never map to one name (`orders.get` and `orders get`
differ) and the mapping is stable across processes. The map remembers both directions.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["ToolNameMap", "provider_safe"]

_VALID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_REJECTED = re.compile(r"[^A-Za-z0-9_-]+")
MAX = 64


def provider_safe(name: str, prefix: str = "") -> str:
    """The provider-safe form of `prefix + name` (stable, collision-resistant)."""
    full = f"{prefix}{name}"
    if _VALID.match(full):
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    cleaned = _REJECTED.sub("_", full).strip("_") or "tool"
    return f"{cleaned[: MAX - 9]}_{digest}"


class ToolNameMap:
    """Both directions of the mapping for one toolset; `prefix` namespaces its tools."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._to_original: dict[str, str] = {}
        self._to_safe: dict[str, str] = {}

    def safe(self, original: str) -> str:
        known = self._to_safe.get(original)
        if known is not None:
            return known
        name = provider_safe(original, self.prefix)
        if name in self._to_original:  # a valid name equal to another's mapped form
            name = provider_safe(f"\0{original}", self.prefix)
        self._to_safe[original], self._to_original[name] = name, original
        return name

    def original(self, safe: str) -> str:
        """The server's own name for `safe`; KeyError if this map never made it."""
        return self._to_original[safe]
