"""`Principal`: who a run acts for — a user, in a tenant, with roles.

Every run carries one (anonymous by default); sessions and runs record it, and every
store query is scoped by its tenant, so one tenant can never read another's data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from keel.exceptions import ConfigurationError

__all__ = ["ANONYMOUS", "DEFAULT_TENANT", "Principal"]

DEFAULT_TENANT = "default"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """The identity a run acts for. `roles` decide what it may do (approve, administer…)."""

    user_id: str | None = None
    tenant_id: str = DEFAULT_TENANT
    roles: frozenset[str] = field(default_factory=frozenset[str])

    def __post_init__(self) -> None:
        _check_id("tenant_id", self.tenant_id)
        if self.user_id is not None:
            _check_id("user_id", self.user_id)
        roles: Iterable[str] = self.roles
        if isinstance(roles, str):
            raise ConfigurationError("roles must be a collection of names, not one string")
        object.__setattr__(self, "roles", frozenset(roles))

    def has_role(self, role: str) -> bool:
        return role in self.roles

    @property
    def label(self) -> str:
        """`user@tenant`, as shown in listings and audit lines."""
        return f"{self.user_id or 'anonymous'}@{self.tenant_id}"


def _check_id(name: str, value: object) -> None:
    if not isinstance(value, str) or not _ID.match(value):
        raise ConfigurationError(
            f"Principal.{name} {value!r} is invalid: use 1-128 characters from letters, "
            "digits and . _ : @ -, starting with a letter or digit"
        )


ANONYMOUS = Principal()
"""The principal of a run given none: no user, the default tenant, no roles."""
