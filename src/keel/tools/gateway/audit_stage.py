"""The audit stage: turns a finished `GatewayCall` into an `AuditEntry`.

Arguments and the result summary are cut to a bound and redacted before they are
written: named fields are replaced whole (`redact_fields`) when the entry is made, and
the text passes `redact` — by default `keel.guardrails.pii.scrub`, which replaces e-mail
addresses, card numbers, phone numbers and secrets with typed placeholders — where it is
written (on the writer thread, by default), so raw values never reach the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic_core import to_json

from keel.messages import ToolResultPart
from keel.tools.gateway.audit import AuditEntry
from keel.tools.gateway.call import GatewayCall

__all__ = ["Audit"]

REDACTED = "[REDACTED]"
_SEP = "\x00"


def _scrub(text: str) -> str:
    from keel.guardrails.pii import scrub

    return scrub(text)


@dataclass(frozen=True, slots=True)
class Audit:
    redact_fields: frozenset[str] = field(default_factory=frozenset[str])
    redact: Callable[[str], str] | None = _scrub
    summary_chars: int = 200
    arguments_chars: int = 4000
    """Arguments longer than this are cut in the audit (a 10 MB payload is not copied)."""

    def __post_init__(self) -> None:
        if self.redact is _scrub:  # load the detectors now, not on the writer's first batch
            import importlib

            importlib.import_module("keel.guardrails.pii")

    @classmethod
    def redacting(cls, fields: Iterable[str], **kw: Any) -> Audit:
        return cls(frozenset(fields), **kw)

    def entry(self, g: GatewayCall, result: ToolResultPart | None, now: float) -> AuditEntry:
        ctx = g.context
        who = ctx.principal
        arguments = _cut(to_json(self._fields(g.call.arguments)).decode(), self.arguments_chars)
        approver = ctx.approved_by.label if ctx.approved_by is not None else None
        return AuditEntry(
            at=time.time(),
            tenant_id=who.tenant_id,
            user_id=who.user_id,
            roles=",".join(sorted(who.roles)),
            agent=ctx.agent_name,
            run_id=ctx.run_id,
            call_id=g.call.call.call_id,
            tool=g.name,
            arguments=arguments,
            result=_cut(result.content, self.summary_chars) if result is not None else "",
            is_error=result.is_error if result is not None else False,
            latency_ms=round((now - g.started) * 1000, 3),
            decision=g.decision,
            reason=g.reason,
            approver=approver if g.call.approved else None,
        )

    def _fields(self, arguments: Mapping[str, Any]) -> Mapping[str, Any]:
        if not self.redact_fields or self.redact_fields.isdisjoint(arguments):
            return arguments
        return {k: REDACTED if k in self.redact_fields else v for k, v in arguments.items()}

    def redacted(self, entry: AuditEntry) -> AuditEntry:
        """`entry` with `redact` applied to its arguments and result: called where the
        entry is written (by default on the writer thread, off the request path)."""
        if self.redact is None:
            return entry
        arguments, summary = self._clean(entry.arguments, entry.result)
        return replace(entry, arguments=arguments, result=summary)

    def _clean(self, arguments: str, summary: str) -> tuple[str, str]:
        """Both texts redacted, in one pass where the separator survives (it is not
        whitespace, so no detector spans it); else one pass each."""
        if self.redact is None:
            return arguments, summary
        if _SEP not in arguments and _SEP not in summary:
            parts = self.redact(f"{arguments}{_SEP}{summary}").split(_SEP)
            if len(parts) == 2:
                return parts[0], parts[1]
        return self.redact(arguments), self.redact(summary)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
