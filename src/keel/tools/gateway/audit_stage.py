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
from keel.tools.gateway.audit import (
    ARGUMENTS_AT,
    COLUMNS,
    RESULT_AT,
    ROLES_AT,
    AuditEntry,
    Row,
)
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
        """The entry as written, redaction included."""
        row = self.finish_row(self.row(g, result, now))
        return AuditEntry(**dict(zip(COLUMNS, row, strict=True)))

    def row(self, g: GatewayCall, result: ToolResultPart | None, now: float) -> Row:
        """The entry's fields in `COLUMNS` order, raw: what the gateway queues on each
        call's path (a tuple, not an `AuditEntry` — building that dataclass costs ~5 µs;
        roles and arguments are formatted by `finish_row`, which must run before it is
        written). The arguments are the model's, which nothing changes afterwards."""
        ctx = g.context
        who = ctx.principal
        by, decided = ctx.approved_by, g.call.approved or g.decision == "rejected"
        approver = by.label if by is not None and decided else None
        return (
            time.time(),
            who.tenant_id,
            who.user_id,
            who.roles,  # as text, and the arguments as JSON, in `finish_row`
            ctx.agent_name,
            ctx.run_id,
            g.call.call.call_id,
            g.name,
            g.call.arguments,
            _cut(result.content, self.summary_chars) if result is not None else "",
            result.is_error if result is not None else False,
            round((now - g.started) * 1000, 3),
            g.decision,
            g.reason,
            approver,
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

    def finish_row(self, row: Row) -> Row:
        """A `row` made ready to write, where it is written (the writer thread, off the
        call's path): roles as text, the arguments as bounded JSON with named fields
        replaced, then `redact` over arguments and result."""
        arguments = _cut(to_json(self._fields(row[ARGUMENTS_AT])).decode(), self.arguments_chars)
        arguments, summary = self._clean(arguments, row[RESULT_AT])
        done = list(row)
        done[ROLES_AT] = ",".join(sorted(row[ROLES_AT]))
        done[ARGUMENTS_AT], done[RESULT_AT] = arguments, summary
        return tuple(done)

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
